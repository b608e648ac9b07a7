"""Gradients, the gradient check and gradient descent (batch and stochastic),
cross-checked against nndfast.reference; the trainer is test_bfgs_trainer.py."""
import warnings

import numpy as np
import pytest

import nndfast
from nndfast import reference as R
from nndfast import X, y
from conftest import data, pair

SIZES = [(2, 3, 1), (1, 1, 1), (3, 5, 2), (4, 16, 3), (2, 7, 1)]


def quiet(func, *args, **kwargs):
    """Run func with warnings as errors, so a stray RuntimeWarning fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return func(*args, **kwargs)


# -- gradients ---------------------------------------------------------------

@pytest.mark.parametrize("sizes", SIZES)
def test_gradients_match_reference_and_numerical(sizes):
    I, H, O = sizes
    Xs, ys = data(H, 7, I, O, signed=False)
    a, b = pair(H, sizes)
    ga, gb = a.computeGradients(Xs, ys), b.computeGradients(Xs, ys)
    np.testing.assert_allclose(ga, gb, rtol=1e-10, atol=1e-15)
    num = nndfast.computeNumericalGradient(a, Xs, ys)
    assert np.linalg.norm(ga - num) / np.linalg.norm(ga + num) < 1e-8
    assert nndfast.gradient_check(a, Xs, ys) < 1e-8
    assert R.gradient_check(b, Xs, ys) < 1e-8
    # the check leaves the weights alone
    np.testing.assert_array_equal(a.getParams(), b.getParams())


def test_gradient_check_on_tutorial_data():
    a, b = pair(0)
    assert nndfast.gradient_check(a, X, y) == pytest.approx(R.gradient_check(b, X, y),
                                                            rel=1e-3)
    assert nndfast.gradient_check(a, X, y) < 1e-8


# -- batch descent -----------------------------------------------------------

def test_batch_is_the_plain_loop_bitwise():
    """Each step is exactly W -= lr * costFunctionPrime, in nndfast's own arithmetic."""
    a, _ = pair(3)
    np.random.seed(3)
    loop = nndfast.Neural_Network()
    lr = 2.5
    res = nndfast.gradient_descent(a, X, y, learning_rate=lr, max_iter=300, tol=0)
    costs = []
    for _ in range(300):
        g1, g2 = loop.costFunctionPrime(X, y)
        loop.W1 -= lr * g1
        loop.W2 -= lr * g2
        costs.append(loop.costFunction(X, y))
    np.testing.assert_array_equal(a.W1, loop.W1)
    np.testing.assert_array_equal(a.W2, loop.W2)
    np.testing.assert_array_equal(res.costs, np.array(costs))
    assert res.iterations == 300 and res.evaluations == 301 and not res.converged


@pytest.mark.parametrize("sizes", [(2, 3, 1), (3, 5, 2)])
def test_batch_matches_reference_loop(sizes):
    I, H, O = sizes
    Xs, ys = (X, y) if sizes == (2, 3, 1) else data(0, 20, I, O, signed=False)
    a, b = pair(1, sizes)
    lr = 0.5
    res = nndfast.gradient_descent(a, Xs, ys, learning_rate=lr, max_iter=500, tol=0)
    # the plain loop with the reference's gradients
    for _ in range(500):
        g1, g2 = b.costFunctionPrime(Xs, ys)
        b.W1 = b.W1 - lr * g1
        b.W2 = b.W2 - lr * g2
    np.testing.assert_allclose(a.W1, b.W1, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(a.W2, b.W2, rtol=1e-10, atol=1e-13)
    # and reference.gradient_descent agrees on everything it reports
    _, c = pair(1, sizes)
    rres = R.gradient_descent(c, Xs, ys, learning_rate=lr, max_iter=500, tol=0)
    np.testing.assert_allclose(res.costs, rres.costs, rtol=1e-10)
    assert (res.iterations, res.evaluations) == (rres.iterations, rres.evaluations)


def test_batch_updates_weights_in_place_and_converges():
    a, b = pair(0)
    W1 = a.W1
    res = nndfast.gradient_descent(a, X, y, learning_rate=8.0, max_iter=100000, tol=1e-6)
    rres = R.gradient_descent(b, X, y, learning_rate=8.0, max_iter=100000, tol=1e-6)
    assert a.W1 is W1            # same array, updated in place
    assert res.converged and rres.converged
    assert res.iterations == rres.iterations
    assert np.abs(a.computeGradients(X, y)).max() <= 1e-6
    assert res.costs.shape == (res.iterations, 1)
    assert res.costs[-1, 0] < 1e-8
    # already converged: no step at all
    again = nndfast.gradient_descent(a, X, y, learning_rate=8.0, tol=1e-6)
    assert again.converged and again.iterations == 0 and again.costs.shape == (0, 1)


def test_callback_every_k_sees_current_weights_and_can_stop():
    a, _ = pair(2)
    seen = []

    def cb(i, cost):
        seen.append((i, cost.copy(), a.getParams()))
        return i >= 300

    res = nndfast.gradient_descent(a, X, y, learning_rate=1.0, max_iter=1000, tol=0,
                                   callback=cb, callback_every=100)
    assert [s[0] for s in seen] == [100, 200, 300]
    assert res.iterations == 300 and not res.converged
    np.testing.assert_array_equal(seen[-1][1], res.costs[-1])
    np.testing.assert_array_equal(seen[-1][2], a.getParams())
    # segmenting does not change the arithmetic
    b, _ = pair(2)
    whole = nndfast.gradient_descent(b, X, y, learning_rate=1.0, max_iter=300, tol=0)
    np.testing.assert_array_equal(whole.costs, res.costs)
    np.testing.assert_array_equal(b.getParams(), a.getParams())


# -- stochastic descent ------------------------------------------------------

def test_stochastic_reproducible_and_matches_reference():
    Xs, ys = data(4, 40, 2, 1, signed=False)
    runs = []
    for _ in range(2):
        a, _b = pair(5)
        res = nndfast.gradient_descent(a, Xs, ys, learning_rate=0.3, max_iter=200,
                                       method="stochastic", seed=11, tol=0)
        runs.append((res.costs, a.getParams()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert res.iterations == 200 and res.evaluations == 1 + 200 * 41
    # a different seed gives a different path
    c, _ = pair(5)
    other = nndfast.gradient_descent(c, Xs, ys, learning_rate=0.3, max_iter=200,
                                     method="stochastic", seed=12, tol=0)
    assert not np.array_equal(other.costs, runs[0][0])
    # the reference visits the examples in the same orders
    _, b = pair(5)
    rres = R.gradient_descent(b, Xs, ys, learning_rate=0.3, max_iter=200,
                              method="stochastic", seed=11, tol=0)
    np.testing.assert_allclose(runs[0][0], rres.costs, rtol=1e-9)
    np.testing.assert_allclose(runs[0][1], b.getParams(), rtol=1e-9, atol=1e-12)
    assert rres.evaluations == res.evaluations


def test_stochastic_segmenting_does_not_change_the_path():
    a, _ = pair(6)
    b, _ = pair(6)
    r1 = nndfast.gradient_descent(a, X, y, learning_rate=1.0, max_iter=250,
                                  method="stochastic", seed=3, tol=0)
    r2 = nndfast.gradient_descent(b, X, y, learning_rate=1.0, max_iter=250,
                                  method="stochastic", seed=3, tol=0,
                                  callback=lambda i, c: None, callback_every=7)
    np.testing.assert_array_equal(r1.costs, r2.costs)
    np.testing.assert_array_equal(a.getParams(), b.getParams())


# -- divergence --------------------------------------------------------------

@pytest.mark.parametrize("method", ["batch", "stochastic"])
def test_divergence_warns_and_keeps_last_finite_weights(method):
    Xs, ys = X * 1e3, y * 1e3      # large gradients: lr * grad overflows
    a, _ = pair(0)
    with pytest.warns(RuntimeWarning, match="diverged"):
        res = nndfast.gradient_descent(a, Xs, ys, learning_rate=1e306, max_iter=50,
                                       method=method, seed=0)
    assert not res.converged and res.diverged
    assert res.iterations < 50
    assert np.isfinite(a.getParams()).all()
    assert np.isfinite(res.costs).all()
    assert np.isfinite(a.costFunction(Xs, ys)).all()


def test_divergence_matches_reference_weights():
    Xs, ys = X * 1e3, y * 1e3
    a, b = pair(0)
    with pytest.warns(RuntimeWarning):
        res = nndfast.gradient_descent(a, Xs, ys, learning_rate=1e306, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # the tutorial's sigmoid overflows
        rres = R.gradient_descent(b, Xs, ys, learning_rate=1e306, max_iter=50)
    assert res.iterations == rres.iterations
    np.testing.assert_allclose(a.getParams(), b.getParams(), rtol=1e-10)


# -- bad input ---------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"learning_rate": 0}, {"learning_rate": -1.0}, {"learning_rate": np.nan},
    {"learning_rate": np.inf}, {"max_iter": 0}, {"max_iter": -5},
    {"method": "newton"}, {"method": "Batch"}, {"tol": -1.0}, {"tol": np.nan},
    {"callback_every": 0},
])
def test_bad_arguments_raise(kwargs):
    a, _ = pair(0)
    before = a.getParams()
    with pytest.raises(ValueError):
        nndfast.gradient_descent(a, X, y, **kwargs)
    np.testing.assert_array_equal(a.getParams(), before)


@pytest.mark.parametrize("kwargs", [
    {"learning_rate": "1"}, {"max_iter": 2.5}, {"max_iter": True},
    {"callback": 3}, {"num_threads": 0.5},
])
def test_wrong_types_raise(kwargs):
    a, _ = pair(0)
    with pytest.raises(TypeError):
        nndfast.gradient_descent(a, X, y, **kwargs)


def _bad_data():
    Xn = X.copy()
    Xn[1, 0] = np.nan
    yi = y.copy()
    yi[2, 0] = np.inf
    return [(Xn, y), (X, yi), (X[:2], y), (X[:, :1], y), (X, np.hstack([y, y])),
            (X.ravel(), y), (X[:0], y[:0]), (-np.inf * X, y)]


@pytest.mark.parametrize("case", range(8))
def test_bad_data_raises(case):
    Xb, yb = _bad_data()[case]
    a, _ = pair(0)
    with pytest.raises(ValueError):
        nndfast.gradient_descent(a, Xb, yb)
    with pytest.raises(ValueError):
        nndfast.trainer(a, disp=False).train(Xb, yb)


# -- threads -----------------------------------------------------------------

@pytest.mark.parametrize("method", ["batch", "stochastic"])
def test_bitwise_identical_for_1_and_2_threads(method):
    Xs, ys = data(9, 5000, 2, 1, signed=False)
    results = []
    for nt in (1, 2):
        a, _ = pair(4, (2, 16, 1))
        res = nndfast.gradient_descent(a, Xs, ys, learning_rate=2e-4, max_iter=20,
                                       method=method, seed=1, tol=0, num_threads=nt)
        results.append((res.costs, a.getParams()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


# -- trainer: see tests/test_bfgs_trainer.py --------------------------------------

def test_exports():
    for name in ("gradient_descent", "gradient_check", "trainer", "computeNumericalGradient"):
        assert name in nndfast.__all__
        assert hasattr(R, name)


def test_callback_exception_leaves_last_completed_step():
    a, _ = pair(8)
    b, _ = pair(8)

    def boom(i, cost):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        nndfast.gradient_descent(a, X, y, learning_rate=1.0, max_iter=1000, tol=0,
                                 callback=boom, callback_every=40)
    nndfast.gradient_descent(b, X, y, learning_rate=1.0, max_iter=40, tol=0)
    np.testing.assert_array_equal(a.getParams(), b.getParams())


def _layouts(A):
    ro = A.copy()
    ro.flags.writeable = False
    wide = np.zeros((A.shape[0], 2 * A.shape[1]))
    wide[:, ::2] = A
    return {"C": A, "F": np.asfortranarray(A), "strided": wide[:, ::2],
            "read-only": ro, "list": A.tolist()}


@pytest.mark.parametrize("layout", ["C", "F", "strided", "read-only", "list"])
def test_any_input_layout_gives_the_same_run(layout):
    Xs, ys = data(2, 30, 3, 2, signed=False)
    a, _ = pair(0, (3, 4, 2))
    base = nndfast.gradient_descent(a, Xs, ys, learning_rate=0.2, max_iter=50, tol=0)
    b, _ = pair(0, (3, 4, 2))
    res = nndfast.gradient_descent(b, _layouts(Xs)[layout], _layouts(ys)[layout],
                                   learning_rate=0.2, max_iter=50, tol=0)
    np.testing.assert_array_equal(base.costs, res.costs)
    np.testing.assert_array_equal(a.getParams(), b.getParams())
    c, _ = pair(0, (3, 4, 2))
    nndfast.trainer(c, disp=False, maxiter=20).train(_layouts(Xs)[layout],
                                                     _layouts(ys)[layout])
    d, _ = pair(0, (3, 4, 2))
    nndfast.trainer(d, disp=False, maxiter=20).train(Xs, ys)
    np.testing.assert_array_equal(c.getParams(), d.getParams())
