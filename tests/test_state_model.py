"""The state model (issue 19): every entry point reads the network once,
through its public attributes, and works from that snapshot; the network's
Workspace publishes z2/a2/z3/yHat; no sequence of Python crashes it or
gives other numbers than nndfast.reference.

Each case runs the same sequence on nndfast and on the reference.
"""
import gc
import pickle
import threading
import weakref

import numpy as np
import pytest

import nndfast
from nndfast import reference as R

from conftest import assert_close, data, pair, weight_property

X, y = nndfast.X, nndfast.y


class Tanh(object):
    def sigmoid(self, z):
        return np.tanh(z)

    def sigmoidPrime(self, z):
        return 1 - np.tanh(z) ** 2


def both(mixin, seed=0, **sizes):
    """(nndfast subclass, reference subclass) networks with mixin and equal weights."""
    F = type("F" + mixin.__name__, (mixin, nndfast.Neural_Network), {})
    Rc = type("R" + mixin.__name__, (mixin, R.Neural_Network), {})
    np.random.seed(seed)
    a = F(**sizes)
    np.random.seed(seed)
    b = Rc(**sizes)
    return a, b


# -- resizes during a call -------------------------------------------------------

class Resizing(object):
    """Array-like whose conversion (np.asarray calls __array__) resizes NN
    to one hidden unit, as the docs allow."""

    def __init__(self, NN, X):
        self.NN, self.X = NN, X

    def __array__(self, dtype=None, copy=None):
        NN = self.NN
        NN.hiddenLayerSize = 1
        NN.W1 = np.ones((NN.inputLayerSize, 1))
        NN.W2 = np.ones((1, NN.outputLayerSize))
        return np.asarray(self.X, dtype=dtype)


@pytest.mark.parametrize("n", [3, 200_000])
@pytest.mark.parametrize("op", ["forward", "costFunction", "costFunctionPrime"])
def test_a_resize_inside_the_call_uses_the_weights_the_call_read(op, n):
    """H 64 -> 1 from X's __array__: the call computes with what it read at
    its start (the next call sees the new sizes), and never writes out of
    bounds.  200,000 x 2 used to overflow the heap."""
    fast, ref = pair(0, hiddenLayerSize=64)
    Xd, yd = data(0, n, 2, 1)
    args = (Resizing(fast, Xd),) if op == "forward" else (Resizing(fast, Xd), yd)
    got = getattr(fast, op)(*args)
    want = getattr(ref, op)(*((Xd,) if op == "forward" else (Xd, yd)))
    for g, w in zip(got if isinstance(got, tuple) else (got,),
                    want if isinstance(want, tuple) else (want,)):
        assert_close(g, w, rtol=1e-10, scale=np.abs(w).max() + 1)
    assert fast.z2.shape == (n, 64)
    assert fast.W1.shape == (2, 1)
    ref.hiddenLayerSize = 1
    ref.W1, ref.W2 = np.ones((2, 1)), np.ones((1, 1))
    assert_close(fast.forward(Xd), ref.forward(Xd))


def test_resizing_from_another_thread_never_crashes():
    """One thread loops on forward/costFunctionPrime while another resizes
    the same network: every result is one of the two networks' results."""
    n = 20_000
    Xd, yd = data(1, n, 2, 1)
    np.random.seed(1)
    NN = nndfast.Neural_Network(hiddenLayerSize=64)
    shapes = {64: (NN.W1.copy(), NN.W2.copy()), 1: (np.ones((2, 1)), np.ones((1, 1)))}
    expected = {}
    for H, (W1, W2) in shapes.items():
        r = R.Neural_Network(hiddenLayerSize=H)
        r.W1, r.W2 = W1, W2
        expected[H] = r.forward(Xd)
    stop = threading.Event()
    errors = []

    def resize():
        k = 0
        while not stop.is_set():
            H = (64, 1)[k % 2]
            NN.hiddenLayerSize = H
            NN.W1, NN.W2 = shapes[H]
            k += 1

    t = threading.Thread(target=resize)
    t.start()
    try:
        for _ in range(300):
            try:
                out = NN.forward(Xd)
            except ValueError as e:      # sizes and weights caught half-way
                assert "disagree" in str(e)
                continue
            if not any(np.allclose(out, e, rtol=1e-12) for e in expected.values()):
                errors.append("a result of neither network")
            try:
                NN.costFunctionPrime(Xd, yd)
            except ValueError as e:
                assert "disagree" in str(e)
    finally:
        stop.set()
        t.join()
    assert not errors


def test_kernels_refuse_buffers_that_disagree_with_the_weights():
    from nndfast import _network as K
    Xd, yd = data(2, 1000, 2, 1)
    W1, W2 = np.ones((2, 64)), np.ones((64, 1))
    small = np.empty((1000, 1))
    with pytest.raises(ValueError, match="z2"):
        K.forward(Xd, W1, W2, small, small, small, small, 1)
    with pytest.raises(ValueError, match="W2"):
        K.forward(Xd, W1, np.ones((1, 1)), None, None, None, small, 1)
    with pytest.raises(ValueError, match="dJdW1"):
        K.cost_and_gradient(Xd, yd, W1, W2, None, None, None, None, np.empty((2, 1)),
                            np.empty((64, 1)), np.empty(1), 1)
    with pytest.raises(ValueError):
        K.Snapshot(2, 64, 1, W1, np.ones((1, 1)), None)


def test_a_snapshot_keeps_what_it_was_given_and_pickles():
    """network.snapshot builds a Snapshot from converted values whenever the
    network's own are not what the kernels take (a float32 W1 property, a
    numpy integer size): it must hold them, or the kernels read None."""
    from nndfast import _network as K
    W1, W2 = np.arange(6.0).reshape(2, 3), np.ones((3, 1))
    s = K.Snapshot(2, 3, 1, W1, W2, 0.5)
    assert s.W1 is W1 and s.W2 is W2 and s.Lambda == 0.5
    back = pickle.loads(pickle.dumps(s))
    assert (back.I, back.H, back.O, back.Lambda) == (2, 3, 1, 0.5)
    np.testing.assert_array_equal(back.W1, W1)
    np.testing.assert_array_equal(back.W2, W2)


# -- subclasses: the public attributes count on every path ----------------------------

class ClassLambda(object):
    Lambda = 1e-3


class PropertyLambda(object):
    @property
    def Lambda(self):
        return 1e-3

    @Lambda.setter
    def Lambda(self, value):
        pass


class ElsewhereWeights(object):
    """W1/W2 as properties over storage of the subclass's own."""
    W1 = weight_property("W1")
    W2 = weight_property("W2")


class Float32Weights(object):
    """Weights read as float32 copies: every call converts them."""
    W1 = weight_property("W1", lambda a: a.astype(np.float32))
    W2 = weight_property("W2", lambda a: a.astype(np.float32))


class FortranWeights(object):
    """W1 read as Fortran-ordered float64 (not C-contiguous)."""
    W1 = weight_property("W1", np.asfortranarray)
    W2 = weight_property("W2")


class NumpySizes(object):
    """hiddenLayerSize read as a numpy integer, Lambda as a Python int."""
    Lambda = 1

    @property
    def hiddenLayerSize(self):
        return np.int64(self.__dict__["h"])

    @hiddenLayerSize.setter
    def hiddenLayerSize(self, value):
        self.__dict__["h"] = int(value)


# ElsewhereWeights and the three after it are read through nndfast's
# converting path (network.snapshot): their values are not what the kernels
# take as they are
@pytest.mark.parametrize("mixin", [ClassLambda, PropertyLambda, ElsewhereWeights,
                                   Float32Weights, FortranWeights, NumpySizes])
@pytest.mark.parametrize("n", [3, 9000])
def test_subclass_attributes_count_at_every_size(mixin, n):
    fast, ref = both(mixin, seed=3)
    Xd, yd = data(3, n, 2, 1)
    assert_close(fast.forward(Xd), ref.forward(Xd), rtol=1e-10)
    assert_close(fast.costFunction(Xd, yd), ref.costFunction(Xd, yd), rtol=1e-10)
    for g, w in zip(fast.costFunctionPrime(Xd, yd), ref.costFunctionPrime(Xd, yd)):
        assert_close(g, w, rtol=1e-10, scale=np.abs(w).max())
    np.testing.assert_allclose(nndfast.computeNumericalGradient(fast, Xd[:50], yd[:50]),
                               R.computeNumericalGradient(ref, Xd[:50], yd[:50]), rtol=1e-7)
    axes = {"W1[0,0]": np.linspace(-1, 1, 5), "W2[1,0]": np.linspace(-2, 2, 4)}
    if isinstance(ref.W1, np.ndarray) and ref.W1 is ref.W1:
        ref_search = ref
    else:
        # The reference searches by assigning NN.W1[i, j] in place, as the
        # tutorial does; a property that returns a fresh array every read
        # loses that, so its surface is flat.  nndfast searches the weights
        # it read, which is the surface of a network holding them.
        ref_search = R.Neural_Network(Lambda=getattr(ref, "Lambda", None))
        ref_search.W1 = np.asarray(ref.W1, dtype=float)
        ref_search.W2 = np.asarray(ref.W2, dtype=float)
    np.testing.assert_allclose(nndfast.grid_search(fast, Xd, yd, axes).costs,
                               R.grid_search(ref_search, Xd, yd, axes).costs, rtol=1e-10)
    rf = nndfast.gradient_descent(fast, Xd, yd, learning_rate=0.5 / n, max_iter=5)
    rr = R.gradient_descent(ref, Xd, yd, learning_rate=0.5 / n, max_iter=5)
    np.testing.assert_allclose(rf.costs, rr.costs, rtol=1e-9)


# The tiny calls read the stock properties and plain attributes straight from
# the instance dict where getattr would (network.read): these classes sit
# just outside that rule, and each call must still use what getattr gives.
class StorageDescriptor(object):
    """A data descriptor named _W1 on the class: the stock W1 property's
    getter (attrgetter("_W1")) goes through it, not the instance dict."""
    @property
    def _W1(self):
        return self.__dict__["_W1"] * 0.5

    @_W1.setter
    def _W1(self, value):
        self.__dict__["_W1"] = value


class Intercepting(object):
    """__getattribute__ of its own: every attribute read goes through it."""
    def __getattribute__(self, name):
        value = object.__getattribute__(self, name)
        return value * 2.0 if name in ("W2", "Lambda") and value is not None else value


class ClassSizes(object):
    """A size as a class attribute and Lambda as a class-level _Lambda,
    neither in the instance dict."""
    hiddenLayerSize = 4
    _Lambda = 2e-3

    def __init__(self, *args, **kwargs):
        super().__init__(hiddenLayerSize=4)
        del self.__dict__["hiddenLayerSize"]
        self.__dict__.pop("_Lambda", None)


@pytest.mark.parametrize("mixin", [StorageDescriptor, Intercepting, ClassSizes])
@pytest.mark.parametrize("n", [3, 9000])
def test_every_call_uses_what_getattr_gives(mixin, n):
    cls = type("F" + mixin.__name__, (mixin, nndfast.Neural_Network), {})
    np.random.seed(5)
    fast = cls()
    fast.W1 = fast.W1 + 0.25
    if mixin is Intercepting:
        fast.Lambda = 1e-3
    # what the call must use: the public attributes, read through getattr
    ref = R.Neural_Network(hiddenLayerSize=fast.hiddenLayerSize, Lambda=fast.Lambda)
    ref.W1, ref.W2 = np.array(fast.W1), np.array(fast.W2)
    # the case is one where the instance dict alone would give other values
    d = object.__getattribute__(fast, "__dict__")
    assert any(not np.array_equal(d.get(raw), getattr(fast, public)) for raw, public in
               [("hiddenLayerSize", "hiddenLayerSize"), ("_W1", "W1"), ("_W2", "W2"),
                ("_Lambda", "Lambda")])
    Xd, yd = data(4, n, 2, 1)
    for _ in range(2):          # the second call: whatever the first one set up
        assert_close(fast.forward(Xd), ref.forward(Xd), rtol=1e-12)
        assert_close(fast.costFunction(Xd, yd), ref.costFunction(Xd, yd), rtol=1e-12)
        for g, w in zip(fast.costFunctionPrime(Xd, yd), ref.costFunctionPrime(Xd, yd)):
            assert_close(g, w, rtol=1e-11, scale=np.abs(w).max())


def _interpreter_keeps_classes_alive():
    """True if a class of no relation to nndfast outlives its last reference."""
    ref = weakref.ref(type("Unrelated", (object,), {}))
    gc.collect()
    return ref() is not None


def test_patches_after_first_use_count_and_no_class_is_kept_alive():
    class Plain(nndfast.Neural_Network):
        pass

    class Child(nndfast.Neural_Network):
        pass

    np.random.seed(4)
    c = Child()
    before = c.costFunction(X, y)
    Child.sigmoid = lambda self, z: np.tanh(z)
    try:
        r = R.Neural_Network()
        r.W1, r.W2 = c.W1, c.W2
        r.sigmoid = lambda z: np.tanh(z)
        assert_close(c.costFunction(X, y), r.costFunction(X, y))
        axes = {"W2[0,0]": np.linspace(-1, 1, 3)}
        np.testing.assert_allclose(nndfast.grid_search(c, X, y, axes).costs,
                                   R.grid_search(r, X, y, axes).costs, rtol=1e-12)
    finally:
        del Child.sigmoid
    assert np.array_equal(c.costFunction(X, y), before)
    p = Plain()
    p.forward(X)
    Plain.forward = lambda self, X: np.zeros((len(X), 1))
    assert not Plain().forward(X).any()
    # throwaway subclasses: nothing in nndfast keeps them alive
    if _interpreter_keeps_classes_alive():
        pytest.skip("this interpreter keeps every class alive, plain Python ones too "
                    "(free-threaded 3.13 immortalizes classes made after a second thread "
                    "has started), so whether nndfast keeps any cannot be seen")
    refs = []
    for _ in range(200):
        cls = type("Throwaway", (nndfast.Neural_Network,), {})
        cls().costFunction(X, y)
        refs.append(weakref.ref(cls))
    del cls
    gc.collect()
    assert sum(r() is not None for r in refs) == 0


# -- entry points leave the network alone ---------------------------------------

class ElsewhereTanh(ElsewhereWeights, Tanh):
    """Weights in a dict of the subclass's own, and methods of its own."""


def test_a_search_leaves_weights_kept_in_a_container_of_the_subclass_alone():
    # the search's copy of the network must not share the dict the W1/W2
    # properties store into: assigning the grid's weights to the copy would
    # write them into the user's network
    fast, ref = both(ElsewhereTanh, seed=6)
    W1, W2 = fast.W1.copy(), fast.W2.copy()
    axes = {"W1[0,0]": np.linspace(-1, 1, 3), "W2[0,0]": np.linspace(-2, 2, 2)}
    np.testing.assert_allclose(nndfast.grid_search(fast, X, y, axes).costs,
                               R.grid_search(ref, X, y, axes).costs, rtol=1e-12)
    np.testing.assert_array_equal(fast.W1, W1)
    np.testing.assert_array_equal(fast.W2, W2)
    np.testing.assert_array_equal(ref.W1, W1)


def test_concurrent_subclass_searches_are_right_and_leave_the_network_alone():
    fast, ref = both(Tanh, seed=5)
    W1, W2 = fast.W1.copy(), fast.W2.copy()
    axes = {"W1[0,0]": np.linspace(-3, 3, 25), "W2[2,0]": np.linspace(-2, 2, 9)}
    want = R.grid_search(ref, X, y, axes).costs
    results = [None] * 4

    def search(k):
        results[k] = nndfast.grid_search(fast, X, y, axes).costs

    threads = [threading.Thread(target=search, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for costs in results:
        np.testing.assert_allclose(costs, want, rtol=1e-12)
    assert np.array_equal(fast.W1, W1) and np.array_equal(fast.W2, W2)


class Plain(object):
    pass


@pytest.mark.parametrize("mixin", [Plain, Tanh])
def test_a_search_works_from_its_one_read_when_x_resizes_the_network(mixin):
    """X's __array__ resizes NN to one hidden unit after grid_search has read
    it: the whole search (checks, plan, the subclass's Python loop) uses the
    3-unit network it read, where a second read would search the 1-unit one
    or refuse W2[2,0]."""
    fast, ref = both(mixin, seed=8)
    axes = {"W1[0,0]": np.linspace(-3, 3, 7), "W2[2,0]": np.linspace(-2, 2, 5)}
    want = R.grid_search(ref, X, y, axes).costs
    got = nndfast.grid_search(fast, Resizing(fast, X), y, axes).costs
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert fast.hiddenLayerSize == 1 and fast.W1.shape == (2, 1)


def test_an_unpickled_subclass_network_searches_its_real_surface():
    fast, ref = both(Tanh, seed=6)
    # the subclass is local to this test, so its state goes through pickle
    state = fast.__getstate__()
    back = type(fast).__new__(type(fast))
    back.__setstate__(pickle.loads(pickle.dumps(state)))
    W1 = back.W1
    back.W1 = W1                                   # a float64 that went through pickle
    assert back.W1 is W1
    axes = {"W1[0,0]": np.linspace(-2, 2, 7)}
    costs = nndfast.grid_search(back, X, y, axes).costs
    np.testing.assert_allclose(costs, R.grid_search(ref, X, y, axes).costs, rtol=1e-12)
    assert np.ptp(costs) > 0


class Reweighting(object):
    """Array-like whose conversion assigns NN new weights and Lambda."""

    def __init__(self, NN, X):
        self.NN, self.X = NN, X

    def __array__(self, dtype=None, copy=None):
        self.NN.W1 = self.NN.W1 + 1.0
        self.NN.Lambda = 0.5
        return np.asarray(self.X, dtype=dtype)


def test_the_builtin_trainer_runs_from_its_one_read_of_the_network():
    """N read once at the start of train: X's conversion reweighting N does
    not change where the run starts, nor its Lambda (the end writes the
    result into N, as the tutorial's trainer does)."""
    np.random.seed(11)
    NN = nndfast.Neural_Network(Lambda=1e-4)
    np.random.seed(11)
    clean = nndfast.Neural_Network(Lambda=1e-4)
    T = nndfast.trainer(NN, disp=False, maxiter=20)
    T.train(Reweighting(NN, X), y)
    want = nndfast.trainer(clean, disp=False, maxiter=20)
    want.train(X, y)
    assert np.array_equal(T.optimizationResults.x, want.optimizationResults.x)
    assert np.array_equal(T.J, want.J)


# -- descent -----------------------------------------------------------------------

@pytest.mark.parametrize("n", [3, 3000])
def test_descent_goes_on_from_what_the_callback_left(n):
    Xd, yd = (X, y) if n == 3 else data(7, n, 2, 1)
    fast, ref = pair(7, Lambda=1e-3)

    def clip(net):
        def callback(i, J):
            net.W1 = np.clip(net.W1, -0.5, 0.5)
            net.Lambda = 1e-2
        return callback

    lr = 1.0 if n == 3 else 1.0
    rf = nndfast.gradient_descent(fast, Xd, yd, learning_rate=lr, max_iter=40,
                                  callback=clip(fast), callback_every=10, tol=0)
    rr = R.gradient_descent(ref, Xd, yd, learning_rate=lr, max_iter=40,
                            callback=clip(ref), callback_every=10, tol=0)
    np.testing.assert_allclose(rf.costs, rr.costs, rtol=1e-9)
    np.testing.assert_allclose(fast.getParams(), ref.getParams(), rtol=1e-9)
    assert fast.Lambda == 1e-2


def test_aliased_layers_end_as_the_reference_ends():
    fast, ref = pair(8, inputLayerSize=3, hiddenLayerSize=3, outputLayerSize=3)
    Xd, yd = data(8, 5, 3, 3)
    A = np.random.default_rng(8).normal(size=(3, 3))
    fast.W1 = fast.W2 = A.copy()
    B = A.copy()
    ref.W1 = ref.W2 = B
    nndfast.gradient_descent(fast, Xd, yd, max_iter=10, tol=0)
    R.gradient_descent(ref, Xd, yd, max_iter=10, tol=0)
    np.testing.assert_allclose(fast.W1, ref.W1, rtol=1e-10)
    np.testing.assert_allclose(fast.W2, ref.W2, rtol=1e-10)
    assert_close(fast.costFunction(Xd, yd), ref.costFunction(Xd, yd), rtol=1e-10)


# -- threads on one shared network ------------------------------------------------------

def test_many_threads_on_one_network_see_the_outputs_of_one_call():
    """8 threads call every entry point on one network with their own data:
    every returned value is right, and a published z2 is always wholly one
    call's."""
    np.random.seed(9)
    NN = nndfast.Neural_Network(hiddenLayerSize=16)
    ref = R.Neural_Network(hiddenLayerSize=16)
    ref.W1, ref.W2 = NN.W1.copy(), NN.W2.copy()
    sets = [data(10 + k, (3, 40, 5000)[k % 3], 2, 1) for k in range(8)]
    want = [(ref.forward(a), ref.costFunction(a, b), ref.costFunctionPrime(a, b))
            for a, b in sets]
    z2s = []
    for a, _ in sets:
        ref.forward(a)
        z2s.append(ref.z2)
    bad = []

    def work(k):
        a, b = sets[k]
        for _ in range(30):
            if not np.allclose(NN.forward(a), want[k][0], rtol=1e-12):
                bad.append(("forward", k))
            if not np.allclose(NN.costFunction(a, b), want[k][1], rtol=1e-12):
                bad.append(("cost", k))
            g = NN.costFunctionPrime(a, b)
            if not all(np.allclose(x, w, rtol=1e-10, atol=1e-12) for x, w in zip(g, want[k][2])):
                bad.append(("gradient", k))
            # whatever call published it last, z2 is wholly that call's
            z2 = NN.z2
            if not any(z2.shape == w.shape and np.allclose(z2, w, rtol=1e-12, atol=1e-12)
                       for w in z2s):
                bad.append(("torn z2", k))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad, bad[:5]


# -- nndfast and the reference in lock step ------------------------------------------

from hypothesis import HealthCheck, settings, strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule  # noqa: E402


class LockFast(nndfast.Neural_Network):
    """Module level, so that pickle finds it; the machine patches and
    unpatches its methods."""


class LockRef(R.Neural_Network):
    pass


PATCHES = {
    "sigmoid": lambda self, z: np.tanh(z),
    "sigmoidPrime": lambda self, z: 1 - np.tanh(z) ** 2,
    "forward": lambda self, X: _half_forward(self, X),
}


def _fortran(value):
    return np.asfortranarray(np.array(value, dtype=np.float64))


# W1/W2 overrides that hold the weights Fortran-ordered and return that same
# array on every read (so the reference's in-place search writes stick):
# nndfast reads a layout its kernels do not take and goes through its
# converting path (network.snapshot).
WEIGHT_PROPERTIES = {name: weight_property(name, keep=_fortran) for name in ("W1", "W2")}


def _half_forward(self, X):
    """The tutorial's forward with z2 halved: an override that keeps the caches."""
    self.z2 = 0.5 * np.dot(X, self.W1)
    self.a2 = self.sigmoid(self.z2)
    self.z3 = np.dot(self.a2, self.W2)
    return self.sigmoid(self.z3)

LAYOUTS = {
    "C": lambda a: np.ascontiguousarray(a),
    "F": np.asfortranarray,
    "strided": lambda a: np.repeat(a, 2, axis=1)[:, ::2],
    "big-endian": lambda a: a.astype(">f8"),
    "float32-exact": lambda a: a.astype(np.float32).astype(np.float64),
    "read-only": lambda a: _frozen(a),
    "list": lambda a: a.tolist(),
}


def _frozen(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def _outcome(f):
    """(value, None) or (None, exception type) of f()."""
    try:
        return f(), None
    except (ValueError, TypeError, AttributeError) as e:
        return None, type(e)


def _same(a, b):
    if isinstance(b, tuple):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _same(u, v)
        return
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10 * (1 + np.abs(b).max(initial=0)))


class LockStep(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        np.random.seed(0)
        self.fast = LockFast()
        np.random.seed(0)
        self.ref = LockRef()
        self.rng = np.random.default_rng(0)
        self.data = {"tutorial": (nndfast.X, nndfast.y)}

    def teardown(self):
        for name in list(PATCHES) + list(WEIGHT_PROPERTIES):
            for cls in (LockFast, LockRef):
                cls.__dict__.get(name) and delattr(cls, name)

    def _both(self, f):
        (a, ea), (b, eb) = _outcome(lambda: f(self.fast)), _outcome(lambda: f(self.ref))
        assert ea == eb, (ea, eb)
        if eb is None:
            _same(a, b)

    def _xy(self, big):
        I, O = self.ref.inputLayerSize, self.ref.outputLayerSize
        n = 3000 if big else 3
        return self.rng.normal(size=(n, I)), self.rng.random((n, O))

    @rule(H=st.integers(1, 9), O=st.integers(1, 2), weights_first=st.booleans())
    def resize(self, H, O, weights_first):
        I = self.ref.inputLayerSize
        W1, W2 = self.rng.normal(size=(I, H)), self.rng.normal(size=(H, O))
        for net in (self.fast, self.ref):
            if weights_first:
                net.W1, net.W2 = W1.copy(), W2.copy()
            net.hiddenLayerSize, net.outputLayerSize = H, O
            if not weights_first:
                net.W1, net.W2 = W1.copy(), W2.copy()

    @rule(layer=st.sampled_from(["W1", "W2"]), layout=st.sampled_from(sorted(LAYOUTS)))
    def assign(self, layer, layout):
        W = LAYOUTS[layout](self.rng.normal(size=np.shape(getattr(self.ref, layer))))
        setattr(self.fast, layer, W)
        setattr(self.ref, layer, np.array(W, dtype=np.float64))

    @rule(Lambda=st.sampled_from([None, 0.0, 1e-4, 0.5]))
    def set_lambda(self, Lambda):
        self.fast.Lambda = self.ref.Lambda = Lambda

    @rule(name=st.sampled_from(sorted(PATCHES)), on=st.booleans())
    def patch(self, name, on):
        for cls in (LockFast, LockRef):
            if on:
                setattr(cls, name, PATCHES[name])
            elif name in cls.__dict__:
                delattr(cls, name)

    @rule(on=st.booleans())
    def weight_properties(self, on):
        """Install or remove class-level W1/W2 properties; the weights carry
        over through whichever property is current."""
        for net, cls in ((self.fast, LockFast), (self.ref, LockRef)):
            W1, W2 = np.array(net.W1), np.array(net.W2)
            for name, prop in WEIGHT_PROPERTIES.items():
                if on:
                    setattr(cls, name, prop)
                elif name in cls.__dict__:
                    delattr(cls, name)
            net.W1, net.W2 = W1, W2

    @rule()
    def pickle_round_trip(self):
        self.fast = pickle.loads(pickle.dumps(self.fast))
        self.ref = pickle.loads(pickle.dumps(self.ref))

    @rule(big=st.booleans())
    def forward(self, big):
        Xd, _ = self._xy(big)
        self._both(lambda net: net.forward(Xd))
        self._both(lambda net: (net.z2, net.a2, net.z3))

    @rule(big=st.booleans(), op=st.sampled_from(["costFunction", "costFunctionPrime",
                                                  "computeGradients"]))
    def cost(self, big, op):
        Xd, yd = self._xy(big)
        self._both(lambda net: getattr(net, op)(Xd, yd))
        self._both(lambda net: (net.z2, net.a2, net.z3, net.yHat))

    @rule()
    def numerical_gradient(self):
        Xd, yd = self._xy(False)
        mod = {id(self.fast): nndfast, id(self.ref): R}
        self._both(lambda net: mod[id(net)].computeNumericalGradient(net, Xd, yd))

    @rule(big=st.booleans())
    def grid(self, big):
        Xd, yd = self._xy(big)
        axes = {"W1[0,0]": np.linspace(-1, 1, 3), "W2[0,0]": np.linspace(-2, 2, 2)}
        mod = {id(self.fast): nndfast, id(self.ref): R}
        self._both(lambda net: mod[id(net)].grid_search(net, Xd, yd, axes).costs)
        # nndfast's search leaves the network's caches alone, the reference's
        # loop leaves those of its last point: compare from the next call on
        for net in (self.fast, self.ref):
            for name in ("z2", "a2", "z3", "yHat"):
                if hasattr(net, name):
                    delattr(net, name)

    @rule(big=st.booleans())
    def descent(self, big):
        Xd, yd = self._xy(big)
        mod = {id(self.fast): nndfast, id(self.ref): R}
        lr = 0.1 / len(Xd)
        self._both(lambda net: mod[id(net)].gradient_descent(net, Xd, yd, learning_rate=lr,
                                                             max_iter=3, tol=0).costs)

    @invariant()
    def same_weights(self):
        self._both(lambda net: (net.W1, net.W2))


TestLockStep = LockStep.TestCase
TestLockStep.settings = settings(max_examples=25, stateful_step_count=15, deadline=None,
                                 suppress_health_check=list(HealthCheck))
