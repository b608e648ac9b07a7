"""nndfast.grid_search against nndfast.reference.grid_search, and its contract."""
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import nndfast
from nndfast import _grid
from nndfast import _plan as P
from nndfast import grid as G
from nndfast import reference

from _child import popen

RTOL, ATOL = 1e-12, 1e-15
SEARCHES = [nndfast.grid_search, reference.grid_search]


def _names(I, H, O):
    return ([f"W1[{i},{j}]" for i in range(I) for j in range(H)]
            + [f"W2[{i},{j}]" for i in range(H) for j in range(O)])


def _net(I=2, H=3, O=1, seed=0):
    np.random.seed(seed)
    return nndfast.Neural_Network(I, H, O)


def _weights(NN):
    return NN.W1.copy(), NN.W2.copy()


def _assert_same(fast, ref):
    np.testing.assert_allclose(fast.costs, ref.costs, rtol=RTOL, atol=ATOL)
    assert fast.best_index == ref.best_index
    assert fast.best_weights == ref.best_weights
    np.testing.assert_allclose(fast.best_cost, ref.best_cost, rtol=RTOL, atol=ATOL)
    assert fast.evaluations == ref.evaluations == ref.costs.size


# -- cross-checks against the reference ----------------------------------------

def test_tutorial_two_weights_matches_reference():
    NN = _net()
    w = np.linspace(-5, 5, 30)
    axes = {"W1[0,0]": w, "W1[0,1]": w}
    W1, W2 = _weights(NN)
    fast = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes)
    ref = reference.grid_search(NN, nndfast.X, nndfast.y, axes)
    _assert_same(fast, ref)
    assert fast.costs.shape == (30, 30)
    assert fast.best_index == np.unravel_index(np.argmin(ref.costs), ref.costs.shape)
    # the tutorial's own loop, one point
    i, j = 7, 19
    NN.W1[0, 0], NN.W1[0, 1] = w[i], w[j]
    expected = np.sum(NN.costFunction(nndfast.X, nndfast.y))
    NN.W1[...], NN.W2[...] = W1, W2
    np.testing.assert_allclose(fast.costs[i, j], expected, rtol=RTOL)
    np.testing.assert_array_equal(NN.W1, W1)
    np.testing.assert_array_equal(NN.W2, W2)


@pytest.mark.parametrize("I,H,O", [(2, 3, 1), (3, 4, 2), (1, 1, 1), (2, 5, 3)])
@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("force_fused", [False, True])
def test_random_networks_match_reference(monkeypatch, I, H, O, m, force_fused):
    if force_fused:  # a fused block (several axes in one SIMD row) wherever the axes allow
        monkeypatch.setattr(P, "_FUSED_MIN_EVALS", 0)
        monkeypatch.setattr(P, "_FUSED_PREFER", float("inf"))
    rng = np.random.default_rng(100 * I + 10 * H + O + m)
    NN = _net(I, H, O, seed=m)
    names = _names(I, H, O)
    if m > len(names):
        pytest.skip("fewer weights than axes")
    n = int(rng.integers(2, 9))
    X = rng.normal(scale=2.0, size=(n, I))
    y = rng.uniform(size=(n, O))
    blocks = 0
    for trial in range(3):
        sel = rng.choice(len(names), m, replace=False)
        # non-uniform, unsorted values of various lengths (including 1)
        axes = {names[s]: rng.normal(scale=3.0, size=int(rng.integers(1, 8))) for s in sel}
        before = _weights(NN)
        blocks += P.make_plan(NN, X, y, axes).nblock > 1
        fast = nndfast.grid_search(NN, X, y, axes)
        ref = reference.grid_search(NN, X, y, axes)
        _assert_same(fast, ref)
        np.testing.assert_array_equal(NN.W1, before[0])
        np.testing.assert_array_equal(NN.W2, before[1])
        lean = nndfast.grid_search(NN, X, y, axes, full_output=False)
        assert lean.costs is None
        assert lean.best_index == fast.best_index
        assert lean.best_cost == fast.best_cost
    if force_fused and m >= 2 and H >= 2:
        assert blocks > 0


def test_every_weight_at_once():
    NN = _net(seed=20)
    rng = np.random.default_rng(20)
    axes = {name: rng.normal(scale=2.0, size=2) for name in _names(2, 3, 1)}  # 512 points
    fast = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes)
    assert fast.costs.shape == (2,) * 9
    _assert_same(fast, reference.grid_search(NN, nndfast.X, nndfast.y, axes))


def test_non_finite_data_gives_nan_first_like_argmin():
    NN = _net(seed=21)
    X = nndfast.X.copy()
    X[1, 0] = np.nan
    axes = {"W1[0,0]": [0.0, 1.0, 2.0], "W2[1,0]": [1.0, 2.0]}
    fast = nndfast.grid_search(NN, X, nndfast.y, axes)
    ref = reference.grid_search(NN, X, nndfast.y, axes)
    assert np.isnan(fast.costs).all() and np.isnan(fast.best_cost)
    assert fast.best_index == ref.best_index == (0, 0)


def test_both_layers_every_innermost_choice():
    # W2 innermost, W1 innermost on a column other axes touch, and reordering
    NN = _net(2, 3, 2, seed=3)
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(4, 2)), rng.uniform(size=(4, 2))
    cases = [
        {"W1[0,0]": rng.normal(size=3), "W2[1,1]": rng.normal(size=40)},
        {"W2[1,1]": rng.normal(size=40), "W1[0,0]": rng.normal(size=3)},
        {"W1[0,1]": rng.normal(size=5), "W1[1,1]": rng.normal(size=30),
         "W2[0,0]": rng.normal(size=2)},
        {"W1[1,2]": rng.normal(size=30), "W1[0,2]": rng.normal(size=4),
         "W2[2,1]": rng.normal(size=3)},
        {"W1[0,1]": rng.normal(size=3), "W2[1,1]": rng.normal(size=40)},
    ]
    for axes in cases:
        _assert_same(nndfast.grid_search(NN, X, y, axes),
                     reference.grid_search(NN, X, y, axes))


@pytest.mark.parametrize("axes", [
    {"W2[1,0]": [-900.0, -300.0, -100.0, 0.0, 90.0, 400.0], "W1[0,1]": [-50.0, 0.5, 700.0]},
    {"W1[0,1]": [-900.0, -150.0, 0.0, 2.0, 160.0, 800.0], "W2[0,0]": [-400.0, 1.0, 180.0]},
    {"W1[1,2]": [-3.0, 1.0, 5.0], "W2[2,0]": [-200.0, 0.1, 250.0, 800.0]},
])
def test_extreme_weights_use_the_exact_path(axes):
    # |z| beyond the precomputed-exponential range falls back to exp per point
    NN = _net(seed=18)
    fast = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes)
    with np.errstate(over="ignore"):
        ref = reference.grid_search(NN, nndfast.X, nndfast.y, axes)
    _assert_same(fast, ref)
    assert np.isfinite(fast.costs).all()


def test_reordered_plan_places_costs_in_user_order():
    NN = _net(seed=4)
    axes = {"W2[1,0]": np.linspace(-3, 3, 50), "W1[0,0]": np.array([0.5, -1.0, 2.0])}
    plan = P.make_plan(NN, nndfast.X, nndfast.y, axes)
    assert not plan.identity  # the long W2 axis runs innermost
    ref = reference.grid_search(NN, nndfast.X, nndfast.y, axes)
    _assert_same(nndfast.grid_search(NN, nndfast.X, nndfast.y, axes), ref)
    surface = np.full(plan.shape, np.nan)
    for start in range(plan.n_rows):
        _, _, rows = P.run_range(plan, start, start + 1, True, 1)
        P.place(plan, surface, start, start + 1, rows)
    np.testing.assert_allclose(surface, ref.costs, rtol=RTOL, atol=ATOL)


def test_tiled_rows_are_tile_major_and_placed_in_user_order(monkeypatch):
    # Rows run tile by tile over all prefixes (a chunk's tables then serve
    # many prefixes); run_range returns them row after row and place puts
    # any split of them into a reordered surface bit for bit.
    monkeypatch.setattr(P, "_TILE", 7)
    NN = _net(seed=4)
    axes = {"W2[1,0]": np.linspace(-3, 3, 50), "W1[0,0]": np.array([0.5, -1.0, 2.0])}
    plan = P.make_plan(NN, nndfast.X, nndfast.y, axes)
    assert not plan.identity and plan.ntiles == 8 and plan.nprefix == 3
    assert plan.row_start(plan.nprefix) == 3 * 7            # tile 0 of every prefix
    assert plan.row_start(plan.n_rows) == plan.evaluations
    whole = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes)
    _assert_same(whole, reference.grid_search(NN, nndfast.X, nndfast.y, axes))
    surface = np.full(plan.shape, np.nan)
    cuts = [0, 1, 2, 5, 11, 22, plan.n_rows - 1, plan.n_rows]
    for a, b in zip(cuts[:-1], cuts[1:]):
        _, _, rows = P.run_range(plan, a, b, True, 2)
        assert rows.size == plan.row_start(b) - plan.row_start(a)
        P.place(plan, surface, a, b, rows)
    assert _bits(surface) == _bits(whole.costs)


def test_long_innermost_axis_is_tiled(monkeypatch):
    monkeypatch.setattr(P, "_TILE", 7)
    NN = _net(seed=6)
    axes = {"W1[1,1]": np.linspace(-4, 4, 30), "W1[0,1]": np.linspace(-2, 2, 9)}
    plan = P.make_plan(NN, nndfast.X, nndfast.y, axes)
    assert plan.ntiles > 1
    _assert_same(nndfast.grid_search(NN, nndfast.X, nndfast.y, axes),
                 reference.grid_search(NN, nndfast.X, nndfast.y, axes))


@pytest.mark.parametrize("O", [1, 2])
@pytest.mark.parametrize("axes", [
    {"W2[0,0]": np.linspace(-2, 2, 3), "W1[1,1]": np.linspace(-3, 3, 150)},
    {"W1[1,1]": np.linspace(-3, 3, 7), "W2[2,0]": np.linspace(-4, 4, 150)},
    {"W1[0,1]": np.linspace(-3, 3, 5), "W1[1,1]": np.linspace(-2, 2, 90)},
    {"W2[1,0]": np.linspace(-3, 3, 5), "W1[0,1]": np.linspace(-2, 2, 90)},
])
def test_many_examples_are_tiled_by_examples_and_values(monkeypatch, axes, O):
    # Tables for a few examples at a time (tiles of 4 and a tail of 3 here),
    # value tiles of 16, batches of 5 prefixes: the costs are the
    # reference's, bitwise the same on 1 and 3 threads and over any split.
    monkeypatch.setattr(P, "_ETILE_DOUBLES", 4 * 16 * (O + 2))
    monkeypatch.setattr(P, "_MIN_TILE", 16)
    monkeypatch.setattr(P, "_TABLE_DOUBLES", 1)
    monkeypatch.setattr(P, "_ACC_DOUBLES", 5 * 16)
    rng = np.random.default_rng(19)
    NN = _net(2, 3, O, seed=19)
    X, y = rng.uniform(size=(303, 2)), rng.uniform(size=(303, O))
    plan = P.make_plan(NN, X, y, axes)
    assert (plan.ntiles, plan.etile, plan.qbatch) == (-(-plan.plan_shape[-1] // 16), 4, 5)
    ref = reference.grid_search(NN, X, y, axes)
    _grid.adaptive_teams(False)
    try:
        runs = [nndfast.grid_search(NN, X, y, axes, num_threads=t) for t in (1, 3)]
        lean = nndfast.grid_search(NN, X, y, axes, full_output=False, num_threads=3)
    finally:
        _grid.adaptive_teams(True)
    _assert_same(runs[0], ref)
    assert _bits(runs[1].costs) == _bits(runs[0].costs)
    assert (lean.best_index, lean.best_cost) == (runs[0].best_index, runs[0].best_cost)
    surface = np.empty(plan.shape)
    for a, b in [(0, 1), (1, 8), (8, plan.n_rows)]:
        _, _, rows = P.run_range(plan, a, b, True, 2)
        P.place(plan, surface, a, b, rows)
    assert _bits(surface) == _bits(runs[0].costs)
    NN.Lambda = 1e-3
    _assert_same(nndfast.grid_search(NN, X, y, axes), reference.grid_search(NN, X, y, axes))


def test_one_example_tile_keeps_the_untiled_bits(monkeypatch):
    # Example tiles of a multiple of four give every cost the bits of one
    # pass over all examples (the pairs' groups of four are the same).
    rng = np.random.default_rng(20)
    NN = _net(2, 3, 1, seed=20)
    X, y = rng.uniform(size=(64, 2)), rng.uniform(size=(64, 1))
    for axes in [{"W1[0,0]": np.linspace(-3, 3, 40), "W1[1,2]": np.linspace(-2, 2, 30)},
                 {"W1[0,0]": np.linspace(-3, 3, 40), "W2[2,0]": np.linspace(-2, 2, 30)}]:
        whole = nndfast.grid_search(NN, X, y, axes)
        plan = P.make_plan(NN, X, y, axes)
        assert plan.etile == 64
        monkeypatch.setattr(P, "_ETILE_DOUBLES", 8 * plan.tile * 3)
        assert P.make_plan(NN, X, y, axes).etile == 8
        tiled = nndfast.grid_search(NN, X, y, axes)
        monkeypatch.undo()
        assert _bits(tiled.costs) == _bits(whole.costs)


def test_ties_go_to_lowest_flat_index():
    NN = _net(seed=7)
    for axes in [{"W1[0,0]": [1.0, 1.0, 1.0], "W1[1,2]": [2.0, 2.0]},
                 {"W2[0,0]": np.ones(60), "W1[0,0]": [0.3, 0.3]},
                 {"W1[0,0]": [3.0, -1.0, -1.0], "W2[2,0]": np.r_[np.ones(40), 2.0, 2.0]}]:
        fast = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes)
        ref = reference.grid_search(NN, nndfast.X, nndfast.y, axes)
        flat = int(np.argmin(fast.costs))
        assert fast.best_index == ref.best_index == np.unravel_index(flat, fast.costs.shape)
        assert nndfast.grid_search(NN, nndfast.X, nndfast.y, axes,
                                   full_output=False).best_index == fast.best_index


def test_combine_is_argmin_order_over_any_split():
    # _plan.better is the one Python home of the order: combining the
    # (cost, flat) minima of any split must give np.argmin of the whole.
    from nndfast import _plan
    rng = np.random.default_rng(5)
    for trial in range(200):
        costs = rng.integers(0, 4, size=12).astype(float)
        costs[rng.random(12) < 0.15] = np.nan
        cuts = sorted(rng.choice(np.arange(1, 12), size=3, replace=False))
        parts = []
        for a, b in zip([0] + cuts, cuts + [12]):
            part = costs[a:b]
            k = a + int(np.argmin(part))
            parts.append((float(costs[k]), k))
        parts.append((0.0, -1))                     # an empty range is skipped
        order = rng.permutation(len(parts))
        c, u = _plan.combine([parts[i] for i in order])
        assert u == int(np.argmin(costs))


def test_input_forms():
    NN = _net(seed=8)
    w = [0.0, 1.5, -2.0]
    a = nndfast.grid_search(NN, nndfast.X.tolist(), nndfast.y.tolist(),
                            {("W1", 0, 1): w, " W2 [ 2 , 0 ] ": np.array(w, dtype=np.float32)})
    b = nndfast.grid_search(NN, np.asfortranarray(nndfast.X), nndfast.y.astype(np.float32),
                            {"W1[0,1]": np.array(w), "W2[2,0]": np.float32(w)})
    c = nndfast.grid_search(NN, nndfast.X, nndfast.y.astype(np.float32),
                            {"W1[0,1]": w, "W2[2,0]": np.float32(w)})
    np.testing.assert_array_equal(b.costs, c.costs)
    assert set(a.best_weights) == {"W1[0,1]", "W2[2,0]"}
    np.testing.assert_allclose(a.costs, reference.grid_search(
        NN, nndfast.X, nndfast.y, {"W1[0,1]": w, "W2[2,0]": np.float32(w)}).costs, rtol=RTOL)
    # X and y with no rows: every cost is zero
    e = nndfast.grid_search(NN, np.zeros((0, 2)), np.zeros((0, 1)), {"W1[0,0]": w})
    np.testing.assert_array_equal(e.costs, 0.0)
    assert e.seconds >= 0 and e.evaluations == 3


def test_reference_network_accepted():
    np.random.seed(9)
    ref_nn = reference.Neural_Network()
    axes = {"W1[0,0]": np.linspace(-1, 1, 5)}
    np.testing.assert_allclose(nndfast.grid_search(ref_nn, nndfast.X, nndfast.y, axes).costs,
                               reference.grid_search(ref_nn, nndfast.X, nndfast.y, axes).costs,
                               rtol=RTOL)


# -- determinism --------------------------------------------------------------------

def _bits(a):
    return a.tobytes()


def test_bitwise_identical_across_thread_counts():
    NN = _net(3, 4, 2, seed=10)
    rng = np.random.default_rng(10)
    X, y = rng.normal(size=(5, 3)), rng.uniform(size=(5, 2))
    # each grid has work for a team of 3 (TEAM_MIN_WORK evaluation-example-
    # output triples per thread), and with adaptive teams off every run uses
    # one (a busy machine would otherwise send runs to one thread)
    _grid.adaptive_teams(False)
    try:
        _bitwise_across_thread_counts(NN, X, y, rng)
    finally:
        _grid.adaptive_teams(True)


def _bitwise_across_thread_counts(NN, X, y, rng):
    for axes in [{"W1[0,0]": rng.normal(size=80), "W1[2,1]": rng.normal(size=60),
                  "W1[1,3]": rng.normal(size=70)},
                 {"W2[1,0]": rng.normal(size=100), "W1[1,0]": rng.normal(size=50),
                  "W2[3,1]": rng.normal(size=60)}]:
        runs = [nndfast.grid_search(NN, X, y, axes, num_threads=t) for t in (1, 2, 3)]
        lean = [nndfast.grid_search(NN, X, y, axes, full_output=False, num_threads=t)
                for t in (1, 2, 3)]
        for r in runs[1:]:
            assert _bits(r.costs) == _bits(runs[0].costs)
        for r in runs[1:] + lean:
            assert r.best_index == runs[0].best_index
            assert _bits(np.float64(r.best_cost)) == _bits(np.float64(runs[0].best_cost))


@pytest.mark.parametrize("force_fused", [False, True])
def test_run_range_splits_combine_bitwise(monkeypatch, force_fused):
    monkeypatch.setattr(P, "_FUSED_MIN_EVALS", 0)
    monkeypatch.setattr(P, "_FUSED_PREFER", float("inf") if force_fused else 0.0)
    NN = _net(seed=11)
    w = np.linspace(-5, 5, 200)
    axes = {"W1[0,0]": w, "W1[0,1]": w[::2], "W2[1,0]": w[:30]}
    whole = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes)
    plan = P.make_plan(NN, nndfast.X, nndfast.y, axes)
    assert (plan.nblock > 1) == force_fused
    cuts = sorted({min(c, plan.n_rows) for c in
                   [0, 1, 17, 333, 334, plan.n_rows // 2, plan.n_rows]})
    surface = np.empty(plan.shape)
    parts = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        bc, bu, rows = P.run_range(plan, a, b, True, 2)
        P.place(plan, surface, a, b, rows)
        parts.append((bc, bu))
    bc, bu = P.combine(parts[::-1])
    clone = pickle.loads(pickle.dumps(plan))
    assert P.run_range(clone, 0, clone.n_rows, False, 1)[:2] == (bc, bu)
    assert _bits(surface) == _bits(whole.costs)
    assert plan.index(bu) == whole.best_index and bc == whole.best_cost


# -- interrupts, progress, memory -------------------------------------------------------

def test_weights_unchanged_after_interrupt_in_progress_callback():
    w = np.linspace(-5, 5, 200)
    for search in SEARCHES:
        NN = _net(seed=12)
        before = _weights(NN)

        def stop(done, total):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            search(NN, nndfast.X, nndfast.y, {"W1[0,0]": w, "W2[0,0]": w[:10]}, progress=stop)
        np.testing.assert_array_equal(NN.W1, before[0])
        np.testing.assert_array_equal(NN.W2, before[1])


def test_progress_callable_and_bar(capsys):
    NN = _net(seed=13)
    seen = []
    w = np.linspace(-5, 5, 100)
    axes = {"W1[0,0]": w, "W1[0,1]": w, "W1[0,2]": w[:30]}
    res = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=False,
                              progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (res.evaluations, res.evaluations)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, progress=True)
    err = capsys.readouterr().err
    assert "100.0%" in err and "evals/s" in err and "ETA" in err
    with pytest.raises(TypeError):
        nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, progress="yes")


_CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import nndfast
    np.random.seed(0)
    NN = nndfast.Neural_Network()
    W1, W2 = NN.W1.copy(), NN.W2.copy()
    w = np.linspace(-5, 5, 1000)
    axes = {"W1[0,0]": w, "W1[0,1]": w, "W1[0,2]": w, "W2[0,0]": w[:50]}
    said = []
    def started(done, total):
        if not said:
            said.append(print("started", flush=True))
    try:
        nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=False,
                            progress=started)
    except KeyboardInterrupt:
        same = np.array_equal(NN.W1, W1) and np.array_equal(NN.W2, W2)
        print("interrupted", same, flush=True)
        sys.exit(0)
    print("finished", flush=True)
""")


def test_ctrl_c_interrupts_quickly_and_leaves_network_alone():
    child = popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "started"
        time.sleep(0.3)
        t0 = time.perf_counter()
        child.send_signal(signal.SIGINT)
        line = child.stdout.readline().split()
        latency = time.perf_counter() - t0
        child.wait(timeout=30)
    finally:
        child.kill()
    assert line == ["interrupted", "True"]
    # 0.2 s is the goal; blocks are ~50 ms.  Slack for a loaded CI machine.
    print(f"Ctrl-C latency {latency:.3f} s")
    assert latency < 1.0, latency


def test_oversized_full_surface_is_refused_before_allocating():
    NN = _net(seed=14)
    big = np.zeros(100_000)
    axes = {"W1[0,0]": big, "W1[0,1]": big, "W1[0,2]": big}  # 10^15 points, 8 PB
    with pytest.raises(MemoryError, match="full_output=False"):
        nndfast.grid_search(NN, nndfast.X, nndfast.y, axes)
    before = _weights(NN)
    np.testing.assert_array_equal(NN.W1, before[0])


_MEMORY_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import nndfast
    from nndfast import _grid

    def peak_mb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024

    rng = np.random.default_rng(0)
    n, threads = int(sys.argv[1]), int(sys.argv[2])
    X, y = rng.uniform(size=(n, 2)), rng.uniform(size=(n, 1))
    np.random.seed(0)
    NN = nndfast.Neural_Network()
    _grid.adaptive_teams(False)   # the team of `threads` runs even on a busy machine
    before = peak_mb()
    r = nndfast.grid_search(NN, X, y, {"W1[0,0]": np.linspace(-5, 5, 200)},
                            full_output=False, num_threads=threads)
    print(peak_mb() - before, r.best_index[0], r.best_cost)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("threads", [1, 2])
def test_best_only_scratch_does_not_grow_with_examples(threads):
    # 10^6 examples (24 MB of data) and one W1 axis of 200 values: the
    # search's peak above the data stays a few MB per thread (it was 1.5 GB);
    # 100 MB leaves room for the allocator and the thread stacks.
    child = popen([sys.executable, "-c", _MEMORY_CHILD, "1000000", str(threads)],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = child.communicate(timeout=300)
    assert child.returncode == 0, stderr
    extra_mb, best, cost = stdout.split()
    print(f"peak above the data: {float(extra_mb):.1f} MB on {threads} thread(s)")
    assert float(extra_mb) < 100
    assert 0 <= int(best) < 200 and np.isfinite(float(cost))


def test_scratch_that_cannot_be_had_is_refused_before_any_work(monkeypatch):
    # qbatch rows of sums per thread: absurdly many make the scratch
    # unallocatable; the search fails at once, with the network untouched.
    monkeypatch.setattr(P, "_ACC_DOUBLES", 2**61)
    NN = _net(seed=16)
    before = _weights(NN)
    calls = []
    with pytest.raises(MemoryError, match="scratch"):
        nndfast.grid_search(NN, nndfast.X, nndfast.y, {"W1[0,0]": np.linspace(-5, 5, 100)},
                            full_output=False, progress=lambda done, total: calls.append(done))
    assert calls in ([], [0])
    np.testing.assert_array_equal(NN.W1, before[0])
    np.testing.assert_array_equal(NN.W2, before[1])


def test_point_count_overflowing_int64_is_refused():
    NN = _net(seed=15)
    big = np.zeros(100_000)
    axes = {f"W1[{i},{j}]": big for i in range(2) for j in range(2)}  # 10^20 points
    for search in SEARCHES:
        with pytest.raises(ValueError, match="int64"):
            search(NN, nndfast.X, nndfast.y, axes, full_output=False)


# -- bad input ------------------------------------------------------------------------

W = np.linspace(-1, 1, 4)
BAD_AXES = [
    ({"W3[0,0]": W}, ValueError, "unknown weight"),
    ({"foo": W}, ValueError, "unknown weight"),
    ({"W1[0]": W}, ValueError, "unknown weight"),
    ({5: W}, ValueError, "unknown weight"),
    ({("W1", 0): W}, ValueError, "unknown weight"),
    ({("W1", 0.0, 1): W}, ValueError, "unknown weight"),
    ({"W1[2,0]": W}, ValueError, "out of range"),
    ({"W1[0,3]": W}, ValueError, "out of range"),
    ({("W2", 0, 1): W}, ValueError, "out of range"),
    ({("W2", -1, 0): W}, ValueError, "out of range"),
    ({"W1[0,0]": W, ("W1", 0, 0): W}, ValueError, "twice"),
    ({"W1[0,0]": W, "W1[ 0 , 0 ]": W}, ValueError, "twice"),
    ({"W1[0,0]": []}, ValueError, "empty"),
    ({"W1[0,0]": np.zeros((2, 2))}, ValueError, "1-D"),
    ({"W1[0,0]": 1.0}, ValueError, "1-D"),
    ({"W1[0,0]": [0.0, np.nan]}, ValueError, "NaN or inf"),
    ({"W1[0,0]": [np.inf]}, ValueError, "NaN or inf"),
    ({"W1[0,0]": ["a", "b"]}, TypeError, "numeric"),
    ({}, ValueError, "at least one"),
    ([("W1[0,0]", W)], TypeError, "mapping"),
    (None, TypeError, "mapping"),
]


@pytest.mark.parametrize("search", SEARCHES, ids=["nndfast", "reference"])
@pytest.mark.parametrize("axes,exc,match", BAD_AXES)
def test_bad_axes(search, axes, exc, match):
    NN = _net(seed=16)
    before = _weights(NN)
    with pytest.raises(exc, match=match):
        search(NN, nndfast.X, nndfast.y, axes)
    np.testing.assert_array_equal(NN.W1, before[0])
    np.testing.assert_array_equal(NN.W2, before[1])


@pytest.mark.parametrize("search", SEARCHES, ids=["nndfast", "reference"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 4095, 4096, 9999])
def test_non_finite_value_anywhere_in_a_long_axis(search, bad, where):
    # the compiled check reads the axis in blocks of 4096 values
    w = np.linspace(-5, 5, 10000)
    w[where] = bad
    with pytest.raises(ValueError, match=r"axes\['W2\[0,0\]'\] contains NaN or inf"):
        search(_net(seed=16), nndfast.X, nndfast.y, {"W2[0,0]": w}, full_output=False)


def test_float64_axes_are_read_in_place_and_never_reach_the_result():
    NN = _net(seed=17)
    w = np.linspace(-5, 5, 3001)
    plan = P.make_plan(NN, nndfast.X, nndfast.y, {"W2[1,0]": w})
    # a 10^8-value axis must not be copied (0.8 GB): the plan reads it in place
    assert np.shares_memory(plan.values, w)
    # other forms are converted into new arrays, which the caller cannot reach
    for other in (w.astype(np.float32), w[::2], list(w[:50]), w.astype(">f8")):
        p = P.make_plan(NN, nndfast.X, nndfast.y, {"W2[1,0]": other})
        assert not np.shares_memory(p.values, w) and p.values.dtype == np.float64
    for search in SEARCHES:
        res = search(NN, nndfast.X, nndfast.y, {"W2[1,0]": w, "W1[0,0]": w[:7]})
        kept = (res.costs.copy(), res.best_cost, res.best_index, dict(res.best_weights))
        w_saved = w.copy()
        w[:] = 7.0                      # the caller edits its axes afterwards
        assert _bits(res.costs) == _bits(kept[0])
        assert (res.best_cost, res.best_index, res.best_weights) == kept[1:]
        assert res.best_weights["W2[1,0]"] == w_saved[res.best_index[0]]
        assert all(type(v) is float for v in res.best_weights.values())
        w[:] = w_saved


@pytest.mark.parametrize("search", SEARCHES, ids=["nndfast", "reference"])
@pytest.mark.parametrize("num_threads,exc", [(0, ValueError), (-2, ValueError),
                                             (1.5, TypeError), ("2", TypeError),
                                             (True, TypeError)])
def test_bad_num_threads(search, num_threads, exc):
    with pytest.raises(exc, match="num_threads"):
        search(_net(), nndfast.X, nndfast.y, {"W1[0,0]": W}, num_threads=num_threads)


@pytest.mark.parametrize("X,y,exc", [
    (np.zeros((3, 3)), nndfast.y, ValueError),
    (nndfast.X, np.zeros((2, 1)), ValueError),
    (nndfast.X, np.zeros((3, 2)), ValueError),
    (np.zeros(3), nndfast.y, ValueError),
    (np.array([["a", "b"]] * 3), nndfast.y, TypeError),
])
def test_bad_data(X, y, exc):
    NN = _net(seed=17)
    before = _weights(NN)
    with pytest.raises(exc):
        nndfast.grid_search(NN, X, y, {"W1[0,0]": W})
    np.testing.assert_array_equal(NN.W1, before[0])


def test_public_api():
    assert nndfast.grid_search is G.grid_search
    assert "grid_search" in nndfast.__all__ and "GridResult" in nndfast.__all__
    res = nndfast.grid_search(_net(), nndfast.X, nndfast.y, {"W1[0,0]": W})
    assert isinstance(res, nndfast.GridResult) and "best_cost" in repr(res)
    assert _grid.simd_isa() in ("avx512", "avx2", "base")


def test_unpickled_plan_with_misaligned_arrays_is_realigned():
    """A Dask worker's copy of a plan may hold arrays at odd byte offsets of
    the message buffer; the kernels must never see them misaligned (found by
    the UBSan job)."""

    np.random.seed(4)
    NN = nndfast.Neural_Network()
    w = np.linspace(-2, 2, 37)
    plan = P.make_plan(NN, nndfast.X, nndfast.y, {"W1[0,0]": w, "W2[1,0]": w})
    state = pickle.loads(pickle.dumps(plan)).__dict__.copy()
    for key, value in list(state.items()):
        if isinstance(value, np.ndarray) and value.size:
            raw = np.empty(value.nbytes + 1, np.uint8)
            odd = raw[1:].view(value.dtype).reshape(value.shape)
            odd[...] = value
            assert not odd.flags.aligned
            state[key] = odd
    copy = P.Plan.__new__(P.Plan)
    copy.__setstate__(state)
    assert all(v.flags.aligned for v in copy.__dict__.values() if isinstance(v, np.ndarray))
    assert P.run_range(copy, 0, copy.n_rows, True, 1)[:2] == \
        P.run_range(plan, 0, plan.n_rows, True, 1)[:2]


def test_plan_builds_its_kernel_once_and_pickles_without_it():
    np.random.seed(5)
    NN = nndfast.Neural_Network()
    w = np.linspace(-2, 2, 29)
    plan = P.make_plan(NN, nndfast.X, nndfast.y, {"W1[0,0]": w, "W2[1,0]": w})
    first = P.run_range(plan, 0, plan.n_rows, True, 1)
    kernel = plan.kernel()
    assert isinstance(kernel, _grid.GridKernel) and plan.kernel() is kernel
    copy = pickle.loads(pickle.dumps(plan))        # a Dask worker's copy builds its own
    assert "_kernel" not in copy.__dict__
    again = P.run_range(copy, 0, copy.n_rows, True, 1)
    assert again[:2] == first[:2] and np.array_equal(again[2], first[2])


# -- fused blocks (several trailing axes in one SIMD row) -----------------------------

@pytest.fixture
def fused(monkeypatch):
    """Plans take a fused block whenever the axes allow one, whatever the grid size."""
    monkeypatch.setattr(P, "_FUSED_MIN_EVALS", 0)
    monkeypatch.setattr(P, "_FUSED_PREFER", float("inf"))


def test_fused_block_kinds_and_folding(fused):
    # W2 axes only, W1 axes on distinct columns, mixed, with a folded first axis
    # (its table moves with the innermost outer axis) and without
    NN = _net(2, 3, 2, seed=31)
    rng = np.random.default_rng(31)
    X, y = rng.normal(size=(4, 2)), rng.uniform(size=(4, 2))
    v = lambda n: rng.normal(scale=2.0, size=n)  # noqa: E731
    cases = [
        {"W2[0,0]": v(5), "W2[1,1]": v(4), "W2[2,0]": v(3)},
        {"W1[0,0]": v(3), "W1[1,0]": v(4), "W1[0,1]": v(5), "W1[1,2]": v(3)},
        {"W1[0,0]": v(4), "W2[1,0]": v(3), "W2[1,1]": v(4), "W1[1,2]": v(5)},
        {"W1[1,1]": v(3), "W1[0,1]": v(4), "W2[0,1]": v(2), "W1[1,0]": v(5),
         "W2[2,0]": v(3)},
    ]
    seen = set()
    for axes in cases:
        plan = P.make_plan(NN, X, y, axes)
        assert plan.nblock > 1
        seen.add(plan.nfold)
        _assert_same(nndfast.grid_search(NN, X, y, axes), reference.grid_search(NN, X, y, axes))
    assert seen == {0, 1}


def test_fused_every_weight_and_thread_counts_bitwise(fused):
    NN = _net(seed=32)
    rng = np.random.default_rng(32)
    # 5^9 ~ 2e6 points: above the kernel's parallel threshold
    axes = {name: rng.normal(scale=2.0, size=5) for name in _names(2, 3, 1)}
    plan = P.make_plan(NN, nndfast.X, nndfast.y, axes)
    assert plan.nblock > 1
    runs = [nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, num_threads=t) for t in (1, 2, 3)]
    for r in runs[1:]:
        assert _bits(r.costs) == _bits(runs[0].costs) and r.best_index == runs[0].best_index
    small = {k: v[:3] for k, v in axes.items()}     # 3^9: the reference's loop is slow
    _assert_same(nndfast.grid_search(NN, nndfast.X, nndfast.y, small),
                 reference.grid_search(NN, nndfast.X, nndfast.y, small))
    flat = int(np.argmin(runs[0].costs))
    assert runs[0].best_index == np.unravel_index(flat, runs[0].costs.shape)


def test_fused_ties_nan_and_extreme_weights(fused):
    NN = _net(seed=33)
    # ties inside a block whose plan order differs from the user's
    for axes in [{"W2[1,0]": [1.0, 1.0, 1.0], "W2[0,0]": [2.0, 2.0], "W1[0,0]": [0.5, 0.5]},
                 {"W1[0,2]": [0.0, 0.0], "W1[1,1]": [1.0, 1.0, 1.0], "W2[0,0]": [3.0] * 4}]:
        fast = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes)
        assert P.make_plan(NN, nndfast.X, nndfast.y, axes).nblock > 1
        flat = int(np.argmin(fast.costs))
        assert fast.best_index == np.unravel_index(flat, fast.costs.shape)
        assert fast.best_index == reference.grid_search(NN, nndfast.X, nndfast.y,
                                                        axes).best_index
        assert nndfast.grid_search(NN, nndfast.X, nndfast.y, axes,
                                   full_output=False).best_index == fast.best_index
    # |z| beyond the exponential tables' range: the per-point path
    axes = {"W2[1,0]": [-900.0, -100.0, 0.0, 400.0], "W2[2,0]": [-300.0, 1.0, 250.0],
            "W1[0,0]": [-50.0, 0.5, 700.0]}
    assert P.make_plan(NN, nndfast.X, nndfast.y, axes).nblock > 1
    fast = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes)
    with np.errstate(over="ignore"):
        _assert_same(fast, reference.grid_search(NN, nndfast.X, nndfast.y, axes))
    # NaN data: NaN everywhere, the first point is the best (np.argmin)
    X = nndfast.X.copy()
    X[2, 1] = np.nan
    axes = {"W2[0,0]": [0.0, 1.0], "W2[1,0]": [1.0, 2.0, 3.0]}
    fast = nndfast.grid_search(NN, X, nndfast.y, axes)
    assert np.isnan(fast.costs).all() and fast.best_index == (0, 0)


def test_shared_hidden_unit_uses_hidden_tables_and_their_fallback():
    # W1[0,0] x W1[1,0]: the innermost axis's activations come from per-tile
    # exponential tables, unless |X * v| leaves their range (large X)
    NN = _net(seed=35)
    axes = {"W1[0,0]": np.linspace(-5, 5, 40), "W1[1,0]": np.linspace(-5, 5, 50)}
    for scale in (1.0, 100.0):
        X = nndfast.X * scale
        with np.errstate(over="ignore"):
            _assert_same(nndfast.grid_search(NN, X, nndfast.y, axes),
                         reference.grid_search(NN, X, nndfast.y, axes))


# -- Part 7: Lambda ---------------------------------------------------------------------

def _part7_surface(NN, X, y, axes, Lambda):
    """The tutorial's loop with Part 7's cost, sum(J) over the outputs (each
    carries 1/outputLayerSize of the penalty, as costFunction has it)."""
    shape = tuple(len(v) for v in axes.values())
    out = np.empty(shape)
    W1, W2 = NN.W1.copy(), NN.W2.copy()
    for idx in np.ndindex(shape):
        for (name, values), i in zip(axes.items(), idx):
            W = W1 if name.startswith("W1") else W2
            r, c = (int(t) for t in name[3:-1].split(","))
            W[r, c] = values[i]
        yHat = 1 / (1 + np.exp(-(1 / (1 + np.exp(-(X @ W1))) @ W2)))
        J = 0.5 * np.sum((y - yHat) ** 2, axis=0) / X.shape[0] \
            + (Lambda / 2) * (np.sum(W1 ** 2) + np.sum(W2 ** 2)) / y.shape[1]
        out[idx] = np.sum(J)
    return out


@pytest.mark.parametrize("Lambda", [0.0, 1e-4, 0.7])
@pytest.mark.parametrize("I,H,O", [(2, 3, 1), (3, 2, 2)])
@pytest.mark.parametrize("force_fused", [False, True])
def test_lambda_surface_is_part7_cost(monkeypatch, Lambda, I, H, O, force_fused):
    if force_fused:
        monkeypatch.setattr(P, "_FUSED_MIN_EVALS", 0)
        monkeypatch.setattr(P, "_FUSED_PREFER", float("inf"))
    rng = np.random.default_rng(int(Lambda * 10) + 10 * I + O)
    NN = _net(I, H, O, seed=36)
    NN.Lambda = Lambda
    names = _names(I, H, O)
    X, y = rng.uniform(size=(5, I)), rng.uniform(size=(5, O))
    for m in (1, 2, 3):
        sel = rng.choice(len(names), m, replace=False)
        axes = {names[s]: rng.normal(scale=2.0, size=int(rng.integers(2, 6))) for s in sel}
        fast = nndfast.grid_search(NN, X, y, axes)
        expected = _part7_surface(NN, X, y, axes, Lambda)
        np.testing.assert_allclose(fast.costs, expected, rtol=RTOL, atol=ATOL)
        ref = reference.Neural_Network(I, H, O, Lambda=Lambda)
        ref.W1, ref.W2 = NN.W1.copy(), NN.W2.copy()
        _assert_same(fast, reference.grid_search(ref, X, y, axes))
        assert fast.best_index == np.unravel_index(np.argmin(expected), expected.shape)
        assert nndfast.grid_search(NN, X, y, axes, full_output=False).best_index == \
            fast.best_index


def test_lambda_zero_still_divides_by_n_and_none_does_not():
    NN = _net(seed=37)
    axes = {"W1[0,0]": np.linspace(-2, 2, 7), "W2[1,0]": np.linspace(-3, 3, 5)}
    plain = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes)
    NN.Lambda = 0.0
    zero = nndfast.grid_search(NN, nndfast.X, nndfast.y, axes)
    np.testing.assert_allclose(zero.costs, plain.costs / nndfast.X.shape[0], rtol=RTOL)
    NN.Lambda = None
    assert _bits(nndfast.grid_search(NN, nndfast.X, nndfast.y, axes).costs) == _bits(plain.costs)


@pytest.mark.parametrize("Lambda,exc", [(-1e-4, ValueError), (float("nan"), ValueError),
                                        (float("inf"), ValueError), ("0.1", TypeError),
                                        (True, TypeError), ([0.1], TypeError)])
def test_bad_lambda(Lambda, exc):
    # the reference network takes any attribute; grid_search checks it
    NN = reference.Neural_Network()
    NN.Lambda = Lambda
    with pytest.raises(exc, match="Lambda"):
        nndfast.grid_search(NN, nndfast.X, nndfast.y, {"W1[0,0]": [0.0, 1.0]})


@pytest.mark.parametrize("side", [64, 256])
def test_one_thread_takes_whole_chunks_and_teams_several_per_thread(side):
    # each chunk builds its tables once: one thread runs a small grid as one
    # chunk (16 chunks of 4 rows ran a 64 x 64 grid at half the rate), a team
    # gets _CHUNKS_PER_THREAD chunks per thread where each keeps
    # _MIN_TEAM_CHUNK_ROWS rows, else fewer (64 rows on 2 threads: one
    # each); the bits never change
    NN = _net(seed=11)
    rng = np.random.default_rng(11)
    X, y = rng.random((3000, 2)), rng.random((3000, 1))
    axes = {"W1[0,0]": np.linspace(-3, 3, side), "W2[1,0]": np.linspace(-2, 2, side)}
    plan = P.make_plan(NN, X, y, axes)
    assert plan.n_rows == side
    assert plan.chunk_for(1) == plan.chunk_rows >= min(plan.n_rows, 128)
    chunks = {nt: -(-plan.n_rows // plan.chunk_for(nt)) for nt in (2, 3)}
    # 64 rows: 32 and 21 rows a thread, under 2 * _MIN_TEAM_CHUNK_ROWS, so
    # one chunk each; 256 rows: 4 chunks of 32 a thread on 2 threads, 3 of
    # 29 on 3
    assert chunks == ({2: 2, 3: 3} if side == 64 else {2: 8, 3: 9}), chunks
    runs = [nndfast.grid_search(NN, X, y, axes, num_threads=nt) for nt in (1, 2, 3)]
    for r in runs[1:]:
        assert _bits(r.costs) == _bits(runs[0].costs)
        assert (r.best_index, r.best_cost) == (runs[0].best_index, runs[0].best_cost)
    _assert_same(runs[0], reference.grid_search(NN, X, y, axes))
