"""Results are bitwise identical whatever the thread count, and the team
policy (nndfast/_openmp_policy.h) keeps one state per process.

The kernels chunk examples in fixed 256-row blocks and add the per-chunk sums
in index order, so 1, 2 or 3 threads must give the same bits.  The public
API takes its thread count from OpenMP (OMP_NUM_THREADS, threadpoolctl), so
the end-to-end check runs a fresh interpreter per setting and compares the
saved outputs; this needs no extra dependency.
"""
import sys
import textwrap

import numpy as np
import pytest

import nndfast
import nndfast.network  # noqa: F401  (the module, for monkeypatch)

from _child import run
from conftest import data

# 20000 x 8 with hidden 16: ~2.9M multiply-adds, far above the parallel threshold.
N, I, H, O = 20000, 8, 16, 1

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import nndfast
    from nndfast import _openmp

    N, I, H, O = {N}, {I}, {H}, {O}
    rng = np.random.default_rng(12345)
    X = rng.uniform(-2, 2, (N, I))
    y = rng.uniform(0, 1, (N, O))
    np.random.seed(3)
    NN = nndfast.Neural_Network(inputLayerSize=I, hiddenLayerSize=H, outputLayerSize=O)
    out = dict(max_threads=np.array(_openmp.max_threads()))
    out["yhat"] = NN.forward(X)
    out["z2"], out["a2"], out["z3"] = NN.z2, NN.a2, NN.z3
    out["J"] = NN.costFunction(X, y)
    out["yHat"] = NN.yHat
    out["g1"], out["g2"] = NN.costFunctionPrime(X, y)
    out["grads"] = NN.computeGradients(X, y)
    np.savez(sys.argv[1], **out)
""").format(N=N, I=I, H=H, O=O)


def _run_with_threads(tmp_path, threads):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    target = tmp_path / f"out_{threads}.npz"
    # the child imports the same nndfast as this process (in-place build or wheel)
    run([sys.executable, str(script), str(target)], env={"OMP_NUM_THREADS": str(threads)},
        check=True, cwd=str(tmp_path), timeout=120)
    with np.load(target) as f:
        return {k: f[k] for k in f.files}


def test_public_api_bitwise_identical_with_1_2_3_threads(tmp_path):
    runs = {t: _run_with_threads(tmp_path, t) for t in (1, 2, 3)}
    if nndfast.openmp_enabled():
        for t, r in runs.items():
            assert int(r["max_threads"]) == t, "OMP_NUM_THREADS was not honoured"
    for t in (2, 3):
        for key in ("yhat", "z2", "a2", "z3", "J", "yHat", "g1", "g2", "grads"):
            assert np.array_equal(runs[1][key], runs[t][key]), (t, key)
    assert np.isfinite(runs[1]["grads"]).all()


@pytest.mark.parametrize("n", [257, 5000, 20000, 60000, 150000])
def test_bitwise_identical_for_any_num_threads_in_process(monkeypatch, n):
    """The same check in one process: network.py asks resolve_num_threads for
    its team size, so pinning that pins the kernels' num_threads (up to the
    work-size rule, _network.team_size: 60000 rows make teams of 4 for every
    operation).  The run-time checks that make busy machines run calls on
    one thread are switched off, so the teams really form.  150000 rows run
    in several segments, each with its own team (_network.segments)."""
    from nndfast import _network, _openmp

    X, y = data(n, n, I, O, scale=2.0)

    def run(threads):
        monkeypatch.setattr(nndfast.network, "resolve_num_threads", lambda _: threads)
        np.random.seed(n)
        NN = nndfast.Neural_Network(inputLayerSize=I, hiddenLayerSize=H, outputLayerSize=O)
        out = [NN.forward(X), NN.z2.copy(), NN.a2.copy(), NN.z3.copy()]
        out += [NN.costFunction(X, y), NN.yHat.copy()]
        out += list(NN.costFunctionPrime(X, y)) + [NN.computeGradients(X, y)]
        return out

    if n >= 60000:
        assert all(_network.team_size(n, I, H, O, op, 4) == 4
                   for op in ("forward", "cost", "gradient"))
    if n == 150000:
        assert all(_network.segments(n, I, H, O, op) >= 2
                   for op in ("forward", "cost", "gradient"))
    else:
        assert _network.segments(n, I, H, O, "forward") == 1
    _openmp.adaptive_teams(False)
    try:
        base = run(1)
        for threads in (2, 3, 4):
            for k, (a, b) in enumerate(zip(base, run(threads))):
                assert np.array_equal(a, b), (threads, k)
    finally:
        _openmp.adaptive_teams(True)


@pytest.mark.skipif(not sys.platform.startswith("linux") or not nndfast.openmp_enabled(),
                    reason="team workers are tracked on Linux with OpenMP only")
def test_team_workers_are_this_process_threads(monkeypatch):
    """A team's workers note their thread ids, so that the idle-core count
    does not take nndfast's own spinning workers for other work: after a
    forced two-thread call each noted id is a thread of this process, and
    not the calling thread."""
    import os
    import threading

    from nndfast import _openmp

    X, y = data(60000, 60000, I, O, scale=2.0)
    monkeypatch.setattr(nndfast.network, "resolve_num_threads", lambda _: 2)
    _openmp.adaptive_teams(False)
    try:
        nndfast.Neural_Network(inputLayerSize=I, hiddenLayerSize=H,
                               outputLayerSize=O).costFunctionPrime(X, y)
    finally:
        _openmp.adaptive_teams(True)
    workers = _openmp.team_workers()
    assert 1 in workers, "a two-thread call noted no worker"
    # threads 2, 3, ... of earlier, larger teams may have exited since
    assert workers[1] in {int(t) for t in os.listdir("/proc/self/task")}
    assert threading.get_native_id() not in workers.values()


def test_one_lost_team_does_not_back_off_two_in_a_row_do():
    """The first team after a quiet spell wakes sleeping workers and can
    lose by that alone: one loss arms the backoff, a second loss in a row
    starts it, and a win in between disarms it."""
    from nndfast import _openmp

    _openmp.adaptive_teams(True)          # forgets past outcomes
    try:
        assert not _openmp.team_outcome()
        assert not _openmp.team_outcome(lost=True)
        assert not _openmp.team_outcome(lost=False)
        assert not _openmp.team_outcome(lost=True)
        assert _openmp.team_outcome(lost=True)
        assert _openmp.team_outcome()
    finally:
        _openmp.adaptive_teams(True)
    assert not _openmp.team_outcome()


def test_network_and_grid_keep_separate_backoff_histories():
    """One policy, two histories (the explicit `history` argument): network
    calls that lost do not send grid searches to one thread, nor the other
    way round; forgetting clears both."""
    from nndfast import _openmp

    _openmp.adaptive_teams(True)
    try:
        _openmp.team_outcome(lost=True, history="network")
        assert _openmp.team_outcome(lost=True, history="network")
        assert not _openmp.team_outcome(history="grid")
        _openmp.forget_team_losses()
        assert not _openmp.team_outcome(history="network")
        _openmp.team_outcome(lost=True, history="grid")
        assert _openmp.team_outcome(lost=True, history="grid")
        assert not _openmp.team_outcome(history="network")
    finally:
        _openmp.adaptive_teams(True)
    assert not _openmp.team_outcome(history="grid")


def test_one_team_state_per_process():
    """The grid and network kernels share the policy's switch (one state in
    _openmp, not a copy per extension module): _grid's name is _openmp's."""
    from nndfast import _grid, _openmp

    assert _grid.adaptive_teams is _openmp.adaptive_teams
    for mod in ("_network", "_grid"):
        assert not hasattr(__import__(f"nndfast.{mod}", fromlist=["x"]), "team_outcome")


GRID_WORKERS = textwrap.dedent("""
    import json, threading
    import numpy as np
    import nndfast
    from nndfast import _openmp

    _openmp.adaptive_teams(False)
    before = _openmp.team_workers()
    np.random.seed(0)
    NN = nndfast.Neural_Network()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2000, 2)), rng.random((2000, 1))
    w = np.linspace(-2, 2, 60)
    nndfast.grid_search(NN, X, y, {"W1[0,0]": w, "W2[1,0]": w}, num_threads=2)
    after = _openmp.team_workers()
    tasks = [int(t) for t in __import__("os").listdir("/proc/self/task")]
    print(json.dumps(dict(before=before, after={str(k): v for k, v in after.items()},
                          tasks=tasks, me=threading.get_native_id())))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux") or not nndfast.openmp_enabled(),
                    reason="team workers are tracked on Linux with OpenMP only")
def test_grid_search_workers_are_the_processs_team_workers():
    """After a two-thread grid search in a fresh process (no network call
    before it), _openmp.team_workers() holds the search's worker: the
    free-core count of later network calls sees the grid's workers too."""
    import json

    proc = run([sys.executable, "-c", GRID_WORKERS], capture_output=True, text=True,
               timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["before"] == {}
    assert "1" in r["after"], "a two-thread search noted no worker"
    assert r["after"]["1"] in r["tasks"] and r["after"]["1"] != r["me"]
