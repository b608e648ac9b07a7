"""Leak and growth checks: 10**5 calls of each hot entry point leave the
process's resident memory within 2 MB of where it started, and tracemalloc
attributes no growth to nndfast's files.

RSS is read from /proc/self/statm (Linux) or getrusage (peak, elsewhere).
Each check warms up first (scratch buffers, caches and the OpenMP pool are
allocated once by design), then measures.
"""
import gc
import glob
import os
import sys
import tracemalloc

import numpy as np
import pytest

import nndfast

CALLS = 100_000
RSS_LIMIT = 2 * 1024 * 1024
TRACE_CALLS = 5_000           # tracemalloc makes every allocation ~10x dearer
TRACE_LIMIT = 4 * 1024        # bytes of net growth allowed in nndfast's files
# nndfast's files are those in the package's own folder: a pattern on the
# name alone ("*nndfast*") also matched numpy's files in a venv kept inside
# the clone (.../nndfast/.venv/...), and counted their growth as nndfast's.
NNDFAST_FILES = os.path.join(glob.escape(os.path.dirname(os.path.abspath(nndfast.__file__))), "*")


def rss_bytes():
    if os.path.exists("/proc/self/statm"):
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _tutorial():
    np.random.seed(0)
    return nndfast.Neural_Network(), np.array(nndfast.X), np.array(nndfast.y)


def _grid_call():
    NN, X, y = _tutorial()
    w = np.linspace(-5, 5, 4)
    axes = {"W1[0,0]": w, "W2[1,0]": w}
    return lambda: nndfast.grid_search(NN, X, y, axes, full_output=True, num_threads=1,
                                       progress=False)


def _calls():
    """name -> zero-argument callable doing one hot call."""
    NN, X, y = _tutorial()
    big = np.random.default_rng(0).standard_normal((1400, 2))
    bigy = np.random.default_rng(1).random((1400, 1))
    NNbig = nndfast.Neural_Network(hiddenLayerSize=16)
    out = {
        "forward": lambda: NN.forward(X),
        "costFunction": lambda: NN.costFunction(X, y),
        "costFunctionPrime": lambda: NN.costFunctionPrime(X, y),
        "computeGradients": lambda: NN.computeGradients(X, y),
        "forward+cached attrs": lambda: (NN.forward(X), NN.z2, NN.a2, NN.z3),
        "sigmoid": lambda: NN.sigmoid(X),
        "setParams/getParams": lambda: NN.setParams(NN.getParams()),
        "bad input (ValueError)": lambda: _swallow(NN.forward, y),
        "bad dtype (TypeError)": lambda: _swallow(NN.forward, X.astype(complex)),
        "large forward (memoryview path)": lambda: NNbig.forward(big),
        "large gradient (memoryview path)": lambda: NNbig.costFunctionPrime(big, bigy),
    }
    if hasattr(nndfast, "grid_search"):
        out["grid_search 4x4"] = _grid_call()
    if hasattr(nndfast, "gradient_descent"):
        NNd, Xd, yd = _tutorial()
        out["gradient_descent 1 iter"] = lambda: nndfast.gradient_descent(
            NNd, Xd, yd, learning_rate=1e-3, max_iter=1)
    return out


def _swallow(fn, *args):
    try:
        fn(*args)
    except (ValueError, TypeError):
        pass


CALLS_BY_NAME = _calls()
# the memoryview paths allocate per call (1400-row outputs); 10**3 of them
# stress the allocator as much as 10**5 tiny calls
REPEATS = {"large forward (memoryview path)": 1_000, "large gradient (memoryview path)": 1_000}
GROWTH = {}


UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


@pytest.mark.skipif(UNDER_ASAN, reason="ASan's quarantine keeps freed memory resident")
@pytest.mark.parametrize("name", sorted(CALLS_BY_NAME))
def test_rss_does_not_grow(name):
    fn = CALLS_BY_NAME[name]
    n = REPEATS.get(name, CALLS)
    for _ in range(500):
        fn()
    gc.collect()
    before = rss_bytes()
    for _ in range(n):
        fn()
    gc.collect()
    grown = rss_bytes() - before
    GROWTH[name] = (n, grown)
    print(f"{name}: {n} calls, RSS grew {grown / 1024:.0f} KiB")
    assert grown < RSS_LIMIT, f"{name}: RSS grew {grown / 2**20:.2f} MB over {n} calls"


@pytest.mark.parametrize("name", sorted(CALLS_BY_NAME))
def test_tracemalloc_no_growth_in_nndfast(name):
    # Two equal windows: a leak grows in both, while the interpreter's free
    # lists (3.13 keeps ~100 freed small objects traced to where they were
    # first allocated) fill once and then stop.
    fn = CALLS_BY_NAME[name]
    calls = min(TRACE_CALLS, REPEATS.get(name, CALLS))
    for _ in range(200):
        fn()
    gc.collect()
    filt = [tracemalloc.Filter(True, NNDFAST_FILES)]
    tracemalloc.start(5)
    try:
        for _ in range(200):
            fn()
        gc.collect()
        snaps = [tracemalloc.take_snapshot().filter_traces(filt)]
        for _ in range(2):
            for _ in range(calls):
                fn()
            gc.collect()
            snaps.append(tracemalloc.take_snapshot().filter_traces(filt))
    finally:
        tracemalloc.stop()
    windows = []
    for a, b in zip(snaps, snaps[1:]):
        stats = b.compare_to(a, "lineno")
        windows.append((sum(st.size_diff for st in stats),
                        [str(st) for st in stats[:3] if st.size_diff > 0]))
    assert min(g for g, _ in windows) < TRACE_LIMIT, (
        f"{name}: nndfast's files grew in both windows of {calls} calls: {windows}")
