"""pytest-benchmark: nndfast beside the peers a user would write (issue 22).

    python -m pytest bench/bench_peers.py                 # the training shape at 1e4, a small grid
    python -m pytest bench/bench_peers.py --large         # and 1e5 x I8 H32, 1e5 x H256, 1e6 x H64
    python -m pytest bench/bench_peers.py --benchmark-disable   # CI: every case once, shrunk

Benchmarks are named op[size]-impl (costFunctionPrime[1e4-I8-H32]-jax) in
group op[size], so nndfast and its peers share a group.  The peers are
bench/_peers.py's: numba's fused loop (the serial njit), JAX jit /
value_and_grad, torch and numpy
(nndfast.reference); each is skipped when its library is missing and checked
against nndfast to rtol 1e-9 before it is timed.  Everything runs in this one
process with each library's default threads; bench/peers.py gives the per-core
(one thread each, separate processes) and all-core tables.

Not timed tests: nothing here asserts a speed.
"""
import numpy as np
import pytest

import _peers
import _race
from _cases import cases, name, rounds, smoke

#: pytest op name (the network's method) -> the peers' operation
OPS = {"forward": "forward", "costFunction": "cost", "costFunctionPrime": "gradient"}
# numba's prange variant is left to bench/peers.py's all-cores table: compiling
# it costs more than the whole smoke run of this file.
IMPLS = ("nndfast", "numba", "jax", "torch", "numpy")
#: size id -> (n, I, H); O = 1
SIZES = {
    "1e4-I8-H32": (10_000, 8, 32),
    "1e5-I8-H32": (100_000, 8, 32),
    "1e5-H256": (100_000, 2, 256),
    "1e6-H64": (1_000_000, 2, 64),
}
LARGE = {"1e5-I8-H32", "1e5-H256", "1e6-H64"}
#: With --benchmark-disable every case runs once on this many rows at most.
SMOKE_ROWS = 1000


def _peer(impl):
    try:
        return _peers.load(impl)
    except _peers.Unavailable as e:
        pytest.skip(str(e))


@cases([(op, size, impl) for op in OPS for size in SIZES for impl in IMPLS],
       large=lambda op, size, impl: size in LARGE)
def test_peer(benchmark, request, op, size, impl):
    n, I, H = SIZES[size]
    if smoke(request):
        n = min(n, SMOKE_ROWS)
    peer = _peer(impl)
    X, y = _peers.data(n, I, 1)
    W1, W2 = _peers.weights(I, H, 1)
    which = OPS[op]
    want = _peers.run(_peers.load("nndfast"), which, X, y, W1, W2)
    # a peer that disagrees fails here, before it is timed
    _peers.check(impl, which, _peers.run(peer, which, X, y, W1, W2), want)
    args = peer.prepare(X, y, W1, W2, None)
    name(benchmark, op, size, impl, rows=n, inputs=I, hidden=H)
    # pedantic, --benchmark-min-rounds rounds (5 by default): the compiles
    # above already cost more than the timing, and `pytest bench` stays short
    benchmark.pedantic(getattr(peer, which), args=args, rounds=rounds(request), iterations=1,
                       warmup_rounds=1)


GRID_SIDES = {"1e3-64x64": (1_000, 64), "1e4-256x256": (10_000, 256)}


@cases([("grid-W1-W2", size, impl) for size in GRID_SIDES for impl in ("nndfast", "jax-vmap")],
       large=lambda op, size, impl: size == "1e4-256x256")
def test_grid_peer(benchmark, request, op, size, impl):
    import nndfast

    n, side = GRID_SIDES[size]
    if smoke(request):
        n, side = min(n, SMOKE_ROWS), min(side, 16)
    X, y = _peers.data(n, 2, 1)
    W1, W2 = _peers.weights(2, 3, 1)
    w = np.linspace(-5.0, 5.0, side)
    NN = nndfast.Neural_Network(2, 3, 1)
    NN.W1, NN.W2 = W1.copy(), W2.copy()
    axes = {"W1[0,0]": w, "W2[1,0]": w}
    full = nndfast.grid_search(NN, X, y, axes)
    name(benchmark, op, size, impl, rows=n, side=side)
    if impl == "nndfast":
        best = benchmark.pedantic(
            lambda: nndfast.grid_search(NN, X, y, axes, full_output=False).best_cost,
            rounds=rounds(request), iterations=1, warmup_rounds=1)
    else:
        try:
            g = _peers.JaxGrid(X, y, W1, W2, w, w, chunk=max(1, 256_000 // n))
        except _peers.Unavailable as e:
            pytest.skip(str(e))
        _peers.check("jax-vmap", "grid", g.surface(), full.costs)
        pieces = g.pieces()
        best = benchmark.pedantic(g.best, args=(pieces,), rounds=rounds(request), iterations=1,
                                  warmup_rounds=1)
    np.testing.assert_allclose(best, full.best_cost, rtol=1e-9)


def test_race_runs():
    """The training race's contenders run on a small problem: nndfast sets a
    target, and each peer that is installed returns a result (reached or
    not) with a positive time and a finite MSE."""
    import time

    X, y = _race.race_data(500)
    W1, W2 = _race.start_weights()
    mine = _race.run_nndfast(X, y, W1, W2, 5, time.perf_counter)
    assert mine["iterations"] == 5 and np.isfinite(mine["mse"])
    ran = 0
    for racer in _race.RACERS:
        try:
            _race.requirement(racer)
        except _peers.Unavailable:
            continue
        out = _race.RUNNERS[racer](X, y, W1, W2, mine["mse"], 5.0, time.perf_counter)
        assert out["seconds"] > 0 and np.isfinite(out["mse"]) and out["evaluations"] > 0
        # scipy's BFGS over JAX takes the path of nndfast's BFGS, so it gets there
        if racer == "scipy-BFGS-jax":
            assert out["reached"] and out["mse"] <= mine["mse"]
        ran += 1
    if not ran:
        pytest.skip("none of the race's peers is installed (JAX, torch, scikit-learn)")
