"""nndfast.Neural_Network against nndfast.reference, the tutorial's numpy code.

Every fast method is cross-checked at rtol 1e-12 (see conftest.assert_close
for the one place a scale enters: sums whose terms cancel).  Sizes are chosen
to cross the kernels' 256-row chunk and the tiny/parallel work threshold
(rows * H * (I + O) = 65536).
"""
import copy
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nndfast
from nndfast import reference

from conftest import (RTOL, assert_close, cost_scale, data, forward_scales,
                      gradient_scales, pair)

EPS = np.finfo(float).eps
ROW_COUNTS = [0, 1, 3, 255, 256, 257, 5000]
SLOW = settings(deadline=None, max_examples=40,
                suppress_health_check=[HealthCheck.too_slow])


def crosscheck(fast, ref, X, y):
    """Every method of fast against ref on the same X, y (which may be any
    array-like the reference accepts)."""
    Xf = np.asarray(X, dtype=float)
    yf = np.asarray(y, dtype=float)

    yhat = fast.forward(X)
    yhat_ref = ref.forward(X)
    s2, s3 = forward_scales(ref, Xf)
    assert_close(yhat, yhat_ref)
    assert_close(fast.z2, ref.z2, scale=s2)
    assert_close(fast.a2, ref.a2)
    assert_close(fast.z3, ref.z3, scale=s3)

    J = fast.costFunction(X, y)
    J_ref = ref.costFunction(X, y)
    assert J.shape == (ref.outputLayerSize,)
    assert_close(J, J_ref, scale=cost_scale(ref, Xf, yf))
    assert_close(fast.yHat, ref.yHat)
    assert_close(fast.z2, ref.z2, scale=s2)

    g1, g2 = fast.costFunctionPrime(X, y)
    g1_ref, g2_ref = ref.costFunctionPrime(X, y)
    sg1, sg2 = gradient_scales(ref, Xf, yf)
    assert_close(g1, g1_ref, scale=sg1)
    assert_close(g2, g2_ref, scale=sg2)
    assert_close(fast.yHat, ref.yHat)
    assert_close(fast.a2, ref.a2)

    grads = fast.computeGradients(X, y)
    assert np.array_equal(grads, np.concatenate((g1.ravel(), g2.ravel())))
    assert_close(grads, ref.computeGradients(X, y),
                 scale=np.concatenate((sg1.ravel(), sg2.ravel())))

    assert np.array_equal(fast.getParams(), ref.getParams())


# -- the tutorial data ---------------------------------------------------------

def test_tutorial_data_is_the_tutorials():
    X_raw = np.array(([3, 5], [5, 1], [10, 2]), dtype=float)
    assert np.array_equal(nndfast.X, X_raw / np.amax(X_raw, axis=0))
    assert np.array_equal(nndfast.y, np.array(([75], [82], [93]), dtype=float) / 100)
    assert np.array_equal(nndfast.X, reference.X) and np.array_equal(nndfast.y, reference.y)
    assert nndfast.X.shape == (3, 2) and nndfast.y.shape == (3, 1)


@pytest.mark.parametrize("seed", range(8))
def test_tutorial_data_crosscheck(seed):
    fast, ref = pair(seed)
    crosscheck(fast, ref, nndfast.X, nndfast.y)


def test_star_import_gives_the_tutorial_names():
    ns = {}
    exec("from nndfast import *", ns)
    for name in ("X", "y", "Neural_Network", "computeNumericalGradient"):
        assert name in ns


# -- random layer sizes, example counts and weights ---------------------------

# (n, I, H, O): each side of the 256-row chunk and of the tiny/parallel threshold.
EDGE_SHAPES = [
    (0, 2, 3, 1), (1, 2, 3, 1), (3, 2, 3, 1), (255, 2, 3, 1), (256, 2, 3, 1),
    (257, 2, 3, 1), (5000, 2, 3, 1),            # tiny path, up to 20 chunks
    (5000, 2, 16, 1), (5000, 2, 64, 1),         # parallel path
    (341, 2, 64, 1), (342, 2, 64, 1),           # work just below / above 65536
    (300, 2, 700, 1), (1000, 8, 32, 1),         # fused kernel: 8-row tiles, 8 inputs
    (600, 9, 40, 1), (523, 3, 33, 2),           # fused kernel, a pass per input / output
    (257, 8, 64, 4), (1, 1, 1, 1), (3, 1, 1, 1), (4096, 7, 5, 3),
]


@pytest.mark.parametrize("n,I,H,O", EDGE_SHAPES)
def test_edge_shapes_crosscheck(n, I, H, O):
    fast, ref = pair(n + 100 * H, inputLayerSize=I, hiddenLayerSize=H, outputLayerSize=O)
    X, y = data(n, n, I, O)
    crosscheck(fast, ref, X, y)


@SLOW
@given(seed=st.integers(0, 2**32 - 1),
       n=st.one_of(st.sampled_from(ROW_COUNTS), st.integers(0, 600)),
       I=st.integers(1, 8), H=st.integers(1, 70), O=st.integers(1, 4),
       wscale=st.sampled_from([0.05, 1.0, 3.0]), xscale=st.sampled_from([0.5, 2.0]))
def test_random_networks_crosscheck(seed, n, I, H, O, wscale, xscale):
    fast, ref = pair(seed, inputLayerSize=I, hiddenLayerSize=H, outputLayerSize=O)
    ref.W1 = ref.W1 * wscale
    ref.W2 = ref.W2 * wscale
    fast.W1 = ref.W1.copy()
    fast.W2 = ref.W2.copy()
    X, y = data(seed, n, I, O, scale=xscale)
    crosscheck(fast, ref, X, y)


def test_get_and_set_params_match_reference():
    fast, ref = pair(3, inputLayerSize=3, hiddenLayerSize=5, outputLayerSize=2)
    p = fast.getParams()
    assert p.shape == (3 * 5 + 5 * 2,) and p.dtype == np.float64
    assert np.array_equal(p, ref.getParams())
    p[0] = 99.0                       # a new vector, not a view of W1
    assert fast.W1[0, 0] != 99.0
    q = np.random.default_rng(0).normal(size=p.shape)
    fast.setParams(q)
    ref.setParams(q)
    assert np.array_equal(fast.W1, ref.W1) and np.array_equal(fast.W2, ref.W2)
    assert np.array_equal(fast.getParams(), q)
    X, y = data(1, 10, 3, 2)
    crosscheck(fast, ref, X, y)


@pytest.mark.parametrize("seed,n", [(0, 3), (1, 3), (2, 40), (3, 600)])
def test_computeNumericalGradient(seed, n):
    fast, ref = pair(seed)
    if n == 3:
        X, y = nndfast.X, nndfast.y
    else:
        X, y = data(seed, n, 2, 1)
    e = 1e-4
    num = nndfast.computeNumericalGradient(fast, X, y)
    num_ref = reference.computeNumericalGradient(ref, X, y)
    # (J(w+e) - J(w-e)) / 2e turns a few ulp of J into few*eps*J/2e of error.
    J = float(np.sum(ref.costFunction(X, y)))
    assert_close(num, num_ref, scale=16 * EPS * J / (2 * e) / RTOL)
    # The parameters are restored exactly.
    assert np.array_equal(fast.getParams(), ref.getParams())
    # The tutorial's check: backprop agrees with the numerical gradient.
    grad = fast.computeGradients(X, y)
    assert np.linalg.norm(grad - num) / np.linalg.norm(grad + num) < 1e-8
    # nndfast's function is the tutorial's on any network, bitwise.
    _, ref2 = pair(seed)
    assert np.array_equal(nndfast.computeNumericalGradient(ref2, X, y), num_ref)


# -- the tutorial's way of using the network ----------------------------------

@pytest.mark.parametrize("seed", [0, 1, 42])
def test_tutorial_usage_seed_construct_mutate_in_place(seed):
    X, y = nndfast.X, nndfast.y
    np.random.seed(seed)
    NN = nndfast.Neural_Network()
    np.random.seed(seed)
    RN = reference.Neural_Network()
    assert (NN.inputLayerSize, NN.hiddenLayerSize, NN.outputLayerSize) == (2, 3, 1)
    assert NN.W1.shape == (2, 3) and NN.W2.shape == (3, 1)
    assert np.array_equal(NN.W1, RN.W1) and np.array_equal(NN.W2, RN.W2)
    weightsToTry = np.linspace(-5, 5, 201)
    costs = np.zeros(201)
    costs_ref = np.zeros(201)
    for i in range(201):
        NN.W1[0, 0] = weightsToTry[i]
        RN.W1[0, 0] = weightsToTry[i]
        assert_close(NN.forward(X), RN.forward(X))
        costs[i] = NN.costFunction(X, y)[0]
        costs_ref[i] = RN.costFunction(X, y)[0]
    assert_close(costs, costs_ref)
    assert weightsToTry[np.argmin(costs)] == weightsToTry[np.argmin(costs_ref)]
    # Two weights, as the tutorial's 2-D brute force does (on a coarse grid).
    for a in (-2.0, 0.5, 3.0):
        for b in (-1.0, 2.0):
            NN.W1[0, 0], NN.W1[0, 1] = a, b
            RN.W1[0, 0], RN.W1[0, 1] = a, b
            assert_close(NN.costFunction(X, y), RN.costFunction(X, y))


def test_in_place_edits_of_W2_and_large_calls_take_effect():
    fast, ref = pair(5, hiddenLayerSize=64)
    X, y = data(5, 2000, 2, 1)            # parallel path
    for v in (-3.0, 0.0, 2.5):
        fast.W2[7, 0] = v
        ref.W2[7, 0] = v
        fast.W1[1, 63] = -v
        ref.W1[1, 63] = -v
        assert_close(fast.costFunction(X, y), ref.costFunction(X, y),
                     scale=cost_scale(ref, X, y))


def test_replacing_weight_arrays_takes_effect():
    fast, ref = pair(7)
    X, y = nndfast.X, nndfast.y
    rng = np.random.default_rng(7)
    W1, W2 = rng.normal(size=(2, 3)), rng.normal(size=(3, 1))
    fast.W1, ref.W1 = W1, W1.copy()
    fast.W2, ref.W2 = W2, W2.copy()
    crosscheck(fast, ref, X, y)
    # A C-contiguous float64 array is kept, so edits through it are seen, as
    # in the tutorial (where NN.W1 *is* the array).
    W1[0, 0] = 4.0
    ref.W1[0, 0] = 4.0
    assert_close(fast.forward(X), ref.forward(X))
    # Other layouts and dtypes are converted; the values are what counts.
    fast.W1 = np.asfortranarray(ref.W1 * 2)
    ref.W1 = ref.W1 * 2
    fast.W2 = (ref.W2 * 3).tolist()
    ref.W2 = ref.W2 * 3
    crosscheck(fast, ref, X, y)
    fast.W1[0, 1] = -1.5                   # in place on the converted copy
    ref.W1[0, 1] = -1.5
    crosscheck(fast, ref, X, y)
    # setParams replaces both arrays.
    p = rng.normal(size=9)
    fast.setParams(p)
    ref.setParams(p)
    crosscheck(fast, ref, X, y)
    fast.setParams(list(p * 0.5))          # any real 1-D sequence
    ref.setParams(p * 0.5)
    crosscheck(fast, ref, X, y)


def test_keyword_and_positional_layer_sizes():
    np.random.seed(11)
    NN = nndfast.Neural_Network(inputLayerSize=4, hiddenLayerSize=5, outputLayerSize=2)
    np.random.seed(11)
    RN = reference.Neural_Network(4, 5, 2)
    assert (NN.inputLayerSize, NN.hiddenLayerSize, NN.outputLayerSize) == (4, 5, 2)
    assert NN.W1.shape == (4, 5) and NN.W2.shape == (5, 2)
    assert NN.W1.dtype == np.float64 and NN.W2.dtype == np.float64
    assert np.array_equal(NN.W1, RN.W1) and np.array_equal(NN.W2, RN.W2)
    NN2 = nndfast.Neural_Network(hiddenLayerSize=np.int64(6))
    assert NN2.W1.shape == (2, 6) and NN2.W2.shape == (6, 1)
    X, y = data(0, 9, 4, 2)
    crosscheck(NN, RN, X, y)


def _calls(X, y):
    return {
        "forward": lambda N: N.forward(X),
        "costFunction": lambda N: N.costFunction(X, y),
        "costFunctionPrime": lambda N: N.costFunctionPrime(X, y),
        "computeGradients": lambda N: N.computeGradients(X, y),
    }


@pytest.mark.parametrize("n,H", [(3, 3), (2000, 64)], ids=["tiny", "parallel"])
def test_returned_arrays_are_not_changed_by_later_calls(n, H):
    fast, _ = pair(0, hiddenLayerSize=H)
    X, y = data(0, n, 2, 1)
    X2, y2 = data(1, n, 2, 1)
    held = []
    for name, call in _calls(X, y).items():
        out = call(fast)
        outs = list(out) if isinstance(out, tuple) else [out]
        for attr in ("z2", "a2", "z3", "yHat"):
            if hasattr(fast, attr):
                outs.append(getattr(fast, attr))
        held += [(name, o, o.copy()) for o in outs]
        for other in _calls(X2, y2).values():
            other(fast)
        fast.W1[0, 0] += 0.5
    for other in _calls(X, y).values():
        other(fast)
    for name, obj, snapshot in held:
        assert np.array_equal(obj, snapshot), name


OPS = ["forward", "costFunction", "costFunctionPrime", "computeGradients",
       "setParams", "W1_in_place", "read"]


@settings(deadline=None, max_examples=60)
@given(H=st.sampled_from([3, 64]),
       ops=st.lists(st.tuples(st.sampled_from(OPS), st.sampled_from([0, 1, 3, 5, 400])),
                    min_size=1, max_size=12))
def test_cached_attributes_follow_the_last_call_that_sets_them(H, ops):
    """z2/a2/z3 follow forward and the cost calls; yHat follows the cost calls
    only (forward does not set it, as in the reference), across tiny and
    parallel calls in any order."""
    fast, ref = pair(H, hiddenLayerSize=H)
    rng = np.random.default_rng(H)
    for op, n in ops:
        X, y = data(n * 7 + len(op), n, 2, 1)
        if op == "setParams":
            p = rng.normal(size=ref.getParams().shape)
            fast.setParams(p)
            ref.setParams(p.copy())
        elif op == "W1_in_place":
            fast.W1[1, 0] = ref.W1[1, 0] = rng.normal()
        elif op == "read":
            pass
        else:
            _calls(X, y)[op](fast)
            _calls(X, y)[op](ref)
        for attr in ("z2", "a2", "z3", "yHat"):
            assert hasattr(fast, attr) == hasattr(ref, attr), (attr, op)
            if hasattr(ref, attr):
                # |X| <= 1 and N(0, 1) weights: |z| terms are O(1), so an
                # absolute 1e-11 on z is ~1e5 ulp, far below any other call's z
                assert_close(getattr(fast, attr), getattr(ref, attr),
                             scale=10.0 if attr in ("z2", "z3") else None)


@pytest.mark.parametrize("state", ["fresh", "tiny_forward", "tiny_cost", "parallel_cost"])
def test_pickle_and_deepcopy(state):
    H = 64 if state == "parallel_cost" else 3
    fast, _ = pair(2, hiddenLayerSize=H)
    X, y = data(2, 2000 if state == "parallel_cost" else 3, 2, 1)
    if state == "tiny_forward":
        fast.forward(X)
    elif state in ("tiny_cost", "parallel_cost"):
        fast.costFunction(X, y)
    cached = {a: getattr(fast, a).copy() for a in ("z2", "a2", "z3", "yHat")
              if hasattr(fast, a)}
    for clone in (pickle.loads(pickle.dumps(fast)), copy.deepcopy(fast)):
        assert type(clone) is nndfast.Neural_Network
        assert np.array_equal(clone.W1, fast.W1) and np.array_equal(clone.W2, fast.W2)
        for attr in ("z2", "a2", "z3", "yHat"):
            assert hasattr(clone, attr) == (attr in cached), attr
            if attr in cached:
                assert np.array_equal(getattr(clone, attr), cached[attr])
        other = pair(2, hiddenLayerSize=H)[0]
        assert np.array_equal(clone.forward(X), other.forward(X))
        assert np.array_equal(clone.costFunction(X, y), other.costFunction(X, y))
        clone.W1[0, 0] += 1.0             # the clone owns its weights
        assert clone.W1[0, 0] != fast.W1[0, 0]
        clone.forward(X[:1])
        for attr, value in cached.items():  # the original's caches are its own
            assert np.array_equal(getattr(fast, attr), value)


# -- the stable sigmoid --------------------------------------------------------

def _exact_sigmoid(z):
    import math
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    return math.exp(z) / (1.0 + math.exp(z))


def _exact_sigmoid_prime(z):
    import math
    t = math.exp(-abs(z))
    return t / (1.0 + t) ** 2


EXTREMES = [-np.inf, -1e308, -1000.0, -746.0, -745.0, -710.0, -709.0, -708.0, -355.0,
            -40.0, -1.0, -0.0, 0.0, 1e-300, 1.0, 40.0, 355.0, 708.0, 709.0, 710.0,
            745.0, 746.0, 1000.0, 1e308, np.inf]


def test_sigmoid_at_extreme_inputs_no_warnings_no_nan():
    NN = nndfast.Neural_Network()
    z = np.array(EXTREMES)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s = NN.sigmoid(z)
        sp = NN.sigmoidPrime(z)
        s_scalars = [NN.sigmoid(v) for v in EXTREMES]
        sp_scalars = [NN.sigmoidPrime(v) for v in EXTREMES]
    assert np.array_equal(s, s_scalars) and np.array_equal(sp, sp_scalars)
    assert not np.isnan(s).any() and not np.isnan(sp).any()
    assert ((s >= 0) & (s <= 1)).all() and ((sp >= 0) & (sp <= 0.25)).all()
    assert NN.sigmoid(0.0) == 0.5 and NN.sigmoidPrime(0.0) == 0.25
    assert NN.sigmoid(1000.0) == 1.0 and NN.sigmoid(-1000.0) == 0.0
    assert NN.sigmoid(np.inf) == 1.0 and NN.sigmoid(-np.inf) == 0.0
    assert NN.sigmoidPrime(np.inf) == 0.0 and NN.sigmoidPrime(-np.inf) == 0.0
    # Against the exact value: rtol 1e-12 where it is a normal double, within a
    # few subnormal ulp (1e-322) where it underflows.
    exp_s = np.array([_exact_sigmoid(v) for v in z])
    exp_sp = np.array([_exact_sigmoid_prime(v) for v in z])
    tiny = np.finfo(float).tiny
    for got, want in ((s, exp_s), (sp, exp_sp)):
        normal = np.abs(want) >= tiny
        assert_close(got[normal], want[normal])
        assert np.all(np.abs(got[~normal] - want[~normal]) <= 1e-322)
    # f' is even: f'(-z) == f'(z) exactly (EXTREMES is symmetric up to -0.0, 1e-300)
    assert np.array_equal(sp, sp[::-1])


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 60, reason="needs x87 long double")
def test_sigmoid_within_documented_ulps():
    # _fastmath.h promises sigmoid within 2.5 ulp and f' within 4.5 of the
    # exact value; long double (64-bit mantissa) stands in for exact, to 1/2000 ulp.
    NN = nndfast.Neural_Network()
    rng = np.random.default_rng(7)
    z = np.concatenate([rng.uniform(-1, 1, 20000), rng.uniform(-40, 40, 20000),
                        rng.uniform(-700, 0, 5000), np.linspace(-0.4, 0.4, 2001)])
    t = np.exp(-np.abs(z.astype(np.longdouble)))
    want_s = np.where(z >= 0, 1 / (1 + t), t / (1 + t))
    want_sp = t / (1 + t) ** 2
    for got, want, bound in ((NN.sigmoid(z), want_s, 2.5), (NN.sigmoidPrime(z), want_sp, 4.5)):
        normal = want >= np.finfo(float).tiny
        ulp = np.spacing(want[normal].astype(float))
        err = np.abs(got[normal].astype(np.longdouble) - want[normal]) / ulp
        assert err.max() <= bound, (err.max(), z[normal][np.argmax(err)])
    # saturation is exact, not an ulp short of 1
    assert (NN.sigmoid(np.linspace(37.5, 800, 1000)) == 1.0).all()


def test_sigmoid_prime_finite_where_reference_gives_nan():
    NN = nndfast.Neural_Network()
    RN = reference.Neural_Network()
    z = np.array([-1000.0, -746.0, -745.0, -710.0])
    with np.errstate(all="ignore"):
        assert np.isnan(RN.sigmoidPrime(z)).all()      # the tutorial's formula
    got = NN.sigmoidPrime(z)
    assert np.isfinite(got).all()
    want = np.array([_exact_sigmoid_prime(v) for v in z])
    assert np.all(np.abs(got - want) <= 1e-322)


def _reference_clean(f, z):
    """Mask of z where the reference's f computes without an FP exception."""
    ok = np.zeros(z.shape, bool)
    for i, v in enumerate(z):
        try:
            with np.errstate(all="raise"):
                r = f(np.float64(v))
            ok[i] = np.isfinite(r)
        except FloatingPointError:
            pass
    return ok


def test_sigmoid_crosscheck_wherever_the_reference_is_finite():
    NN = nndfast.Neural_Network()
    RN = reference.Neural_Network()
    z = np.concatenate([np.linspace(-800, 800, 3201), np.linspace(-40, 40, 2001),
                        np.random.default_rng(0).normal(0, 5, 2000)])
    for fast_f, ref_f in ((NN.sigmoid, RN.sigmoid), (NN.sigmoidPrime, RN.sigmoidPrime)):
        ok = _reference_clean(ref_f, z)
        assert ok.sum() > 5000
        with np.errstate(all="ignore"):
            assert_close(fast_f(z)[ok], ref_f(z)[ok])


@settings(deadline=None, max_examples=200)
@given(z=st.lists(st.floats(allow_nan=False), min_size=1, max_size=50))
def test_sigmoid_any_float_matches_the_exact_value(z):
    NN = nndfast.Neural_Network()
    z = np.array(z)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s, sp = NN.sigmoid(z), NN.sigmoidPrime(z)
    tiny = np.finfo(float).tiny
    for got, exact in ((s, _exact_sigmoid), (sp, _exact_sigmoid_prime)):
        want = np.array([exact(v) for v in z])
        normal = want >= tiny
        assert_close(got[normal], want[normal])
        assert np.all(np.abs(got[~normal] - want[~normal]) <= 1e-322)


@pytest.mark.parametrize("n,H", [(3, 3), (2000, 64)], ids=["tiny", "parallel"])
def test_nan_and_inf_inputs_propagate_like_the_reference(n, H):
    fast, ref = pair(0, hiddenLayerSize=H)
    X, y = data(0, n, 2, 1)
    X[0, 0], X[1, 1], X[2, 0] = np.nan, np.inf, -np.inf
    y[1, 0] = np.nan
    with np.errstate(all="ignore"):
        pairs = [(fast.forward(X), ref.forward(X)), (fast.a2, ref.a2),
                 (fast.costFunction(X, y), ref.costFunction(X, y))]
        pairs += list(zip(fast.costFunctionPrime(X, y), ref.costFunctionPrime(X, y)))
    for got, want in pairs:
        assert np.array_equal(np.isnan(got), np.isnan(want))
        ok = np.isfinite(want)
        assert np.array_equal(got[~ok & ~np.isnan(want)], want[~ok & ~np.isnan(want)])
        assert_close(got[ok], want[ok], scale=np.abs(want[ok]).max(initial=0.0))


@pytest.mark.parametrize("shape", [(), (1,), (7,), (3, 4), (2, 3, 4), (0,), (2, 0)])
def test_sigmoid_shapes_and_layouts(shape):
    NN = nndfast.Neural_Network()
    RN = reference.Neural_Network()
    z = np.random.default_rng(1).normal(0, 4, shape)
    for fast_f, ref_f in ((NN.sigmoid, RN.sigmoid), (NN.sigmoidPrime, RN.sigmoidPrime)):
        got = fast_f(z)
        assert np.shape(got) == np.shape(z)
        assert_close(got, ref_f(z))
        if z.ndim == 2:
            assert_close(fast_f(np.asfortranarray(z)), ref_f(z))
            assert_close(fast_f(z[:, ::-1]), ref_f(z[:, ::-1]))
    assert_close(NN.sigmoid([1, 2, 3]), RN.sigmoid(np.array([1, 2, 3])))
    assert_close(NN.sigmoid(2), RN.sigmoid(2))


def test_forward_with_huge_weights_stays_finite_and_quiet():
    fast, _ = pair(9, hiddenLayerSize=16)
    fast.W1 = fast.W1 * 1e4
    fast.W2 = fast.W2 * 1e4
    for n in (3, 5000):
        X, y = data(n, n, 2, 1, scale=10.0)
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            yhat = fast.forward(X)
            J = fast.costFunction(X, y)
            g1, g2 = fast.costFunctionPrime(X, y)
        for arr in (yhat, fast.a2, J, g1, g2):
            assert np.isfinite(arr).all()
        assert np.array_equal(fast.a2, fast.sigmoid(fast.z2))
        assert np.array_equal(fast.yHat, fast.sigmoid(fast.z3))


# -- bad input -------------------------------------------------------------------

BAD_X = [
    ("3 columns", lambda X: np.hstack([X, X[:, :1]]), ValueError, r"2 columns.*inputLayerSize"),
    ("1 column", lambda X: X[:, :1], ValueError, r"2 columns.*inputLayerSize"),
    ("1-D", lambda X: X[0], ValueError, r"2-D"),
    ("3-D", lambda X: X[None], ValueError, r"2-D"),
    ("0-D", lambda X: np.float64(1.0), ValueError, r"2-D"),
    ("object", lambda X: X.astype(object), TypeError, r"numeric"),
    ("string", lambda X: X.astype(str), TypeError, r"numeric"),
    ("complex", lambda X: X.astype(complex), TypeError, r"numeric"),
    ("ragged", lambda X: [[1.0, 2.0], [3.0]], TypeError, r"numeric"),
    ("None", lambda X: None, TypeError, r"numeric"),
]

BAD_Y = [
    ("too few rows", lambda y: y[:-1], ValueError, r"one row per row of X"),
    ("too many rows", lambda y: np.vstack([y, y]), ValueError, r"one row per row of X"),
    ("2 columns", lambda y: np.hstack([y, y]), ValueError, r"1 columns.*outputLayerSize"),
    ("1-D", lambda y: y.ravel(), ValueError, r"2-D"),
    ("3-D", lambda y: y[None], ValueError, r"2-D"),
    ("object", lambda y: y.astype(object), TypeError, r"numeric"),
    ("string", lambda y: y.astype(str), TypeError, r"numeric"),
    ("complex", lambda y: y.astype(complex), TypeError, r"numeric"),
]

METHODS_X = ["forward", "costFunction", "costFunctionPrime", "computeGradients"]
METHODS_XY = ["costFunction", "costFunctionPrime", "computeGradients"]
SIZES = pytest.mark.parametrize("n,H", [(3, 3), (2000, 64)], ids=["tiny", "parallel"])


def _call(N, method, X, y):
    if method == "forward":
        return N.forward(X)
    return getattr(N, method)(X, y)


BAD_CALLS = ([("X", m) + c for m in METHODS_X for c in BAD_X]
             + [("y", m) + c for m in METHODS_XY for c in BAD_Y])


@SIZES
@pytest.mark.parametrize("arg,method,label,make,exc,message", BAD_CALLS,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in BAD_CALLS])
def test_bad_input_raises_naming_what_was_expected(arg, method, label, make, exc, message,
                                                   n, H):
    fast, ref = pair(0, hiddenLayerSize=H)
    X, y = data(0, n, 2, 1)
    bad_X, bad_y = (make(X), y) if arg == "X" else (X, make(y))
    with pytest.raises(exc, match=message):
        _call(fast, method, bad_X, bad_y)
    # the failed call leaves the network usable
    crosscheck(fast, ref, X, y)


def test_bad_y_column_message_for_other_output_sizes():
    fast = nndfast.Neural_Network(inputLayerSize=3, outputLayerSize=2)
    X, y = data(0, 4, 3, 2)
    with pytest.raises(ValueError, match=r"2 columns.*outputLayerSize"):
        fast.costFunction(X, y[:, :1])
    with pytest.raises(ValueError, match=r"3 columns.*inputLayerSize"):
        fast.forward(X[:, :2])


def _readonly(A):
    A = np.array(A)
    A.setflags(write=False)
    return A


def _strided_rows(A):
    return np.repeat(A, 2, axis=0)[::2]


def _strided_cols(A):
    return np.repeat(A, 2, axis=1)[:, ::2]


ACCEPTED = [
    ("int", lambda A: np.rint(A * 10).astype(np.int64)),
    ("int32", lambda A: np.rint(A * 10).astype(np.int32)),
    ("float32", lambda A: A.astype(np.float32)),
    ("bool", lambda A: A > 0.3),
    ("read-only", _readonly),
    ("fortran", np.asfortranarray),
    ("strided rows", _strided_rows),
    ("strided cols", _strided_cols),
    ("reversed", lambda A: A[::-1, ::-1]),
    ("big-endian", lambda A: A.astype(">f8")),
    ("list", lambda A: A.tolist()),
]


@SIZES
@pytest.mark.parametrize("kind", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepted_layouts_and_dtypes_give_the_reference_answer(kind, n, H):
    _, make = kind
    fast, ref = pair(4, hiddenLayerSize=H)
    X, y = data(4, n, 2, 1)
    Xk, yk = make(X), make(y)
    # the reference sees the same (converted for lists) values
    Xr = np.asarray(Xk) if isinstance(Xk, list) else Xk
    yr = np.asarray(yk) if isinstance(yk, list) else yk
    yhat = fast.forward(Xk)
    assert yhat.dtype == np.float64 and yhat.shape == (n, 1)
    crosscheck(fast, ref, Xr, yr)
    assert np.array_equal(fast.costFunction(Xk, yk), fast.costFunction(Xr, yr))


def test_read_only_weights_are_accepted():
    fast, ref = pair(8)
    fast.W1 = _readonly(ref.W1)
    fast.W2 = _readonly(ref.W2)
    crosscheck(fast, ref, nndfast.X, nndfast.y)
    X, y = data(8, 3000, 2, 1)
    crosscheck(fast, ref, X, y)


@pytest.mark.parametrize("kw", ["inputLayerSize", "hiddenLayerSize", "outputLayerSize"])
@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-1, ValueError), (2.5, TypeError),
                                     (True, TypeError), (None, TypeError), ("3", TypeError),
                                     (3.0, TypeError)])
def test_bad_layer_sizes_raise(kw, bad, exc):
    with pytest.raises(exc, match=kw):
        nndfast.Neural_Network(**{kw: bad})


@pytest.mark.parametrize("bad,exc,message", [
    (np.zeros(8), ValueError, r"length 9"),
    (np.zeros(10), ValueError, r"length 9"),
    (np.zeros((3, 3)), ValueError, r"1-D.*length 9"),
    (np.zeros(9, complex), TypeError, r"real numeric"),
    (np.array(["a"] * 9), TypeError, r"real numeric"),
])
def test_setParams_with_the_wrong_vector_raises(bad, exc, message):
    fast, ref = pair(6)
    before = fast.getParams()
    with pytest.raises(exc, match=message):
        fast.setParams(bad)
    assert np.array_equal(fast.getParams(), before)
    crosscheck(fast, ref, nndfast.X, nndfast.y)


@pytest.mark.parametrize("attr,bad,exc", [
    ("W1", np.zeros(6), ValueError), ("W2", np.zeros((3, 1, 1)), ValueError),
    ("W2", np.zeros((3, 1), complex), TypeError), ("W1", "weights", TypeError),
])
def test_assigning_bad_weights_raises(attr, bad, exc):
    fast, ref = pair(6)
    with pytest.raises(exc, match=attr):
        setattr(fast, attr, bad)
    crosscheck(fast, ref, nndfast.X, nndfast.y)


@pytest.mark.parametrize("attr,bad", [("W1", np.zeros((3, 2))), ("W2", np.zeros((1, 3)))])
def test_weights_that_do_not_fit_the_sizes_raise_when_used(attr, bad):
    # Assigning is allowed (a layer is resized by assigning its size and
    # weights in either order, as with the tutorial's class); using the
    # network while they disagree is a clear error, and no kernel runs.
    fast, ref = pair(6)
    good = getattr(fast, attr)
    setattr(fast, attr, bad)
    for call in (lambda: fast.forward(nndfast.X), lambda: fast.costFunction(nndfast.X, nndfast.y),
                 lambda: fast.computeGradients(nndfast.X, nndfast.y), fast.getParams):
        with pytest.raises(ValueError, match=r"layer sizes and weights disagree.*W1.*W2"):
            call()
    setattr(fast, attr, good)
    crosscheck(fast, ref, nndfast.X, nndfast.y)


@pytest.mark.parametrize("I,O", [(2, 1), (3, 2)])     # the tutorial's copies, and the general ones
# narrow (compile-time widths), column, row paths
@pytest.mark.parametrize("H", [1, 2, 3, 4, 5, 9])
@pytest.mark.parametrize("n", [3, 257, 5000])
def test_every_op_caches_the_same_bits_as_forward(n, I, H, O):
    # forward, costFunction and costFunctionPrime take different kernels by
    # layer width and op; a user comparing NN.yHat across them must see no
    # difference at all
    fast, ref = pair(n + H, inputLayerSize=I, hiddenLayerSize=H, outputLayerSize=O)
    X, y = data(n + 7 * H, n, I, O)
    yhat = fast.forward(X).copy()
    cached = [getattr(fast, k).copy() for k in ("z2", "a2", "z3")]
    for op in (fast.costFunction, fast.costFunctionPrime):
        op(X, y)
        assert np.array_equal(fast.yHat, yhat)
        for k, want in zip(("z2", "a2", "z3"), cached):
            assert np.array_equal(getattr(fast, k), want), (op.__name__, k)
    crosscheck(fast, ref, X, y)


# -- the fused kernel (hidden layers wider than 4) ------------------------------

# H 300, 32: groups of four units forward and pairs backward only; 5, 7, 6:
# a group and single units forward, pairs and an odd unit backward; I 9, O 2:
# the per-input passes
@pytest.mark.parametrize("n,I,H,O", [(20000, 2, 300, 1), (9000, 8, 32, 1),
                                     (7000, 9, 12, 2), (6001, 3, 5, 1), (4099, 8, 7, 1),
                                     (3001, 1, 6, 1)])
def test_fused_kernel_same_bits_for_any_threads_and_kept_outputs(n, I, H, O):
    # tiles are a function of I, H and O only, and a chunk's tiles are added in
    # order: neither the team size nor keeping z2/a2/z3 may change a bit
    from nndfast import _network as K
    rng = np.random.default_rng(n + H)
    X, y = rng.standard_normal((n, I)), rng.random((n, O))
    W1, W2 = rng.standard_normal((I, H)), rng.standard_normal((H, O))
    results = []
    for threads, keep in ((1, True), (2, False), (3, False), (2, True)):
        outs = [np.empty((n, H)), np.empty((n, H)), np.empty((n, O))] if keep else [None] * 3
        yhat, J = np.empty((n, O)), np.empty(O)
        g1, g2 = np.empty((I, H)), np.empty((H, O))
        K.cost_and_gradient(X, y, W1, W2, *outs, yhat, g1, g2, J, threads)
        f = np.empty((n, O))
        K.forward(X, W1, W2, *outs, f, threads)
        Jc = np.empty(O)
        K.cost(X, y, W1, W2, *outs, None, Jc, threads)
        results.append((yhat, J, g1, g2, f, Jc))
        if keep:
            ref = reference.Neural_Network(I, H, O)
            ref.W1, ref.W2 = W1, W2
            assert_close(ref.forward(X), yhat)
            assert_close(outs[1], ref.a2)
            sg1, sg2 = gradient_scales(ref, X, y)
            r1, r2 = ref.costFunctionPrime(X, y)
            assert_close(g1, r1, scale=sg1)
            assert_close(g2, r2, scale=sg2)
    first = results[0]
    assert np.array_equal(first[0], first[4])          # forward's yhat is the gradient's
    assert np.array_equal(first[1], first[5])          # and so is the cost
    for other in results[1:]:
        for a, b in zip(first, other):
            assert np.array_equal(a, b)
    assert K.simd_isa() in ("avx512", "avx2", "base")
