"""nndfast under Python's object model (issue 14): subclasses and instance
attributes that override the tutorial's methods, read-only, foreign, integer
and float32 weights, exact callbacks, caches after training.

Every override is written once as a mixin and applied to both nndfast's and
nndfast.reference's Neural_Network; the reference is the oracle.
"""
import pathlib
import warnings

import numpy as np
import pytest

import nndfast
from nndfast import X, y
from nndfast import reference as R
from nndfast import train as train_module
from nndfast.network import _CALLS, TUTORIAL_METHODS, is_stock

from _child import python
from conftest import data, pair

RTOL, ATOL = 1e-9, 1e-12


# -- overrides, as a learner writes them -----------------------------------------

class Tanh(object):
    """Another activation, with its derivative."""

    def sigmoid(self, z):
        return np.tanh(z)

    def sigmoidPrime(self, z):
        return 1 - np.tanh(z) ** 2


class SteepSigmoid(object):
    """sigmoid alone (its derivative left as the tutorial's: gradients disagree)."""

    def sigmoid(self, z):
        return 1 / (1 + np.exp(-2 * z))


class HalfPrime(object):
    """sigmoidPrime alone."""

    def sigmoidPrime(self, z):
        return 0.5 * np.exp(-z) / ((1 + np.exp(-z)) ** 2)


class ScaledForward(object):
    """forward alone, written out the tutorial's way with scaled inputs."""

    def forward(self, X):
        self.z2 = np.dot(0.5 * X, self.W1)
        self.a2 = self.sigmoid(self.z2)
        self.z3 = np.dot(self.a2, self.W2)
        return self.sigmoid(self.z3)


class Regularized(object):
    """Part 7's regularization, costFunction and costFunctionPrime overridden."""

    lam = 1e-3

    def costFunction(self, X, y):
        self.yHat = self.forward(X)
        return (0.5 * np.sum((y - self.yHat) ** 2, axis=0) / X.shape[0]
                + (self.lam / 2) * (np.sum(self.W1 ** 2) + np.sum(self.W2 ** 2)))

    def costFunctionPrime(self, X, y):
        self.yHat = self.forward(X)
        delta3 = np.multiply(-(y - self.yHat), self.sigmoidPrime(self.z3))
        dJdW2 = np.dot(self.a2.T, delta3) / X.shape[0] + self.lam * self.W2
        delta2 = np.dot(delta3, self.W2.T) * self.sigmoidPrime(self.z2)
        dJdW1 = np.dot(X.T, delta2) / X.shape[0] + self.lam * self.W1
        return dJdW1, dJdW2


class RegularizedSuper(object):
    """The same regularization added on top of super()'s cost and gradient."""

    lam = 1e-2

    def costFunction(self, X, y):
        J = super().costFunction(X, y)
        return J + (self.lam / 2) * (np.sum(self.W1 ** 2) + np.sum(self.W2 ** 2))

    def costFunctionPrime(self, X, y):
        dJdW1, dJdW2 = super().costFunctionPrime(X, y)
        return dJdW1 + self.lam * self.W1, dJdW2 + self.lam * self.W2


class CostOnly(object):
    """costFunction alone (the gradient no longer matches it)."""

    def costFunction(self, X, y):
        self.yHat = self.forward(X)
        return np.sum(np.abs(y - self.yHat), axis=0)


class PrimeOnly(object):
    """costFunctionPrime alone."""

    def costFunctionPrime(self, X, y):
        dJdW1, dJdW2 = super().costFunctionPrime(X, y)
        return 2 * dJdW1, 2 * dJdW2


class GradientsOnly(object):
    """computeGradients alone."""

    def computeGradients(self, X, y):
        return 3 * super().computeGradients(X, y)


class Float32Params(object):
    """getParams and setParams that round through float32."""

    def getParams(self):
        return super().getParams().astype(np.float32).astype(np.float64)

    def setParams(self, params):
        super().setParams(np.asarray(params, dtype=np.float32).astype(np.float64))


MIXINS = [Tanh, SteepSigmoid, HalfPrime, ScaledForward, Regularized, RegularizedSuper,
          CostOnly, PrimeOnly, GradientsOnly, Float32Params]
def close(a, b):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


# -- is_stock ------------------------------------------------------------------------

def test_is_stock_per_method():
    assert is_stock(nndfast.Neural_Network())

    class Predicting(nndfast.Neural_Network):       # adds a method, overrides none
        def predict(self, X):
            return self.forward(X)

    assert is_stock(Predicting())
    a, b = pair(0, mixin=HalfPrime)
    assert not is_stock(a) and not is_stock(b)
    # costFunction reaches forward and sigmoid only; costFunctionPrime reaches sigmoidPrime
    assert is_stock(a, "costFunction") and is_stock(a, ("forward", "getParams"))
    assert not is_stock(a, "costFunctionPrime") and not is_stock(a, "computeGradients")
    s, _ = pair(0, mixin=SteepSigmoid)
    assert not any(is_stock(s, m) for m in ("forward", "costFunction", "computeGradients"))
    assert is_stock(s, ("sigmoidPrime", "getParams", "setParams"))
    # the reference's network is never stock: its methods are its own
    assert not is_stock(R.Neural_Network(), "getParams")
    # an instance attribute overrides too
    c = nndfast.Neural_Network()
    c.forward = lambda X: 0
    assert not is_stock(c, "costFunction") and is_stock(c, "sigmoid")


def test_callee_table_is_the_tutorial_bodies():
    # each listed callee is a method the reference's body calls through self
    import inspect
    for name in TUTORIAL_METHODS:
        src = inspect.getsource(getattr(R.Neural_Network, name))
        called = {m for m in TUTORIAL_METHODS if m != name and f"self.{m}(" in src}
        assert set(_CALLS[name]) == called, name


# -- every entry point honours every override -----------------------------------------

@pytest.mark.parametrize("mixin", MIXINS, ids=lambda m: m.__name__)
def test_methods_match_reference(mixin):
    Xs, ys = data(1, 7, 2, 1, signed=False)
    for XX, yy in ((X, y), (Xs, ys)):
        a, b = pair(3, mixin=mixin)
        close(a.forward(XX), b.forward(XX))
        close(a.z2, b.z2), close(a.a2, b.a2), close(a.z3, b.z3)
        close(a.costFunction(XX, yy), b.costFunction(XX, yy))
        close(a.yHat, b.yHat)
        for ga, gb in zip(a.costFunctionPrime(XX, yy), b.costFunctionPrime(XX, yy)):
            close(ga, gb)
        close(a.yHat, b.yHat)
        close(a.computeGradients(XX, yy), b.computeGradients(XX, yy))
        close(a.getParams(), b.getParams())
        p = np.linspace(-1, 1, 9)
        a.setParams(p), b.setParams(p)
        close(a.W1, b.W1), close(a.W2, b.W2)
        close(a.costFunction(XX, yy), b.costFunction(XX, yy))


@pytest.mark.parametrize("mixin", MIXINS, ids=lambda m: m.__name__)
def test_numerical_gradient_and_check_match_reference(mixin):
    a, b = pair(4, mixin=mixin)
    na, nb = nndfast.computeNumericalGradient(a, X, y), R.computeNumericalGradient(b, X, y)
    np.testing.assert_allclose(na, nb, rtol=1e-6, atol=1e-9)
    # the weights are where the reference leaves them (its setParams may round)
    np.testing.assert_array_equal(a.getParams(), b.getParams())
    ca, cb = nndfast.gradient_check(a, X, y), R.gradient_check(b, X, y)
    assert ca == pytest.approx(cb, rel=1e-2, abs=1e-9)


@pytest.mark.parametrize("mixin", [Regularized, RegularizedSuper, Tanh])
def test_gradient_check_of_a_consistent_override_is_tiny(mixin):
    a, b = pair(0, mixin=mixin)
    assert nndfast.gradient_check(a, X, y) < 1e-8
    assert R.gradient_check(b, X, y) < 1e-8


def test_gradient_check_sees_a_mismatched_override():
    a, b = pair(0, mixin=CostOnly)
    assert nndfast.gradient_check(a, X, y) > 1e-3
    assert nndfast.gradient_check(a, X, y) == pytest.approx(R.gradient_check(b, X, y),
                                                            rel=1e-6)


@pytest.mark.parametrize("method", ["batch", "stochastic"])
@pytest.mark.parametrize("mixin", MIXINS, ids=lambda m: m.__name__)
def test_gradient_descent_matches_reference(mixin, method):
    Xs, ys = data(2, 6, 2, 1, signed=False)
    a, b = pair(5, mixin=mixin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a mismatched override may diverge
        res = nndfast.gradient_descent(a, Xs, ys, learning_rate=0.5, max_iter=60, tol=1e-7,
                                       method=method, seed=3)
        rres = R.gradient_descent(b, Xs, ys, learning_rate=0.5, max_iter=60, tol=1e-7,
                                  method=method, seed=3)
    assert (res.iterations, res.converged, res.evaluations) == \
        (rres.iterations, rres.converged, rres.evaluations)
    np.testing.assert_allclose(res.costs, rres.costs, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(a.getParams(), b.getParams(), rtol=1e-8, atol=1e-12)
    if len(res.costs):
        close(res.costs[-1], a.costFunction(Xs, ys))


def test_gradient_descent_with_a_scalar_cost_override():
    """An override may return a float where the tutorial returns shape (O,)."""
    class ScalarCost(nndfast.Neural_Network):
        def costFunction(self, X, y):
            return float(np.sum(super().costFunction(X, y)))

    Xs, ys = data(3, 10, 3, 2, signed=False)
    np.random.seed(4)
    a = ScalarCost(3, 4, 2)
    np.random.seed(4)
    b = nndfast.Neural_Network(3, 4, 2)
    res = nndfast.gradient_descent(a, Xs, ys, learning_rate=0.1, max_iter=20, tol=0)
    ref = nndfast.gradient_descent(b, Xs, ys, learning_rate=0.1, max_iter=20, tol=0)
    assert res.costs.shape == (20, 1)
    close(res.costs[:, 0], ref.costs.sum(axis=1))
    close(a.getParams(), b.getParams())


@pytest.mark.parametrize("mixin", MIXINS, ids=lambda m: m.__name__)
def test_grid_search_matches_reference(mixin):
    a, b = pair(6, mixin=mixin)
    W1, W2 = a.W1, a.W2
    axes = {"W1[0,1]": np.linspace(-2, 2, 9), "W2[2,0]": np.linspace(-1, 1, 4)}
    ga, gb = nndfast.grid_search(a, X, y, axes), R.grid_search(b, X, y, axes)
    close(ga.costs, gb.costs)
    assert ga.best_index == gb.best_index and ga.best_weights == gb.best_weights
    assert ga.best_cost == pytest.approx(gb.best_cost, rel=RTOL)
    assert ga.evaluations == 36
    assert a.W1 is W1 and a.W2 is W2          # restored, the same arrays
    np.testing.assert_array_equal(a.getParams(), b.getParams())
    best = nndfast.grid_search(a, X, y, axes, full_output=False)
    assert best.costs is None and best.best_index == ga.best_index


def test_grid_search_generic_progress_validation_and_client():
    a, _ = pair(0, mixin=Tanh)
    seen = []
    axes = {"W1[0,0]": np.linspace(-1, 1, 5)}
    nndfast.grid_search(a, X, y, axes, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (5, 5)
    with pytest.raises(ValueError, match="out of range"):
        nndfast.grid_search(a, X, y, {"W1[5,0]": [1.0]})
    with pytest.raises(ValueError, match="num_threads"):
        nndfast.grid_search(a, X, y, axes, num_threads=0)
    with pytest.raises(ValueError, match="client=None"):
        nndfast.grid_search(a, X, y, axes, client=object())


def test_grid_search_generic_interrupt_restores_weights():
    calls = []

    class Interrupted(nndfast.Neural_Network):
        def costFunction(self, X, y):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return super().costFunction(X, y)

    NN = Interrupted()
    W1, W2 = NN.W1, NN.W2
    saved = NN.getParams()
    with pytest.raises(KeyboardInterrupt):
        nndfast.grid_search(NN, X, y, {"W1[0,0]": np.linspace(-1, 1, 10)})
    assert NN.W1 is W1 and NN.W2 is W2
    np.testing.assert_array_equal(NN.getParams(), saved)


def test_reference_network_is_searched_by_its_own_methods():
    np.random.seed(1)
    b = R.Neural_Network()
    axes = {"W1[0,0]": np.linspace(-3, 3, 7)}
    np.testing.assert_array_equal(nndfast.grid_search(b, X, y, axes).costs,
                                  R.grid_search(b, X, y, axes).costs)


# -- partial overrides compose as with the tutorial's class ---------------------------

def test_sigmoid_override_reaches_every_method():
    a, b = pair(2, mixin=Tanh)
    assert not np.allclose(a.forward(X), nndfast.Neural_Network.forward(
        _stock_copy(a), X))
    # forward, costFunction and the gradients all use tanh, as the reference does
    close(a.forward(X), np.tanh(np.tanh(X @ a.W1) @ a.W2))


def _stock_copy(a):
    s = nndfast.Neural_Network()
    s.W1, s.W2 = a.W1.copy(), a.W2.copy()
    return s


def test_forward_override_changes_cost_and_gradients():
    a, b = pair(7, mixin=ScaledForward)
    s = _stock_copy(a)
    assert not np.allclose(a.costFunction(X, y), s.costFunction(X, y))
    close(a.costFunction(X, y), 0.5 * np.sum((y - a.forward(X)) ** 2, axis=0))
    close(a.computeGradients(X, y), b.computeGradients(X, y))


@pytest.mark.parametrize("method", sorted(TUTORIAL_METHODS))
def test_instance_attribute_overrides_are_honoured(method):
    """An override set on the instance (NN.sigmoid = f) reaches every method
    whose tutorial body calls it, as with the tutorial's class."""
    replacement = {
        "sigmoid": lambda z: np.tanh(z),
        "sigmoidPrime": lambda z: 1 - np.tanh(z) ** 2,
        "forward": None, "costFunction": None, "costFunctionPrime": None,
        "computeGradients": None, "getParams": None, "setParams": None,
    }
    a, b = pair(8, mixin=Tanh)               # reference values from the Tanh mixin
    s, r = nndfast.Neural_Network(), R.Neural_Network()
    s.W1, s.W2 = a.W1.copy(), a.W2.copy()
    r.W1, r.W2 = a.W1.copy(), a.W2.copy()
    fn = replacement[method]
    if fn is None:
        # wrap the class's own method, counting calls, on both networks
        counts = {"fast": 0, "ref": 0}

        def wrap(net, key):
            bound = getattr(net, method)

            def wrapper(*args):
                counts[key] += 1
                out = bound(*args)
                return 2 * out if method in ("costFunction", "computeGradients") else out
            return wrapper
        s.__dict__[method] = wrap(s, "fast")
        r.__dict__[method] = wrap(r, "ref")
    else:
        s.__dict__[method] = fn
        r.__dict__[method] = fn
    assert not is_stock(s)
    close(s.forward(X), r.forward(X))
    close(s.costFunction(X, y), r.costFunction(X, y))
    close(s.computeGradients(X, y), r.computeGradients(X, y))
    np.testing.assert_allclose(nndfast.computeNumericalGradient(s, X, y),
                               R.computeNumericalGradient(r, X, y), rtol=1e-6, atol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = nndfast.gradient_descent(s, X, y, max_iter=20, tol=0)
        rres = R.gradient_descent(r, X, y, max_iter=20, tol=0)
    np.testing.assert_allclose(res.costs, rres.costs, rtol=1e-8, atol=1e-12)
    axes = {"W2[1,0]": np.linspace(-1, 1, 3)}
    close(nndfast.grid_search(s, X, y, axes).costs, R.grid_search(r, X, y, axes).costs)
    if fn is None:
        assert counts["fast"] == counts["ref"] > 0


def test_tutorial_bodies_honour_part7_lambda():
    """A network with a Lambda attribute (Part 7) whose sigmoid is overridden:
    the tutorial's bodies add Part 7's terms, as the reference's do."""
    a, _ = pair(12, mixin=Tanh)
    a.Lambda = 1e-3
    n = X.shape[0]
    yhat = np.tanh(np.tanh(X @ a.W1) @ a.W2)
    reg = (1e-3 / 2) * (np.sum(a.W1 ** 2) + np.sum(a.W2 ** 2))
    close(a.costFunction(X, y), 0.5 * np.sum((y - yhat) ** 2, axis=0) / n + reg)
    assert nndfast.gradient_check(a, X, y) < 1e-7
    # several outputs: each entry of J carries 1/O of the penalty, so that
    # sum(J) is the cost whose gradient costFunctionPrime gives
    b, _ = pair(13, (2, 3, 2), mixin=Tanh)
    b.Lambda = 1e-2
    Y2 = np.hstack((y, 1 - y))
    yhat = np.tanh(np.tanh(X @ b.W1) @ b.W2)
    reg = (1e-2 / 2) * (np.sum(b.W1 ** 2) + np.sum(b.W2 ** 2))
    close(b.costFunction(X, Y2), 0.5 * np.sum((Y2 - yhat) ** 2, axis=0) / n + reg / 2)
    assert nndfast.gradient_check(b, X, Y2) < 1e-7


@pytest.mark.parametrize("mixin", [Tanh, HalfPrime, ScaledForward, PrimeOnly],
                         ids=lambda m: m.__name__)
@pytest.mark.parametrize("sizes", [(2, 3, 1), (2, 4, 2)])
def test_overrides_with_lambda_match_reference(mixin, sizes):
    a, b = pair(14, sizes, mixin=mixin)
    a.Lambda = b.Lambda = 1e-3
    Xs, ys = data(4, 8, 2, sizes[2], signed=False)
    close(a.costFunction(Xs, ys), b.costFunction(Xs, ys))
    close(a.computeGradients(Xs, ys), b.computeGradients(Xs, ys))
    assert nndfast.gradient_check(a, Xs, ys) == pytest.approx(R.gradient_check(b, Xs, ys),
                                                              rel=1e-2, abs=1e-9)
    res = nndfast.gradient_descent(a, Xs, ys, learning_rate=0.5, max_iter=30, tol=0)
    rres = R.gradient_descent(b, Xs, ys, learning_rate=0.5, max_iter=30, tol=0)
    np.testing.assert_allclose(res.costs, rres.costs, rtol=1e-8, atol=1e-12)
    close(a.getParams(), b.getParams())


def test_stock_methods_reached_by_super_run_the_kernels_path():
    """A subclass whose override calls super() gets the stock method's numbers."""
    a, b = pair(9, mixin=RegularizedSuper)
    s = _stock_copy(a)
    lam = RegularizedSuper.lam
    close(a.costFunction(X, y),
          s.costFunction(X, y) + lam / 2 * (np.sum(a.W1 ** 2) + np.sum(a.W2 ** 2)))


# -- read-only and foreign weights ------------------------------------------------------

def _readonly(A):
    B = np.array(A)
    B.flags.writeable = False
    return B


def _frombuffer(A):
    return np.frombuffer(np.ascontiguousarray(A, dtype=np.float64).tobytes(),
                         dtype=np.float64).reshape(A.shape)


def _bytearray_view(A):
    buf = bytearray(np.ascontiguousarray(A, dtype=np.float64).tobytes())
    return np.frombuffer(buf, dtype=np.float64).reshape(A.shape)


FOREIGN = {"read-only": _readonly, "frombuffer": _frombuffer,
           "bytearray view": _bytearray_view}


@pytest.mark.parametrize("mixin", [None, Tanh], ids=["stock", "Tanh"])
@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_foreign_weights_work_and_are_never_written(kind, mixin):
    make = FOREIGN[kind]
    if mixin is None:
        np.random.seed(10)
        a = nndfast.Neural_Network()
        np.random.seed(10)
        b = R.Neural_Network()
    else:
        a, b = pair(10, mixin=mixin)
    W1, W2 = make(a.W1), make(a.W2)
    a.W1, a.W2 = W1, W2
    before = W1.tobytes() + W2.tobytes()
    assert a.W1 is W1                       # the setter kept the array
    np.testing.assert_allclose(nndfast.computeNumericalGradient(a, X, y),
                               R.computeNumericalGradient(b, X, y), rtol=1e-6, atol=1e-9)
    assert nndfast.gradient_check(a, X, y) == pytest.approx(R.gradient_check(b, X, y),
                                                            rel=1e-2, abs=1e-9)
    g = nndfast.grid_search(a, X, y, {"W1[1,2]": np.linspace(-1, 1, 5)})
    close(g.costs, R.grid_search(b, X, y, {"W1[1,2]": np.linspace(-1, 1, 5)}).costs)
    assert a.W1 is W1 and a.W2 is W2
    for method in ("batch", "stochastic"):
        res = nndfast.gradient_descent(a, X, y, max_iter=30, tol=0, method=method, seed=1)
        rres = R.gradient_descent(b, X, y, max_iter=30, tol=0, method=method, seed=1)
        np.testing.assert_allclose(res.costs, rres.costs, rtol=1e-9)
        close(a.getParams(), b.getParams())
        assert a.W1 is not W1 and a.W1.dtype == np.float64
    assert W1.tobytes() + W2.tobytes() == before


def test_writable_owned_weights_are_updated_in_place():
    np.random.seed(11)
    a = nndfast.Neural_Network()
    W1 = a.W1
    nndfast.gradient_descent(a, X, y, max_iter=5, tol=0)
    assert a.W1 is W1


# -- integer and float32 weights -------------------------------------------------------

WEIGHT_DTYPES = {"int64": lambda A: np.rint(2 * A).astype(np.int64),
                 "int32": lambda A: np.rint(2 * A).astype(np.int32),
                 "float32": lambda A: A.astype(np.float32)}


@pytest.mark.parametrize("method", ["batch", "stochastic"])
@pytest.mark.parametrize("dtype", sorted(WEIGHT_DTYPES))
@pytest.mark.parametrize("net", ["nndfast", "reference"])
def test_integer_and_float32_weights_are_never_truncated(net, dtype, method):
    conv = WEIGHT_DTYPES[dtype]
    np.random.seed(12)
    base = R.Neural_Network()
    W1, W2 = conv(base.W1), conv(base.W2)
    NN = nndfast.Neural_Network() if net == "nndfast" else R.Neural_Network()
    NN.W1, NN.W2 = W1, W2
    oracle = R.Neural_Network()
    oracle.W1, oracle.W2 = W1.copy(), W2.copy()
    res = nndfast.gradient_descent(NN, X, y, learning_rate=2.0, max_iter=200, tol=0,
                                   method=method, seed=4)
    rres = R.gradient_descent(oracle, X, y, learning_rate=2.0, max_iter=200, tol=0,
                              method=method, seed=4)
    np.testing.assert_allclose(res.costs, rres.costs, rtol=1e-8)
    close(NN.getParams(), oracle.getParams())
    assert np.asarray(NN.W1).dtype.kind == "f"
    assert not np.array_equal(NN.getParams(), np.rint(NN.getParams()))
    # costs[-1] is the network's cost after the call
    close(res.costs[-1], NN.costFunction(X, y))
    # the arrays handed in are untouched
    np.testing.assert_array_equal(W1, conv(base.W1))


# -- costs[-1] and the caches after training ---------------------------------------------

@pytest.mark.parametrize("mixin", [None, Tanh], ids=["stock", "Tanh"])
@pytest.mark.parametrize("method", ["batch", "stochastic"])
def test_caches_hold_the_final_weights_values(method, mixin):
    Xs, ys = data(5, 300, 2, 1, signed=False)
    if mixin is None:
        np.random.seed(13)
        a = nndfast.Neural_Network()
    else:
        a, _ = pair(13, mixin=mixin)
    a.costFunction(X, y)                        # caches of another call, before training
    res = nndfast.gradient_descent(a, Xs, ys, learning_rate=0.01, max_iter=40, tol=0,
                                   method=method, seed=2)
    caches = {k: np.array(getattr(a, k)) for k in ("yHat", "z2", "a2", "z3")}
    assert caches["yHat"].shape == (300, 1)
    fresh = type(a)()
    fresh.W1, fresh.W2 = a.W1.copy(), a.W2.copy()
    J = fresh.costFunction(Xs, ys)
    np.testing.assert_array_equal(res.costs[-1], J)
    for k, v in caches.items():
        np.testing.assert_array_equal(v, getattr(fresh, k), err_msg=k)


def test_compiled_stochastic_divergence_keeps_the_last_whole_epoch(monkeypatch):
    """The kernel undoes only the diverging example's step; the weights must
    be those after the last whole epoch, whose cost costs[-1] reports."""
    real = train_module._k
    calls = []

    class DivergesInEpoch3(object):
        def __getattr__(self, name):
            return getattr(real, name)

        def stochastic_descent(self, *args):
            calls.append(args)
            if len(calls) > 1:
                return real.stochastic_descent(*args)
            X, y, H, p, g, J, work, orders, lr, tol, costs = args[:11]
            it, _, ev = real.stochastic_descent(X, y, H, p, g, J, work, orders[:2], lr, tol,
                                                costs[:2], *args[11:])
            p += 0.25                   # epoch 3's first steps, then a non-finite one
            return it, real.STATUS_DIVERGED, ev + 1

    monkeypatch.setattr(train_module, "_k", DivergesInEpoch3())
    np.random.seed(1)
    a = nndfast.Neural_Network()
    with pytest.warns(RuntimeWarning, match="diverged"):
        res = nndfast.gradient_descent(a, X, y, max_iter=10, method="stochastic", seed=5,
                                       tol=0)
    monkeypatch.setattr(train_module, "_k", real)
    np.random.seed(1)
    b = nndfast.Neural_Network()
    two = nndfast.gradient_descent(b, X, y, max_iter=2, method="stochastic", seed=5, tol=0)
    assert res.iterations == 2 and res.diverged
    np.testing.assert_array_equal(a.getParams(), b.getParams())
    np.testing.assert_array_equal(res.costs, two.costs)
    np.testing.assert_array_equal(res.costs[-1], a.costFunction(X, y))


def test_generic_stochastic_divergence_keeps_the_last_whole_epoch():
    class BlowsUp(nndfast.Neural_Network):
        single = 0

        def costFunctionPrime(self, X, y):
            dJdW1, dJdW2 = super().costFunctionPrime(X, y)
            if X.shape[0] == 1:
                self.single += 1
                if self.single == 8:            # the second example of epoch 3
                    return dJdW1 * np.inf, dJdW2
            return dJdW1, dJdW2

    np.random.seed(2)
    a = BlowsUp()
    with pytest.warns(RuntimeWarning, match="diverged"), np.errstate(invalid="ignore"):
        res = nndfast.gradient_descent(a, X, y, max_iter=10, method="stochastic", seed=6,
                                       tol=0)
    np.random.seed(2)
    b = nndfast.Neural_Network()
    two = nndfast.gradient_descent(b, X, y, max_iter=2, method="stochastic", seed=6, tol=0)
    assert res.iterations == 2 and res.diverged
    close(a.getParams(), b.getParams())
    close(res.costs, two.costs)
    np.testing.assert_array_equal(res.costs[-1], a.costFunction(X, y))
    close(a.yHat, b.yHat)


# -- callback_every is exact ---------------------------------------------------------------

@pytest.mark.parametrize("segment_work", [None, 1.0, 60.0, 100.0, 200.0])
@pytest.mark.parametrize("method", ["batch", "stochastic"])
def test_callback_every_is_exact_for_any_segment_length(monkeypatch, method, segment_work):
    """Compiled segments of 1, 2, 3 and 5+ iterations, against every 5th.
    Tutorial data: 3*3*3 = 27 multiply-adds per batch step, 54 per epoch."""
    if segment_work is not None:
        monkeypatch.setattr(train_module, "_SEGMENT_WORK", segment_work)
    np.random.seed(14)
    a = nndfast.Neural_Network()
    seen = []
    res = nndfast.gradient_descent(a, X, y, learning_rate=0.5, max_iter=31, tol=0,
                                   method=method, seed=0,
                                   callback=lambda i, c: seen.append((i, c)), callback_every=5)
    assert [i for i, _ in seen] == [5, 10, 15, 20, 25, 30]
    for i, c in seen:
        np.testing.assert_array_equal(c, res.costs[i - 1])


@pytest.mark.parametrize("n, H, every", [(100000, 30, 3), (60000, 30, 5), (3000, 3, 7),
                                         (100, 3, 3)])
def test_callback_every_is_exact_on_larger_data(n, H, every):
    Xs, ys = data(n, n, 2, 1, signed=False)
    NN = nndfast.Neural_Network(2, H, 1)
    seen = []
    nndfast.gradient_descent(NN, Xs, ys, learning_rate=1e-5, max_iter=4 * every, tol=0,
                             callback=lambda i, c: seen.append(i), callback_every=every)
    assert seen == [every, 2 * every, 3 * every, 4 * every]


def test_callback_defaults_on_1e5_examples():
    Xs, ys = data(1, 100000, 2, 1, signed=False)
    NN = nndfast.Neural_Network()
    seen = []
    nndfast.gradient_descent(NN, Xs, ys, learning_rate=1e-6, max_iter=300, tol=0,
                             callback=lambda i, c: seen.append(i))
    assert seen == [100, 200, 300]


@pytest.mark.parametrize("method", ["batch", "stochastic"])
def test_callback_every_generic_path(method):
    a, b = pair(15, mixin=Tanh)
    seen, rseen = [], []
    nndfast.gradient_descent(a, X, y, max_iter=10, tol=0, method=method, seed=0,
                             callback=lambda i, c: seen.append(i), callback_every=4)
    R.gradient_descent(b, X, y, max_iter=10, tol=0, method=method, seed=0,
                       callback=lambda i, c: rseen.append(i), callback_every=4)
    assert seen == rseen == [4, 8]


def test_generic_callback_can_stop_and_errors_keep_the_last_step():
    a, _ = pair(16, mixin=Tanh)
    res = nndfast.gradient_descent(a, X, y, max_iter=100, tol=0,
                                   callback=lambda i, c: i >= 6, callback_every=2)
    assert res.iterations == 6
    close(res.costs[-1], a.costFunction(X, y))

    def boom(i, c):
        raise KeyboardInterrupt

    b, _ = pair(16, mixin=Tanh)
    with pytest.raises(KeyboardInterrupt):
        nndfast.gradient_descent(b, X, y, max_iter=100, tol=0, callback=boom, callback_every=6)
    close(a.getParams(), b.getParams())


# -- messages and docs that are behaviour ---------------------------------------------------

def test_yhat_message_after_forward_alone_is_true():
    NN = nndfast.Neural_Network()
    NN.forward(X)
    NN.z2                                       # forward caches z2, a2, z3 ...
    with pytest.raises(AttributeError) as info:
        NN.yHat                                 # ... but not yHat, as in the tutorial
    msg = str(info.value)
    assert "costFunction" in msg and "call forward" not in msg
    NN.costFunction(X, y)
    NN.yHat


def test_dask_client_runs_every_range_with_num_threads_kernel_threads(monkeypatch):
    """grid_search's docstring: with a client, num_threads is kernel threads per
    range, and None gives every range one thread."""
    distributed = pytest.importorskip("distributed")
    from nndfast import _plan
    seen = []
    real = _plan.run_range

    def spy(plan, start, stop, full_output=False, num_threads=None, out=None):
        seen.append(num_threads)
        return real(plan, start, stop, full_output, num_threads, out)

    monkeypatch.setattr(_plan, "run_range", spy)
    axes = {"W1[0,0]": np.linspace(-1, 1, 50), "W1[0,1]": np.linspace(-1, 1, 50)}
    np.random.seed(17)
    NN = nndfast.Neural_Network()
    local = nndfast.grid_search(NN, X, y, axes)
    seen.clear()
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None) as client:
        res = nndfast.grid_search(NN, X, y, axes, client=client)
        assert seen and set(seen) == {1}
        seen.clear()
        nndfast.grid_search(NN, X, y, axes, client=client, num_threads=2)
        assert seen and set(seen) == {2}
    np.testing.assert_array_equal(res.costs, local.costs)


def _child(code, timeout=120):
    """Run code in a fresh Python that imports the nndfast this test imported."""
    return python("-c", code, capture_output=True, text=True, timeout=timeout)


def test_dask_md_example_runs_as_written():
    """docs/dask.md's example defines what it uses and imports nndfast.distributed
    itself, which `import nndfast` does not."""
    distributed = pytest.importorskip("distributed")
    doc = pathlib.Path(__file__).resolve().parents[1] / "docs" / "dask.md"
    if not doc.exists():
        pytest.skip("docs/ is not beside tests/ (an installed-package run)")
    code = doc.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    assert '"tcp://scheduler-host:8786"' in code and "np.linspace(-5, 5, 1000)" in code
    bare = _child("import sys, nndfast; print('nndfast.distributed' in sys.modules)")
    assert bare.returncode == 0 and bare.stdout.strip() == "False", bare.stderr
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp", dashboard_address=None) as cluster:
        code = (code.replace('"tcp://scheduler-host:8786"', repr(cluster.scheduler_address))
                .replace("np.linspace(-5, 5, 1000)", "np.linspace(-5, 5, 5)")
                .replace("progress=True", "progress=False"))
        proc = _child(code + "\nprint(repr(res.best_cost), res.best_index)\nclient.close()\n")
    assert proc.returncode == 0, proc.stderr
    np.random.seed(0)
    w = np.linspace(-5, 5, 5)
    local = nndfast.grid_search(nndfast.Neural_Network(), X, y,
                                {"W1[0,0]": w, "W1[0,1]": w, "W1[0,2]": w, "W2[0,0]": w},
                                full_output=False)
    assert proc.stdout.split()[:1] == [repr(local.best_cost)]


def test_usage_error_is_the_usage_then_one_error_line(capsys):
    """README and docs/cli.md: bad arguments print the usage, then one error line."""
    from nndfast.cli import main
    assert main(["--threads", "0"]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and lines[0].startswith("usage: nndfast")
    assert lines[-1].startswith("nndfast: error: ")
    assert sum("error" in line for line in lines) == 1
