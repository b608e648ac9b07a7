"""The outputs a network publishes (z2, a2, z3, yHat) and who may change them.

The contract (network.py, _network.Workspace): an array a user holds,
directly or through any view, never changes; a large call keeps z2, a2 and
z3 lazily and they are exactly what the call computed, whatever changed
since.  Every check here also compares the values with nndfast.reference.
"""
import copy
import weakref

import numpy as np
import pytest

import nndfast

from conftest import assert_close, data, forward_scales, pair

# 2000 x 64 hidden units: a large call (far above the tiny-path threshold)
N, H = 2000, 64
NAMES = ("z2", "a2", "z3", "yHat")

CALLS = {
    "forward": lambda NN, X, y: NN.forward(X),
    "costFunction": lambda NN, X, y: NN.costFunction(X, y),
    "costFunctionPrime": lambda NN, X, y: NN.costFunctionPrime(X, y),
}


def _check_caches(fast, ref, X, sets_yhat=True):
    s2, s3 = forward_scales(ref, X)
    assert_close(fast.z2, ref.z2, scale=s2)
    assert_close(fast.a2, ref.a2)
    assert_close(fast.z3, ref.z3, scale=s3)
    if sets_yhat:
        assert_close(fast.yHat, ref.yHat)


@pytest.mark.parametrize("op", ["forward", "costFunction", "costFunctionPrime"])
def test_large_outputs_are_those_of_the_call_whatever_changed_since(op):
    """A large call keeps z2, a2, z3 lazily: computed on first read from its
    own copy of X and the weights, bit for bit what the kernels write eagerly."""
    from nndfast import _network as K
    fast, ref = pair(0, hiddenLayerSize=H)
    X, y = data(0, N, 2, 1)
    X0, W10, W20 = X.copy(), fast.W1.copy(), fast.W2.copy()
    CALLS[op](fast, X, y)
    CALLS[op](ref, X, y)
    X[:] = 7.0                            # the caller's arrays change before the read
    fast.W1[0, 0] += 0.25
    fast.W2[:] = 0.0
    eager = [np.empty((N, H)), np.empty((N, H)), np.empty((N, 1)), np.empty((N, 1))]
    K.forward(X0, W10, W20, *eager, 1)
    for a, want in zip(NAMES[:3], eager):
        assert np.array_equal(getattr(fast, a), want), a
        assert getattr(fast, a) is getattr(fast, a), a     # one array, not one per read
    X[:] = X0
    _check_caches(fast, ref, X, sets_yhat=op != "forward")


def test_large_outputs_match_the_yhat_of_their_call_while_another_thread_writes_x():
    """The kernels copy X chunk by chunk into the call's own X and read it
    from there: whatever another thread writes into X during the call, the
    lazy z3 is the one behind the returned yHat, bit for bit."""
    import threading
    fast = nndfast.Neural_Network(2, 16, 1)
    X, _ = data(1, 200_000, 2, 1)
    stop = threading.Event()

    def scribble():
        rng = np.random.default_rng(2)
        while not stop.is_set():
            rows = rng.integers(0, len(X), 4096)
            X[rows] = rng.normal(size=(len(rows), 2))

    t = threading.Thread(target=scribble)
    t.start()
    try:
        for _ in range(5):
            yhat = fast.forward(X)
            z3 = fast.z3
            assert np.array_equal(fast.sigmoid(z3), yhat)
    finally:
        stop.set()
        t.join()


def test_forward_never_replaces_the_cost_calls_yHat():
    fast, ref = pair(1, hiddenLayerSize=H)
    X, y = data(1, N, 2, 1)
    fast.costFunction(X, y)
    ref.costFunction(X, y)
    yhat_cost = fast.yHat.copy()
    fast.W2[0, 0] -= 0.5
    ref.W2[0, 0] -= 0.5
    got = fast.forward(X)
    assert_close(got, ref.forward(X))
    _check_caches(fast, ref, X, sets_yhat=False)
    # forward does not set yHat (as in the tutorial): the cost call's stays
    assert np.array_equal(fast.yHat, yhat_cost)
    # and the same after a tiny forward, whose scratch the cost call's yHat is not in
    fast.costFunction(nndfast.X, nndfast.y)
    tiny_yhat = fast.yHat.copy()
    fast.forward(nndfast.X * 2)
    assert np.array_equal(fast.yHat, tiny_yhat)


HOLDS = {
    "the array": lambda a: a,
    "a slice": lambda a: a[5:17],
    "a transpose": lambda a: a.T,
    "a reshape": lambda a: a.reshape(-1),
    "a memoryview": memoryview,
    "np.asarray in a list": lambda a: [np.asarray(a)],
    "np.frombuffer": lambda a: np.frombuffer(a, dtype=np.float64),
}


@pytest.mark.parametrize("how", list(HOLDS))
@pytest.mark.parametrize("op", list(CALLS))
def test_held_outputs_never_change(op, how):
    """Hold each cached array (or a view of it) and the returned arrays, then
    make every kind of call again with other weights and other data of the
    same shape: what is held keeps its values, and the network's new caches
    are right."""
    fast, ref = pair(2, hiddenLayerSize=H)
    X, y = data(2, N, 2, 1)
    X2, y2 = data(3, N, 2, 1)
    out = CALLS[op](fast, X, y)
    held = [(a, HOLDS[how](getattr(fast, a))) for a in NAMES if hasattr(fast, a)]
    held += [(f"returned {k}", HOLDS[how](o))
             for k, o in enumerate(out if isinstance(out, tuple) else (out,))]
    snapshots = [(name, np.array(h[0] if isinstance(h, list) else h, copy=True))
                 for name, h in held]
    del out
    for other in CALLS:
        fast.W1[1, 2] += 0.3
        ref.W1[1, 2] += 0.3
        CALLS[other](fast, X2, y2)
        CALLS[other](ref, X2, y2)
        _check_caches(fast, ref, X2, sets_yhat=other != "forward" or hasattr(ref, "yHat"))
    for (name, h), (_, snap) in zip(held, snapshots):
        now = np.asarray(h[0] if isinstance(h, list) else h)
        assert np.array_equal(now, snap), (name, how)


def test_read_only_or_resized_outputs_are_not_reused():
    fast, ref = pair(4, hiddenLayerSize=H)
    X, y = data(4, N, 2, 1)
    fast.costFunction(X, y)
    fast.z2.flags.writeable = False
    z2 = weakref.ref(fast.z2)
    frozen = fast.z2.copy()
    fast.W1[0, 1] += 1.0
    ref.W1[0, 1] += 1.0
    fast.costFunction(X, y)
    ref.costFunction(X, y)
    assert fast.z2 is not z2()
    _check_caches(fast, ref, X)
    # fewer rows: new arrays of the new shape
    Xs, ys = X[:1500], y[:1500]
    fast.costFunction(Xs, ys)
    ref.costFunction(Xs, ys)
    assert fast.z2.shape == (1500, H) and fast.z2.base is None
    _check_caches(fast, ref, Xs)
    assert z2() is None or np.array_equal(z2(), frozen)


def test_an_output_passed_back_as_input_is_read_correctly():
    """costFunction(X, NN.yHat): y is the network's own yHat array, so it is
    held by the call itself and must not be written while it is read."""
    fast, ref = pair(5, hiddenLayerSize=H)
    X, y = data(5, N, 2, 1)
    fast.costFunction(X, y)
    ref.costFunction(X, y)
    fast.W2[2, 0] += 0.7
    ref.W2[2, 0] += 0.7
    for name in ("costFunction", "costFunctionPrime"):
        yy = ref.yHat.copy()
        expected = CALLS[name](ref, X, yy)
        got = CALLS[name](fast, X, fast.yHat)
        for g, e in zip(got if isinstance(got, tuple) else (got,),
                        expected if isinstance(expected, tuple) else (expected,)):
            assert_close(g, e, scale=np.abs(e).max() + 1.0)


def test_a_shallow_copy_never_writes_the_originals_arrays():
    fast, ref = pair(6, hiddenLayerSize=H)
    X, y = data(6, N, 2, 1)
    fast.costFunction(X, y)
    ref.costFunction(X, y)
    clone = copy.copy(fast)
    snap = {a: getattr(fast, a).copy() for a in NAMES}
    clone.W1 = clone.W1 + 1.0            # its own weights, same sizes
    clone.costFunctionPrime(X, y)
    clone.forward(X)
    for a in NAMES:
        assert np.array_equal(getattr(fast, a), snap[a]), a
    _check_caches(fast, ref, X)
    fast.costFunction(X, y)              # and the other way round
    assert not np.array_equal(clone.z2, fast.z2)


def test_a_tiny_call_lets_the_large_outputs_go():
    """After a tiny call the attributes are the tiny call's, and the large
    arrays are not kept alive for reuse (memory comes back as before)."""
    fast, _ = pair(7, hiddenLayerSize=H)
    X, y = data(7, N, 2, 1)
    fast.costFunction(X, y)
    large = [weakref.ref(getattr(fast, a)) for a in NAMES]
    fast.costFunction(nndfast.X, nndfast.y)
    assert all(r() is None for r in large)
    assert fast.z2.shape == (3, H)


def test_pickle_and_deepcopy_carry_the_outputs_not_the_workspace():
    import pickle

    fast, _ = pair(8, hiddenLayerSize=H)
    X, y = data(8, N, 2, 1)
    fast.forward(X)
    for clone in (pickle.loads(pickle.dumps(fast)), copy.deepcopy(fast)):
        assert clone._ws is not fast._ws
        assert np.array_equal(clone.z2, fast.z2)
        assert np.array_equal(clone.forward(X), fast.forward(X))


@pytest.mark.parametrize("I,H,O", [(2, 3, 1), (2, 1, 1), (3, 4, 2), (2, 5, 1), (2, 8, 1),
                                   (4, 64, 3)])
@pytest.mark.parametrize("n", [1, 255, 257, 3000])
def test_kernels_without_kept_outputs_give_the_same_bits(I, H, O, n):
    # The trainer runs the kernels with z2, a2, z3 (and yhat) None: computed
    # per chunk in scratch, never stored for all rows.  Same numbers, bit for
    # bit, on every path (narrow, column, row) and thread count.
    from nndfast import _network as K
    rng = np.random.default_rng(n * 100 + H)
    X, y = rng.normal(size=(n, I)), rng.random((n, O))
    W1, W2 = rng.normal(size=(I, H)), rng.normal(size=(H, O))

    def kept():
        return [np.empty((n, H)), np.empty((n, H)), np.empty((n, O)), np.empty((n, O))]

    for nt in (1, 2):
        b = kept()
        K.forward(X, W1, W2, *b, nt)
        yhat = np.empty((n, O))
        K.forward(X, W1, W2, None, None, None, yhat, nt)
        assert np.array_equal(yhat, b[3])
        J, J0 = np.zeros(O), np.zeros(O)
        K.cost(X, y, W1, W2, *kept(), J, nt)
        K.cost(X, y, W1, W2, None, None, None, None, J0, nt)
        assert np.array_equal(J, J0)
        g = [np.zeros((I, H)), np.zeros((H, O)), np.zeros(O)]
        g0 = [np.zeros((I, H)), np.zeros((H, O)), np.zeros(O)]
        K.cost_and_gradient(X, y, W1, W2, *kept(), *g, nt)
        K.cost_and_gradient(X, y, W1, W2, None, None, None, None, *g0, nt)
        assert all(np.array_equal(a, b) for a, b in zip(g, g0))
    with pytest.raises(ValueError, match="all given or all None"):
        K.forward(X, W1, W2, None, np.empty((n, H)), None, np.empty((n, O)), 1)
