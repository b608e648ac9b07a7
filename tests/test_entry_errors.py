"""Every public entry point checks its scalar arguments through
nndfast._validate and raises ValueError/TypeError naming the argument,
never OverflowError, ZeroDivisionError or a bare error from deep inside;
and bad input changes nothing (issue 20)."""
import numpy as np
import pytest

import nndfast
from nndfast import X, y
from nndfast import _validate as V
from nndfast import reference as R
from conftest import pair

W = np.linspace(-1, 1, 5)
HUGE = 10**400          # beyond float's range: float() raises OverflowError


def _grid(NN, **kw):
    return nndfast.grid_search(NN, X, y, {"W1[0,0]": W}, **kw)


def _descent(NN, **kw):
    return nndfast.gradient_descent(NN, X, y, max_iter=5, **kw)


def _train(NN, **kw):
    T = nndfast.trainer(NN, disp=False, **kw)
    T.train(X, y)


def _check(NN):
    return nndfast.gradient_check(NN, X, y)


def _numgrad(NN):
    return nndfast.computeNumericalGradient(NN, X, y)


ENTRY_POINTS = {"grid_search": _grid, "gradient_descent": _descent, "trainer": _train,
                "gradient_check": _check, "computeNumericalGradient": _numgrad}


def _snapshot(NN):
    return [np.concatenate((np.ravel(NN.W1), np.ravel(NN.W2))),
            NN.inputLayerSize, NN.hiddenLayerSize, NN.outputLayerSize,
            getattr(NN, "Lambda", None)] + [
        None if getattr(NN, c, None) is None else np.array(getattr(NN, c))
        for c in ("yHat", "z2", "a2", "z3")]


def _assert_unchanged(NN, before):
    after = _snapshot(NN)
    np.testing.assert_array_equal(after[0], before[0])
    assert after[1:5] == before[1:5]
    for a, b in zip(after[5:], before[5:]):
        if b is None:
            assert a is None
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("size,value,error", [
    ("hiddenLayerSize", 3.0, TypeError), ("hiddenLayerSize", True, TypeError),
    ("inputLayerSize", "2", TypeError), ("outputLayerSize", 0, ValueError),
    ("hiddenLayerSize", -1, ValueError), ("hiddenLayerSize", 2**31, ValueError),
])
def test_layer_sizes_are_checked_by_name(entry, size, value, error):
    NN, _ = pair(0)
    NN.forward(X)
    before = _snapshot(NN)
    try:
        setattr(NN, size, value)
    except (TypeError, ValueError):
        pytest.skip("the network itself refuses this size")
    before[{"inputLayerSize": 1, "hiddenLayerSize": 2, "outputLayerSize": 3}[size]] = value
    with pytest.raises(error, match=size):
        ENTRY_POINTS[entry](NN)
    _assert_unchanged(NN, before)


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_a_size_beyond_the_kernels_int_is_refused_by_name_on_any_network(entry):
    """The reference's network (which takes any size, as the tutorial's does)
    gets the same one check as nndfast's, before anything runs."""
    np.random.seed(0)
    NN = R.Neural_Network()
    NN.forward(X)
    NN.hiddenLayerSize = 2**31
    before = _snapshot(NN)
    with pytest.raises(ValueError, match=r"hiddenLayerSize must be at most 2\*\*31 - 1"):
        ENTRY_POINTS[entry](NN)
    _assert_unchanged(NN, before)


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_a_huge_lambda_is_a_value_error(entry):
    """On the reference's network, which (like the tutorial's) takes any
    Lambda on assignment; nndfast's refuses it there (below)."""
    np.random.seed(0)
    NN = R.Neural_Network()
    NN.forward(X)
    NN.Lambda = HUGE
    before = _snapshot(NN)
    with pytest.raises(ValueError, match="Lambda"):
        ENTRY_POINTS[entry](NN)
    _assert_unchanged(NN, before)


def test_nndfasts_network_refuses_a_huge_lambda():
    with pytest.raises(ValueError, match="Lambda"):
        nndfast.Neural_Network(Lambda=HUGE)
    NN, _ = pair(0)
    with pytest.raises(ValueError, match="Lambda"):
        NN.Lambda = HUGE
    assert NN.Lambda is None


@pytest.mark.parametrize("call,name", [
    (lambda NN: _descent(NN, learning_rate=HUGE), "learning_rate"),
    (lambda NN: _descent(NN, tol=HUGE), "tol"),
    (lambda NN: nndfast.trainer(NN, gtol=HUGE), "gtol"),
    (lambda NN: _grid(NN, num_threads=2**31), "num_threads"),
    (lambda NN: _descent(NN, num_threads=2**31), "num_threads"),
    (lambda NN: nndfast.trainer(NN, num_threads=2**31), "num_threads"),
    (lambda NN: _grid(NN, num_threads=10**400), "num_threads"),
])
def test_huge_rates_tolerances_and_thread_counts_are_value_errors(call, name):
    NN, _ = pair(0)
    NN.forward(X)
    before = _snapshot(NN)
    with pytest.raises(ValueError, match=name):
        call(NN)
    _assert_unchanged(NN, before)


@pytest.mark.parametrize("method", ["stochastic", "batch"])
@pytest.mark.parametrize("seed,error", [("x", TypeError), (1.5, TypeError), (-1, ValueError)])
def test_a_bad_seed_is_refused_by_name(method, seed, error):
    """numpy's own refusal says 'SeedSequence' or 'entropy'; batch descent,
    which draws nothing, refuses it too."""
    NN, _ = pair(0)
    NN.forward(X)
    before = _snapshot(NN)
    with pytest.raises(error, match="seed must be"):
        _descent(NN, method=method, seed=seed)
    _assert_unchanged(NN, before)


def test_huge_tolerances_below_the_limit_still_run():
    """10**300 is a float: a legal (if useless) tolerance; it stops at once."""
    NN, _ = pair(0)
    assert nndfast.gradient_descent(NN, X, y, tol=10**300).iterations == 0
    T = nndfast.trainer(NN, gtol=10**300, disp=False)
    T.train(X, y)
    assert T.optimizationResults.nit == 0


def test_a_huge_maxiter_is_no_limit():
    a, _ = pair(0)
    b, _ = pair(0)
    Ta = nndfast.trainer(a, maxiter=10**30, disp=False)
    Ta.train(X, y)
    Tb = nndfast.trainer(b, disp=False)
    Tb.train(X, y)
    assert Ta.optimizationResults.nit == Tb.optimizationResults.nit
    np.testing.assert_array_equal(a.getParams(), b.getParams())


@pytest.mark.parametrize("rows", [0])
def test_grid_search_with_lambda_and_no_examples_is_a_value_error(rows):
    NN, _ = pair(0)
    NN.Lambda = 0.1
    with pytest.raises(ValueError, match="at least one example"):
        nndfast.grid_search(NN, X[:rows], y[:rows], {"W1[0,0]": W})
    # without Lambda the cost of no examples is 0, as the tutorial's sum gives
    NN.Lambda = None
    res = nndfast.grid_search(NN, X[:rows], y[:rows], {"W1[0,0]": W})
    assert res.best_cost == 0.0


def test_the_validators_name_the_argument():
    with pytest.raises(TypeError, match="rate"):
        V.as_rate("1", "rate")
    with pytest.raises(ValueError, match="rate"):
        V.as_rate(0, "rate")
    with pytest.raises(ValueError, match="2\\*\\*1329"):
        V.as_real(10**400, "x")
    assert V.as_real(np.float32(2.5), "x") == 2.5
    assert V.as_count(np.int64(3), "n") == 3 and type(V.as_count(np.int64(3), "n")) is int
    with pytest.raises(TypeError, match="n must be an int"):
        V.as_count(np.bool_(True), "n")
    assert V.as_layer_sizes(np.int32(2), 3, 1) == (2, 3, 1)
    assert V.check_num_threads(V.MAX_THREADS) == V.MAX_THREADS
    with pytest.raises(TypeError, match="NN must be a Neural_Network"):
        V.network_fields(object())
    with pytest.raises(ValueError):                         # (not str(): 4300 digits)
        V.as_real(10**5000, "x")
