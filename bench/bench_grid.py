"""Grid search benchmarks: reference vs nndfast vs numba vs numpy broadcast.

    pytest bench/bench_grid.py                  # the fast cases
    pytest bench/bench_grid.py --large          # and 1000x1000, 1000^3, issue 12's weight sets

Each group is one grid, run by every implementation that can run it in
reasonable time: grid-2d[40x40] has the reference, nndfast (1 and 2
threads), numba and numpy broadcasting; grid-2d[1000x1000] (large) the same
peers without the reference, which takes seconds per 1600 points.  Each
benchmark also records its evaluation count and ns per evaluation in
extra_info.  With --benchmark-disable (CI) every case runs once on a small
grid.  bench/grid_table.py prints the ratio table from the same peers.
"""
import numpy as np
import pytest

import _grid_peers as P
from _cases import cases, name, rounds, smoke

#: grid side -> the side that a --benchmark-disable (smoke) run uses instead
SMOKE_SIDE = {40: 5, 1000: 50, 100: 10}


def _side(request, n):
    return SMOKE_SIDE.get(n, min(n, 3)) if smoke(request) else n


def _record(benchmark, evaluations):
    benchmark.extra_info["evaluations"] = evaluations
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        benchmark.extra_info["ns_per_eval"] = stats.stats.min / evaluations * 1e9


PEERS_2D = ["nndfast-1t", "nndfast-2t", "numba", "numpy-broadcast"]


@cases([("grid-2d", "40x40", impl) for impl in ["reference"] + PEERS_2D]
       + [("grid-2d", "1000x1000", impl) for impl in PEERS_2D],
       large=lambda op, size, impl: size == "1000x1000")
def test_grid_2d(benchmark, request, op, size, impl):
    n = _side(request, int(size.split("x")[0]))
    NN = P.tutorial_net()
    axes = P.axes2(n)
    if impl == "reference":
        run = lambda: P.run_reference(NN, axes).costs  # noqa: E731
    elif impl.startswith("nndfast"):
        threads = int(impl[len("nndfast-"):-1])
        run = lambda: P.run_nndfast(NN, axes, True, threads).costs  # noqa: E731
    elif impl == "numba":
        if P.numba is None:
            pytest.skip("numba is not installed (the bench extra: pip install nndfast[bench])")
        P.run_numba(NN, P.axes2(5))  # compile outside the timing
        run = lambda: P.run_numba(NN, axes)  # noqa: E731
    else:
        run = lambda: P.run_numpy(NN, axes)  # noqa: E731
    name(benchmark, op, size, impl, side=n)
    costs = benchmark(run)
    _record(benchmark, n * n)
    # every peer computes the same surface
    np.testing.assert_allclose(costs, P.run_nndfast(NN, axes).costs, rtol=1e-12)
    np.testing.assert_allclose(P.run_nndfast(NN, P.axes2(5)).costs,
                               P.run_reference(NN, P.axes2(5)).costs, rtol=1e-12)


@cases([(op, size, impl) for op in ("grid-3d-W1-row-best", "grid-3d-W1-W2-mixed-best")
        for size in ("100^3", "1000^3") for impl in ("nndfast-1t", "nndfast-2t")],
       large=lambda op, size, impl: size == "1000^3")
def test_grid_3d(benchmark, request, op, size, impl):
    n = _side(request, int(size.split("^")[0]))
    NN = P.tutorial_net()
    axes = P.axes3(n, mixed="mixed" in op)
    threads = int(impl[len("nndfast-"):-1])
    name(benchmark, op, size, impl, side=n)
    if n >= 1000:
        res = benchmark.pedantic(P.run_nndfast, args=(NN, axes, False, threads),
                                 rounds=rounds(request))
    else:
        res = benchmark(P.run_nndfast, NN, axes, False, threads)
    _record(benchmark, n ** 3)
    assert res.costs is None and res.evaluations == n ** 3


#: (weights, values per axis) of issue #12's weight sets: the best separable
#: set first (the denominator of grid_sweep.py's shares), then the targets
MANY = {
    "3-W1-row-400": (("W1[0,0]", "W1[0,1]", "W1[0,2]"), 400),
    "all-nine-12": (("W1[0,0]", "W1[0,1]", "W1[0,2]", "W1[1,0]", "W1[1,1]", "W1[1,2]",
                     "W2[0,0]", "W2[1,0]", "W2[2,0]"), 12),
    "six-W1-24": (("W1[0,0]", "W1[0,1]", "W1[0,2]", "W1[1,0]", "W1[1,1]", "W1[1,2]"), 24),
    "four-100": (("W1[0,0]", "W1[0,1]", "W1[0,2]", "W1[1,0]"), 100),
    "shared-unit-1000": (("W1[0,0]", "W1[1,0]"), 1000),
}


@cases([("grid-many-weights-best", case, "nndfast") for case in MANY],
       large=lambda op, size, impl: True)
def test_many_weights(benchmark, request, op, size, impl):
    names, n = MANY[size]
    if smoke(request):
        n = 3
    w = np.linspace(-5, 5, n)
    NN = P.tutorial_net()
    name(benchmark, op, size, impl, evaluations=n ** len(names))
    res = benchmark.pedantic(P.run_nndfast, args=(NN, {k: w for k in names}, False),
                             rounds=rounds(request))
    _record(benchmark, n ** len(names))
    assert res.evaluations == n ** len(names)
