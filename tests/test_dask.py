"""grid_search on a Dask cluster (issue 6).

A LocalCluster of 2 worker processes with 1 thread each is started here,
once per module.  Every cluster answer is compared bit for bit with the
local call.  Skipped when the 'dask' extra is not installed.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import nndfast

distributed = pytest.importorskip("distributed")

from nndfast import distributed as nd  # noqa: E402
from _child import popen, python  # noqa: E402
from conftest import data  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True,
        dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture
def many_chunks(monkeypatch):
    """Cut even small grids into many ranges, so combining is exercised."""
    monkeypatch.setattr(nd, "_MIN_CHUNK_EVALS", 1)


def _network(seed, sizes=(2, 3, 1)):
    np.random.seed(seed)
    return nndfast.Neural_Network(*sizes)


def _assert_same(a, b):
    assert a.best_cost == b.best_cost
    assert np.float64(a.best_cost).tobytes() == np.float64(b.best_cost).tobytes()
    assert a.best_index == b.best_index
    assert a.best_weights == b.best_weights
    assert a.evaluations == b.evaluations
    if a.costs is None:
        assert b.costs is None
    else:
        assert b.costs is not None
        assert a.costs.shape == b.costs.shape
        assert a.costs.tobytes() == b.costs.tobytes()


AXES_CASES = [
    {"W1[0,0]": np.linspace(-3, 3, 37)},
    {"W1[0,0]": np.linspace(-3, 3, 41), "W2[1,0]": np.geomspace(0.1, 4, 23)},
    {"W1[1,0]": np.linspace(-2, 2, 17), ("W2", 1, 0): np.linspace(-1, 3, 13),
     "W2[2,0]": np.sort(np.random.default_rng(3).normal(size=11))},
    {"W1[0,0]": np.linspace(-1, 1, 5), "W1[0,1]": np.linspace(-1, 1, 7),
     "W1[1,2]": np.linspace(-2, 0, 6), "W2[0,0]": np.linspace(0, 2, 9)},
]


@pytest.mark.parametrize("full_output", [True, False], ids=["full", "best-only"])
@pytest.mark.parametrize("case", range(len(AXES_CASES)))
def test_bitwise_equal_to_local(client, many_chunks, case, full_output):
    NN = _network(case)
    axes = AXES_CASES[case]
    W1, W2 = NN.W1.copy(), NN.W2.copy()
    local = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=full_output)
    remote = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=full_output,
                                 client=client)
    _assert_same(local, remote)
    assert np.array_equal(NN.W1, W1) and np.array_equal(NN.W2, W2)


def test_bitwise_larger_network_default_chunks(client):
    NN = _network(7, (4, 5, 2))
    X, y = data(7, 50, 4, 2, signed=False)
    axes = {"W1[3,4]": np.linspace(-2, 2, 101), "W2[4,1]": np.linspace(-3, 3, 99),
            "W1[0,2]": np.linspace(-1, 1, 97)}
    for full_output in (True, False):
        local = nndfast.grid_search(NN, X, y, axes, full_output=full_output)
        remote = nndfast.grid_search(NN, X, y, axes, full_output=full_output, client=client)
        _assert_same(local, remote)


def test_ties_go_to_lowest_flat_index(client, many_chunks):
    # The outer axis repeats one value, so every range holds the same minimum.
    NN = _network(2)
    axes = {"W2[0,0]": np.full(24, 0.5), "W1[0,0]": np.linspace(-2, 2, 15)}
    local = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=False)
    remote = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=False,
                                 client=client)
    _assert_same(local, remote)
    assert remote.best_index[0] == 0


def test_progress_callable_and_ctrl_c(client, many_chunks):
    NN = _network(4)
    axes = {"W1[0,0]": np.linspace(-3, 3, 40), "W1[1,1]": np.linspace(-3, 3, 30)}
    seen = []
    nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, client=client,
                        progress=lambda *a: seen.append(a[0]))
    assert seen and seen == sorted(seen) and seen[-1] == 1200

    W1, W2 = NN.W1.copy(), NN.W2.copy()

    def interrupt(*a):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, client=client,
                            progress=interrupt)
    assert np.array_equal(NN.W1, W1) and np.array_equal(NN.W2, W2)
    # Outstanding futures were cancelled: the cluster forgets the search.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        keys = [k for ks in client.has_what().values() for k in ks
                if str(k).startswith("nndfast-grid-")]
        busy = [k for ks in client.processing().values() for k in ks
                if str(k).startswith("nndfast-grid-")]
        if not keys and not busy:
            break
        time.sleep(0.05)
    assert not keys and not busy


def test_worker_killed_mid_search(client, many_chunks):
    """Kill one worker process while it runs a range: the answer must not change."""
    NN = _network(11)
    n = 1000 if os.environ.get("NNDFAST_LONG_DASK_TEST") else 400
    axes = {"W1[0,0]": np.linspace(-3, 3, n), "W1[1,0]": np.linspace(-3, 3, 1000),
            "W2[0,0]": np.linspace(-3, 3, 500)}
    local = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=False)

    pids = client.run(os.getpid)
    killed = {}

    def kill_one(*a):
        if killed:
            return
        busy = [w for w, ks in client.processing().items() if ks]
        assert busy, "no worker was running a range"
        victim = busy[0]
        os.kill(pids[victim], signal.SIGKILL)
        killed[victim] = pids[victim]

    remote = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=False,
                                 client=client, progress=kill_one)
    assert killed, "the search ended before a worker could be killed"
    _assert_same(local, remote)
    # The nanny restarts the killed worker; the cluster is whole again.
    client.wait_for_workers(2, timeout=30)
    new_pids = set(client.run(os.getpid).values())
    assert set(killed.values()).isdisjoint(new_pids)


def test_without_the_extra_raises_naming_it(monkeypatch):
    for name in [m for m in sys.modules if m == "distributed" or m.startswith("distributed.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "distributed", None)
    NN = _network(0)
    with pytest.raises(ImportError, match=r'nndfast\[dask\]'):
        nndfast.grid_search(NN, nndfast.X, nndfast.y, {"W1[0,0]": [0.0, 1.0]},
                            client=object())
    with pytest.raises(ImportError, match=r'nndfast\[dask\]'):
        nd.connect("tcp://127.0.0.1:1")


def test_bad_client_and_threads(client):
    NN = _network(0)
    axes = {"W1[0,0]": [0.0, 1.0]}
    with pytest.raises(TypeError, match="Client"):
        nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, client="tcp://x:1")
    with pytest.raises(ValueError):
        nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, client=client, num_threads=0)
    with pytest.raises(TypeError):
        nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, client=client, num_threads=1.5)


@pytest.mark.parametrize("direct", [False, True])
def test_bad_input_is_refused_before_the_cluster_is_used(client, direct):
    """Issue 20: the same ValueError/TypeError as the local call, through
    grid_search(client=...) and the driver called directly."""
    search = ((lambda NN, X, y, **kw: nd.run_grid_search(client, NN, X, y, axes, **kw))
              if direct else
              (lambda NN, X, y, **kw: nndfast.grid_search(NN, X, y, axes, client=client, **kw)))
    axes = {"W1[0,0]": [0.0, 1.0]}
    X, y = nndfast.X, nndfast.y
    NN = _network(0)
    NN.Lambda = 0.5
    with pytest.raises(ValueError, match="at least one example"):
        search(NN, X[:0], y[:0])
    NN.Lambda = None
    with pytest.raises(ValueError, match="num_threads"):
        search(NN, X, y, num_threads=2**31)
    NN.hiddenLayerSize = 3.0
    with pytest.raises(TypeError, match="hiddenLayerSize"):
        search(NN, X, y)


SIGINT_CHILD = r"""
import sys, time
import numpy as np
import nndfast
from distributed import Client, LocalCluster

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=50) as lc, Client(lc) as client:
        np.random.seed(5)
        NN = nndfast.Neural_Network()
        W1, W2 = NN.W1.copy(), NN.W2.copy()
        axes = {"W1[0,0]": np.linspace(-3, 3, 1000), "W1[0,1]": np.linspace(-3, 3, 1000),
                "W2[0,0]": np.linspace(-3, 3, 1000)}
        def started(done, total):
            if not getattr(started, "said", False):
                started.said = True
                print("started", flush=True)
        try:
            nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=False,
                                client=client, progress=started)
        except KeyboardInterrupt:
            t = time.monotonic()
            unchanged = np.array_equal(NN.W1, W1) and np.array_equal(NN.W2, W2)
            left = [k for ks in client.processing().values() for k in ks]
            deadline = time.monotonic() + 5
            while left and time.monotonic() < deadline:
                time.sleep(0.05)
                left = [k for ks in client.processing().values() for k in ks]
            print(f"interrupted {t:.6f} unchanged={unchanged} left={len(left)}", flush=True)
            sys.exit(0)
        print("finished without interrupt", flush=True)
"""


def test_ctrl_c_cancels_the_cluster_work(tmp_path):
    """A real SIGINT during a cluster search: KeyboardInterrupt promptly, NN
    unchanged, the outstanding futures cancelled."""
    script = tmp_path / "child.py"
    script.write_text(SIGINT_CHILD)
    p = popen([sys.executable, str(script)], stdout=subprocess.PIPE,
              stderr=subprocess.DEVNULL, text=True)
    try:
        assert p.stdout.readline().strip() == "started"
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert out.startswith("interrupted"), out
    t = float(out.split()[1])
    assert t - sent < 1.0, f"KeyboardInterrupt took {t - sent:.3f} s"
    assert "unchanged=True" in out and "left=0" in out, out


def test_cli_grid_on_a_scheduler(client):
    """`nndfast grid --scheduler ADDRESS --json` gives the local answer."""
    address = client.scheduler.address
    args = ["grid", "W1[0,0]=-5:5:40", "W2[1,0]=-5:5:30", "--seed", "3", "--json"]
    out = {}
    for extra in ([], ["--scheduler", address]):
        proc = python("-m", "nndfast", *args, *extra,
                      capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        out[bool(extra)] = json.loads(proc.stdout)
    assert out[True]["best_cost"] == out[False]["best_cost"]
    assert out[True]["best_weights"] == out[False]["best_weights"]


def test_cli_unreachable_scheduler_is_a_usage_error():
    proc = python("-m", "nndfast", "grid", "W1[0,0]=-5:5:10",
                  "--scheduler", "tcp://127.0.0.1:9",
                  capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Dask scheduler" in proc.stderr and "Traceback" not in proc.stderr
