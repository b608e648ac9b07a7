"""Resource limits: oversized requests are refused before anything is
allocated, and an interrupted search or descent gives back its threads and
its memory.

Threads: OpenMP (libgomp, libomp) keeps its worker pool alive between
parallel regions by design; those threads are idle, not running nndfast
work, and are reused by the next call.  "No threads left running" is
therefore measured against a baseline taken after one warm-up call with the
same thread count: afterwards the process has exactly as many OS threads
(/proc/self/task) and Python threads (threading.active_count()) as then.
"""
import os
import sys
import textwrap
import time

import numpy as np
import pytest

import nndfast
from _child import sigint_child

UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")

_plan = pytest.importorskip("nndfast._plan")


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _tutorial():
    np.random.seed(0)
    return nndfast.Neural_Network(), np.array(nndfast.X), np.array(nndfast.y)


def test_available_memory_is_read_from_the_os():
    avail = _plan.available_memory()
    assert avail is not None and avail > 0
    if os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
        # the same number, give or take what other processes did meanwhile
        assert abs(avail - kb * 1024) < 0.25 * kb * 1024 + 2**30


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_surface_larger_than_available_memory_is_refused_before_allocation():
    NN, X, y = _tutorial()
    W1 = NN.W1.copy()
    avail = _plan.available_memory()
    # a surface of about 4x the available memory (and below the int64 limit)
    side = int(round((4 * avail / 8) ** (1 / 3))) + 1
    w = np.linspace(-1, 1, side)
    rss0 = _rss()
    t0 = time.perf_counter()
    with pytest.raises(MemoryError) as err:
        nndfast.grid_search(NN, X, y, {"W1[0,0]": w, "W1[0,1]": w, "W2[0,0]": w})
    elapsed = time.perf_counter() - t0
    msg = str(err.value)
    assert "available" in msg and "full_output=False" in msg
    assert elapsed < 2.0, "refusal should not first try to compute or allocate"
    assert _rss() - rss0 < 8 * 2**20
    np.testing.assert_array_equal(NN.W1, W1)


def test_surface_refusal_follows_what_the_os_reports(monkeypatch):
    """The limit is the OS's available memory, not a constant: shrink what
    the OS reports and a small surface is refused too."""
    NN, X, y = _tutorial()
    # 72 MB: above the size under which _plan.py skips reading the OS
    w = np.linspace(-1, 1, 3000)
    axes = {"W1[0,0]": w, "W2[0,0]": w}
    assert nndfast.grid_search(NN, X, y, axes).costs.shape == (3000, 3000)
    monkeypatch.setattr(_plan, "available_memory", lambda: 32 * 2**20)
    with pytest.raises(MemoryError, match="available"):
        nndfast.grid_search(NN, X, y, axes)
    # streaming the minimum needs no surface, so it still runs
    res = nndfast.grid_search(NN, X, y, axes, full_output=False)
    assert res.costs is None and res.evaluations == 9 * 10**6


# (2, 2**59): two broadcast views claiming 2**59 values each (the most numpy
# allows for float64); the first axis's copy is refused with numpy's
# "Unable to allocate 4.00 EiB ..." MemoryError before the count overflows.
@pytest.mark.parametrize("naxes,side", [(5, 10**4), (9, 200), (2, 2**59)])
def test_point_count_overflow_is_refused(naxes, side):
    NN, X, y = _tutorial()
    names = ["W1[0,0]", "W1[0,1]", "W1[0,2]", "W1[1,0]", "W1[1,1]", "W1[1,2]",
             "W2[0,0]", "W2[1,0]", "W2[2,0]"][:naxes]
    if side > 10**6:
        # such an axis cannot exist; a broadcast view of one value can
        axes = {n: np.broadcast_to(np.float64(0.5), (side,)) for n in names}
    else:
        axes = {n: np.linspace(-1, 1, side) for n in names}
    total = side ** naxes
    if total <= np.iinfo(np.int64).max:
        pytest.skip("does not overflow")
    with pytest.raises((ValueError, MemoryError), match="int64|allocate|memory|available"):
        nndfast.grid_search(NN, X, y, axes, full_output=False)


CHILD = textwrap.dedent(r"""
    import gc, json, os, sys, threading, time
    import numpy as np
    import nndfast

    def tasks():
        return len(os.listdir("/proc/self/task"))

    def trim():
        # glibc keeps freed blocks of the OpenMP threads' arenas for reuse
        # (~8 MB here, stable over repeated runs); give them back first so
        # RSS shows what is still allocated
        try:
            import ctypes
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    # The load-adaptive team policy may run a call serially on a busy machine;
    # then the warm-up would not start the OpenMP pool and the measured run
    # would, which reads as a leaked thread.  Fixed teams make the baseline hold it.
    from nndfast import _openmp
    _openmp.adaptive_teams(False)

    what = sys.argv[1]
    np.random.seed(0)
    NN = nndfast.Neural_Network(hiddenLayerSize=8)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 2)); y = rng.random((2000, 1))
    w = np.linspace(-3, 3, 400)
    axes = {"W1[0,0]": w, "W1[1,1]": w, "W2[2,0]": w}      # 6.4e7 points, 512 MB surface
    W1, W2 = NN.W1.copy(), NN.W2.copy()

    def run(small):
        if what == "grid":
            # warm-up: same innermost length, so the kernel's per-thread
            # tables (malloc arenas of the OpenMP threads) exist at baseline
            a = {k: (v if k == "W2[2,0]" else v[:2]) for k, v in axes.items()} if small else axes
            return nndfast.grid_search(NN, X, y, a, full_output=True, num_threads=2)
        return nndfast.gradient_descent(NN, X, y, learning_rate=1e-4,
                                        max_iter=3 if small else 10**9, tol=0.0, num_threads=2)

    run(True)                                   # warm-up: caches
    NN.forward(np.zeros((20000, 2)))            # warm-up: start the OpenMP pool (2 threads)
    if what == "descent":
        NN.W1, NN.W2 = W1.copy(), W2.copy()
    gc.collect(); trim(); time.sleep(0.3)
    base = dict(tasks=tasks(), pythreads=threading.active_count(), rss=rss())
    print("READY", flush=True)
    sys.stdin.readline()                        # the parent is about to send SIGINT
    t0 = time.perf_counter()
    try:
        run(False)
        out = dict(interrupted=False)
    except KeyboardInterrupt:
        out = dict(interrupted=True)
    t_int = time.perf_counter()
    gc.collect(); trim(); time.sleep(0.5)       # let the OpenMP pool go idle
    out.update(base=base, tasks=tasks(), pythreads=threading.active_count(), rss=rss(),
               ran=t_int - t0,
               weights_kept=bool(np.array_equal(NN.W1, W1) and np.array_equal(NN.W2, W2)))
    print(json.dumps(out), flush=True)
""")


RUN_BEFORE_SIGINT = 1.0
# Issue 3 asks for KeyboardInterrupt within 0.2 s; 1 s leaves room for a loaded CI box.
LATENCY_LIMIT = 1.0


@pytest.mark.skipif(not os.path.exists("/proc/self/task") or sys.platform == "win32",
                    reason="needs /proc and POSIX signals")
@pytest.mark.parametrize("what", ["grid", "descent"])
def test_ctrl_c_is_prompt_leaves_no_threads_and_gives_memory_back(what, tmp_path):
    """One interrupted run on 2000 examples (not the tutorial's 3) checks all three:
    KeyboardInterrupt lands fast, no thread is left running, memory comes back."""
    if what == "descent" and not hasattr(nndfast, "gradient_descent"):
        pytest.skip("gradient_descent has not landed")
    r = _interrupt_child(what, tmp_path)
    assert r["weights_kept"] or what == "descent"  # descent keeps its last finite weights
    assert r["pythreads"] == r["base"]["pythreads"]
    assert r["tasks"] == r["base"]["tasks"], (
        f"OS threads: {r['base']['tasks']} before, {r['tasks']} after the interrupt")
    latency = r["ran"] - RUN_BEFORE_SIGINT
    assert latency < LATENCY_LIMIT, f"{what}: KeyboardInterrupt {latency:.2f} s after SIGINT"
    print(f"{what}: KeyboardInterrupt {latency:.2f} s after SIGINT; "
          f"RSS {(r['rss'] - r['base']['rss']) / 2**20:+.1f} MB vs baseline")
    grown = r["rss"] - r["base"]["rss"]
    # Under AddressSanitizer (.ci/sanitize preloads libasan) every freed block
    # waits in ASan's quarantine, up to 256 MB, so RSS grows with the number
    # of blocks a run freed (a descent frees its per-thread scratch at every
    # step: about 80 KB a step, +110 MB after 1 s here) and cannot show
    # whether memory came back.  test_leaks skips its RSS checks there too.
    if not UNDER_ASAN:
        assert grown < 16 * 2**20, (
            f"RSS after the interrupt is {grown / 2**20:.1f} MB above baseline")


def _interrupt_child(what, tmp_path):
    """Run CHILD, SIGINT it RUN_BEFORE_SIGINT s into the long call; its report."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    r, _ = sigint_child([sys.executable, str(script), what], RUN_BEFORE_SIGINT)
    return r
