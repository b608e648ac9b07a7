"""Grid search benchmarks: reference vs nndfast vs numba vs numpy broadcast.

    pytest bench/bench_grid.py --benchmark-group-by=group --benchmark-columns=min,mean,rounds

Each benchmark records its evaluation count in extra_info; compare rates
(evaluations per second), since the reference runs a smaller grid.  The big
grids (1000x1000, 1000^3) run only with timing enabled; with
--benchmark-disable (CI) every case runs once on a small grid.
bench/grid_table.py prints the ratio table from the same peers.
"""
import numpy as np
import pytest

import _grid_peers as P


@pytest.fixture
def big(request):
    return not request.config.getoption("benchmark_disable")


def _record(benchmark, evaluations):
    benchmark.extra_info["evaluations"] = evaluations
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        benchmark.extra_info["ns_per_eval"] = stats.stats.min / evaluations * 1e9


@pytest.mark.benchmark(group="grid-2d-full-surface")
def test_2d_reference(benchmark, big):
    n = 40 if big else 5
    NN = P.tutorial_net()
    res = benchmark.pedantic(P.run_reference, args=(NN, P.axes2(n)), rounds=3 if big else 1)
    _record(benchmark, n * n)
    assert res.costs.shape == (n, n)


@pytest.mark.benchmark(group="grid-2d-full-surface")
@pytest.mark.parametrize("num_threads", [1, 2])
def test_2d_nndfast(benchmark, big, num_threads):
    n = 1000 if big else 50
    NN = P.tutorial_net()
    res = benchmark(P.run_nndfast, NN, P.axes2(n), True, num_threads)
    _record(benchmark, n * n)
    ref = P.run_reference(NN, P.axes2(5))
    np.testing.assert_allclose(P.run_nndfast(NN, P.axes2(5)).costs, ref.costs, rtol=1e-12)
    assert res.costs.shape == (n, n)


@pytest.mark.benchmark(group="grid-2d-full-surface")
def test_2d_numba(benchmark, big):
    if P.numba is None:
        pytest.skip("numba is not installed (optional peer: pip install numba)")
    n = 1000 if big else 50
    NN = P.tutorial_net()
    P.run_numba(NN, P.axes2(5))  # compile outside the timing
    out = benchmark(P.run_numba, NN, P.axes2(n))
    _record(benchmark, n * n)
    np.testing.assert_allclose(out, P.run_nndfast(NN, P.axes2(n)).costs, rtol=1e-12)


@pytest.mark.benchmark(group="grid-2d-full-surface")
def test_2d_numpy_broadcast(benchmark, big):
    n = 1000 if big else 50
    NN = P.tutorial_net()
    out = benchmark(P.run_numpy, NN, P.axes2(n))
    _record(benchmark, n * n)
    np.testing.assert_allclose(out, P.run_nndfast(NN, P.axes2(n)).costs, rtol=1e-12)


@pytest.mark.benchmark(group="grid-3d-best-only")
@pytest.mark.parametrize("mixed", [False, True], ids=["W1-row", "W1-W2-mixed"])
@pytest.mark.parametrize("num_threads", [1, 2])
def test_3d_nndfast(benchmark, big, mixed, num_threads):
    n = 1000 if big else 40
    NN = P.tutorial_net()
    res = benchmark.pedantic(P.run_nndfast, args=(NN, P.axes3(n, mixed), False, num_threads),
                             rounds=1 if big else 1)
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


@pytest.mark.benchmark(group="grid-many-weights-best-only")
@pytest.mark.parametrize("case", list(MANY))
def test_many_weights(benchmark, big, case):
    names, n = MANY[case]
    if not big:
        n = 3
    w = np.linspace(-5, 5, n)
    NN = P.tutorial_net()
    res = benchmark.pedantic(P.run_nndfast, args=(NN, {k: w for k in names}, False),
                             rounds=3 if big else 1)
    _record(benchmark, n ** len(names))
    assert res.evaluations == n ** len(names)
