"""The fast drop-in Neural_Network (API): the tutorial's API over compiled kernels.

Everything here mirrors nndfast.reference.Neural_Network name for name and
shape for shape; the arithmetic happens in nndfast._network.

The state model: every call reads the network once, through its public
attributes (so subclass properties and class attributes count), into an
immutable _network.Snapshot, and works from that alone; which tutorial
methods the class overrides is looked up at that moment, so patches count.
The network's _network.Workspace owns the buffers its calls write and
publishes z2, a2, z3 and yHat all at once after a call succeeds.  Tiny calls
(the tutorial's 3x2 data) reuse scratch buffers and the attributes are
copied out on first access; large calls keep z2, a2 and z3 lazily (their own
copy of X, made chunk by chunk as the kernels read X, and of the weights)
and compute them when first read, bit for bit
what an eager call would have stored.  An array a user holds is never
changed by a later call.
"""
from operator import attrgetter

import numpy as np

from nndfast import _network as _k
from nndfast._threads import resolve_num_threads
from nndfast._validate import F64, as_data, as_lambda, as_layer_size, as_layer_sizes, as_weights

__all__ = ["Neural_Network", "computeNumericalGradient"]


# The tutorial's methods, and the ones each one's tutorial body calls through
# self (directly or not).  A stock method whose callees are all stock runs the
# kernels; otherwise it runs its tutorial body (the _*_generic methods below),
# so partial overrides compose as they do with the tutorial's class.
TUTORIAL_METHODS = ("sigmoid", "sigmoidPrime", "forward", "costFunction",
                    "costFunctionPrime", "computeGradients", "getParams", "setParams")
_CALLS = {
    "sigmoid": (),
    "sigmoidPrime": (),
    "forward": ("sigmoid",),
    "costFunction": ("forward",),
    "costFunctionPrime": ("forward", "sigmoidPrime"),
    "computeGradients": ("costFunctionPrime",),
    "getParams": (),
    "setParams": (),
}


def _callees(name):
    """Every tutorial method that name's tutorial body reaches through self."""
    out, todo = set(), list(_CALLS[name])
    while todo:
        m = todo.pop()
        if m not in out:
            out.add(m)
            todo.extend(_CALLS[m])
    return tuple(sorted(out))


_CALLEES = {name: _callees(name) for name in TUTORIAL_METHODS}


def is_stock(NN, uses=TUTORIAL_METHODS):
    """True if the tutorial methods ``uses`` give nndfast's kernels' numbers on NN.

    That is: NN is an nndfast Neural_Network and neither its instance dict
    nor its class (looked up now: later patches count) overrides any of
    ``uses`` or the methods their tutorial bodies call (``costFunction``
    calls ``forward``, which calls ``sigmoid``, ...).  With the default, any
    override makes NN non-stock.  Entry points that run compiled loops
    (training, grid search, the numerical gradient) take them only for
    stock networks and otherwise go through the network's own methods.  Any
    other network (nndfast.reference's, say) is never stock: its methods
    are its own.
    """
    if not isinstance(NN, Neural_Network):
        return False
    if isinstance(uses, str):
        uses = (uses,)
    need = set(uses).union(*(_CALLEES[name] for name in uses))
    return not _k.overrides(NN, tuple(need))


def loops_compiled(NN, uses=TUTORIAL_METHODS):
    """True if a loop that assigns NN's weights and reads them back at every
    step (training, the numerical gradient) may instead hold the weights
    itself and run compiled: NN is stock for ``uses`` (is_stock) and its
    class keeps nndfast's own W1 and W2 properties.  A W1/W2 property of a
    subclass may change what is assigned (round it to float32, clip it),
    which such a loop would not see; that network goes through the
    tutorial's loop and its own attributes, with the reference's numbers."""
    return is_stock(NN, uses) and _weights_are_stock(type(NN))


def snapshot(NN, read=None):
    """NN read once into a validated _network.Snapshot (sizes I, H, O,
    weights W1 (I, H) and W2 (H, O) as C-contiguous float64, Lambda None or
    a float).  ``read``: the raw read a fast entry already made
    (_network.read's answer), so the network is not read twice.

    Raises TypeError/ValueError naming the attribute for bad sizes, weights
    or Lambda, and ValueError when the weights' shapes and the sizes
    disagree (a half-done resize)."""
    if read is None:
        read = _k.read(NN)
    if type(read) is _k.Snapshot:
        return read
    I, H, O, W1, W2, Lambda = read
    I, H, O = as_layer_sizes(I, H, O)
    W1 = as_weights(W1, "W1")
    W2 = as_weights(W2, "W2")
    # W.shape = ... in place, or a size reassigned without (or before) the
    # weights it needs: stop before a kernel reads out of bounds.
    if W1.shape != (I, H) or W2.shape != (H, O):
        raise ValueError(
            f"the layer sizes and weights disagree: inputLayerSize={I}, "
            f"hiddenLayerSize={H}, outputLayerSize={O} need W1 of shape {(I, H)} and "
            f"W2 of shape {(H, O)}, but W1 has shape {W1.shape} and W2 {W2.shape}; "
            f"assign the sizes and weights that match")
    return _k.Snapshot(I, H, O, W1, W2, as_lambda(Lambda))


class _WorkspaceSlot(object):
    """The network's _network.Workspace, made on first use: a network
    unpickled from an older nndfast, or a subclass whose __init__ skips
    ours, gets one too."""

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return obj.__dict__.setdefault("_ws", _k.Workspace())


def _output(k, name, setters):
    """The property for output k of the workspace (z2, a2, z3, yHat)."""

    def fget(self):
        value = self._ws.get(k)
        if value is None:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute '{name}' "
                f"(call {setters} first)")
        return value

    def fset(self, value):
        self._ws.set(k, value)

    def fdel(self):
        fget(self)
        self._ws.set(k, None)

    return property(fget, fset, fdel, f"Cached by {setters}: the value of the last call "
                                      f"that set it (AttributeError before any).")


class Neural_Network(object):
    """The tutorial's sigmoid network, inputLayerSize-hiddenLayerSize-outputLayerSize.

    ``Neural_Network()`` is the tutorial's 2-3-1 network.  Weights are drawn
    as ``W1 = np.random.randn(I, H)`` then ``W2 = np.random.randn(H, O)``
    from numpy's global generator, so ``np.random.seed(k)`` gives the same
    weights as nndfast.reference and the tutorial.

    ``Neural_Network(Lambda=0.0001)`` is Part 7's regularized network; the
    default ``Lambda=None`` keeps the cost of Parts 2-6.

    Subclass it, or set a method on an instance, to change any of the
    tutorial's methods: as with the tutorial's class, the other methods and
    every entry point (computeNumericalGradient, gradient_check,
    gradient_descent, grid_search) then go through yours.  An inherited
    method runs the kernels unless a method it calls is overridden, and
    then its tutorial body in numpy (see is_stock).  Overrides, patches and
    properties are looked up at every call.

    Attributes
    ----------
    inputLayerSize, hiddenLayerSize, outputLayerSize : int >= 1
        May be reassigned, as with the tutorial's class (to resize a layer,
        assign the new size and W1/W2 of the new shapes, in any order); a
        call made while the sizes and weights disagree raises ValueError.
    W1 : ndarray (inputLayerSize, hiddenLayerSize), float64
    W2 : ndarray (hiddenLayerSize, outputLayerSize), float64
        Edit in place (``NN.W1[0, 0] = 1.1``) or assign a new 2-D array; the
        next call uses the new values.  An assigned array that is already
        C-contiguous, aligned, native-order float64 is kept as is; anything
        else is copied.
    Lambda : None or float >= 0
        Part 7's regularization parameter (see costFunction); may be
        changed between calls.
    z2, a2 : ndarray (n, hiddenLayerSize)
    z3 : ndarray (n, outputLayerSize)
        Cached by forward, costFunction and costFunctionPrime.
    yHat : ndarray (n, outputLayerSize)
        Cached by costFunction and costFunctionPrime.
    """

    _ws = _WorkspaceSlot()
    z2 = _output(0, "z2", "forward, costFunction or costFunctionPrime")
    a2 = _output(1, "a2", "forward, costFunction or costFunctionPrime")
    z3 = _output(2, "z3", "forward, costFunction or costFunctionPrime")
    # forward returns yHat without keeping it, as in the tutorial
    yHat = _output(3, "yHat", "costFunction or costFunctionPrime")

    def __init__(self, inputLayerSize=2, hiddenLayerSize=3, outputLayerSize=1, Lambda=None):
        self.inputLayerSize = as_layer_size(inputLayerSize, "inputLayerSize")
        self.hiddenLayerSize = as_layer_size(hiddenLayerSize, "hiddenLayerSize")
        self.outputLayerSize = as_layer_size(outputLayerSize, "outputLayerSize")
        self.Lambda = Lambda
        self._ws = _k.Workspace()
        self.W1 = np.random.randn(self.inputLayerSize, self.hiddenLayerSize)
        self.W2 = np.random.randn(self.hiddenLayerSize, self.outputLayerSize)

    # -- weights -----------------------------------------------------------
    # The setters check dtype and ndim only: the tutorial's class lets a layer
    # be resized by assigning its size and new weights in any order, so the
    # shapes are checked against the sizes when the network is next used.
    # The getters are attrgetter("_W1") and so on, C callables: every call
    # reads them.  _network.read knows these three properties (set_stock) and,
    # where a class keeps them, takes _W1/_W2/_Lambda from the instance dict
    # as the getter would, saving the property call on the tutorial's 3x2
    # calls, which take about half a microsecond.
    def _set_W1(self, value):
        self._W1 = as_weights(value, "W1")

    def _set_W2(self, value):
        self._W2 = as_weights(value, "W2")

    def _set_Lambda(self, value):
        self._Lambda = as_lambda(value)

    W1 = property(attrgetter("_W1"), _set_W1, None,
                  "Layer-1 weights, shape (inputLayerSize, hiddenLayerSize).")
    W2 = property(attrgetter("_W2"), _set_W2, None,
                  "Layer-2 weights, shape (hiddenLayerSize, outputLayerSize).")
    Lambda = property(attrgetter("_Lambda"), _set_Lambda, None,
                      """Part 7's regularization parameter: None (the cost of Parts 2-6,
        the default) or a finite float >= 0.  Assigning anything else raises
        TypeError (not a real number, or a bool) or ValueError (negative,
        NaN or inf).""")
    # a network pickled before Lambda existed has none
    _Lambda = None

    def _sizes(self):
        """(I, H, O) as checked ints, read from the public attributes."""
        return as_layer_sizes(self.inputLayerSize, self.hiddenLayerSize, self.outputLayerSize)

    def _check(self, X, y=None):
        I, _, O = self._sizes()
        return as_data(X, y, I, O)

    def _general(self, op, X, y, read):
        """Any call the fast entry declined: validate the one read of the
        network, convert X and y against it (user code may run there, as
        np.asarray calls __array__: the snapshot does not change), then
        run op on the workspace."""
        snap = snapshot(self, read)
        X, y = as_data(X, y, snap.I, snap.O)
        return self._ws.run(snap, X, y, op, resolve_num_threads(None))

    # -- the tutorial's methods -------------------------------------------
    # forward, costFunction and costFunctionPrime are compiled (see
    # _network.network_forward): each runs the workspace's fast entry, and
    # _general or the tutorial's body (_*_generic below) when that declines.
    forward = _k.network_forward

    def sigmoid(self, z):
        """Elementwise 1/(1+e^-z) for a scalar or array; stable at any |z|."""
        return _elementwise(_k.sigmoid, z)

    def sigmoidPrime(self, z):
        """Elementwise derivative of the sigmoid; finite where the tutorial's
        e^-z/(1+e^-z)^2 gives NaN (z < -709)."""
        return _elementwise(_k.sigmoid_prime, z)

    costFunction = _k.network_costFunction

    def _cost_and_gradient(self, X, y):
        """(J (O,), dJdW1 (I, H), dJdW2 (H, O)) for X (n, I), y (n, O), from
        the kernels whatever the network's class overrides: callers check
        is_stock(self, ("costFunction", "costFunctionPrime")) first."""
        snap = snapshot(self)
        X, y = as_data(X, y, snap.I, snap.O)
        return self._ws.run(snap, X, y, "gradient", resolve_num_threads(None))

    costFunctionPrime = _k.network_costFunctionPrime

    # -- Part 5 helpers ------------------------------------------------------
    def getParams(self):
        """W1 and W2 unrolled into a new vector of shape (I*H + H*O,).
        ValueError if their shapes do not match the layer sizes."""
        snap = snapshot(self)
        return np.concatenate((snap.W1.ravel(), snap.W2.ravel()))

    def setParams(self, params):
        """Set W1 and W2 from a vector of shape (I*H + H*O,), as getParams gives."""
        I, H, O = self._sizes()
        p = np.asarray(params)
        if p.dtype.kind not in "biuf":
            raise TypeError(f"params must be a real numeric vector; got dtype {p.dtype}")
        if p.ndim != 1 or p.shape[0] != I * H + H * O:
            raise ValueError(
                f"params must be a 1-D vector of length {I * H + H * O} "
                f"(inputLayerSize*hiddenLayerSize + hiddenLayerSize*outputLayerSize); "
                f"got shape {p.shape}")
        self.W1 = np.array(p[:I * H], dtype=F64).reshape(I, H)
        self.W2 = np.array(p[I * H:], dtype=F64).reshape(H, O)

    def computeGradients(self, X, y):
        """costFunctionPrime unrolled like getParams(): shape (I*H + H*O,)."""
        if _k.overrides(self, _COMPUTE_GRADIENTS_USES):
            dJdW1, dJdW2 = self.costFunctionPrime(X, y)
            return np.concatenate((np.ravel(dJdW1), np.ravel(dJdW2)))
        _, g1, g2 = self._cost_and_gradient(X, y)
        return np.concatenate((g1.ravel(), g2.ravel()))

    # -- the tutorial's bodies, for networks that override a method they call --
    # Each is the tutorial's method written the tutorial's way, calling the
    # network's own (possibly overridden) methods through self.
    def _forward_generic(self, X):
        X, _ = self._check(X)
        self.z2 = np.dot(X, self.W1)
        self.a2 = self.sigmoid(self.z2)
        self.z3 = np.dot(self.a2, self.W2)
        yHat = self.sigmoid(self.z3)
        return yHat

    def _costFunction_generic(self, X, y):
        self.yHat = self.forward(X)
        y = _like_yhat(y, self.yHat)
        J = 0.5 * np.sum((y - self.yHat) ** 2, axis=0)
        Lambda = getattr(self, "Lambda", None)
        if Lambda is not None:
            # Part 7's cost, as nndfast.reference writes it: each of the O
            # entries carries 1/O of the penalty, so sum(J) is the cost
            J = (J / np.shape(X)[0] + (Lambda / 2) * (np.sum(self.W1 ** 2)
                                                      + np.sum(self.W2 ** 2)) / np.size(J))
        return J

    def _costFunctionPrime_generic(self, X, y):
        X, y = self._check(X, y)
        self.yHat = self.forward(X)
        delta3 = np.multiply(-(y - self.yHat), self.sigmoidPrime(self.z3))
        dJdW2 = np.dot(self.a2.T, delta3)
        delta2 = np.dot(delta3, self.W2.T) * self.sigmoidPrime(self.z2)
        dJdW1 = np.dot(X.T, delta2)
        Lambda = getattr(self, "Lambda", None)
        if Lambda is not None:      # Part 7's gradient
            dJdW2 = dJdW2 / X.shape[0] + Lambda * self.W2
            dJdW1 = dJdW1 / X.shape[0] + Lambda * self.W1
        return dJdW1, dJdW2

    def __copy__(self):
        """A shallow copy, as copy.copy makes of the tutorial's class: the same
        class, attributes and arrays, and a workspace of its own that
        publishes the same outputs."""
        clone = type(self).__new__(type(self))
        state = self.__dict__.copy()
        state["_ws"] = self._ws.copy()
        clone.__dict__.update(state)
        return clone

    def __getstate__(self):
        state = self.__dict__.copy()
        # the workspace is per-object working memory; its outputs are state
        state.pop("_ws", None)
        for name, value in zip(_OUTPUTS, self._ws.outputs()):
            if value is not None:
                state[name] = value
        return state

    def __setstate__(self, state):
        state = dict(state)
        # buffers of older nndfast versions, not state
        for key in ("_pending", "_scratch", "_large"):
            state.pop(key, None)
        outputs = [state.pop(name, None) for name in _OUTPUTS]
        self.__dict__.update(state)
        ws = self.__dict__["_ws"] = _k.Workspace()
        for k, value in enumerate(outputs):
            if value is not None:
                ws.set(k, value)

    def __repr__(self):
        lam = "" if self.Lambda is None else f", Lambda={self.Lambda!r}"
        return (f"Neural_Network(inputLayerSize={self.inputLayerSize}, "
                f"hiddenLayerSize={self.hiddenLayerSize}, "
                f"outputLayerSize={self.outputLayerSize}{lam})")


# The stock functions, to tell a subclass's override from an inherited method.
# the compiled methods, named as the methods they are (repr, pickling of
# bound methods, tracebacks)
for _name in ("forward", "costFunction", "costFunctionPrime"):
    _method = Neural_Network.__dict__[_name]
    _method.__name__, _method.__qualname__ = _name, f"Neural_Network.{_name}"
    _method.__module__ = __name__
del _name, _method

_STOCK = {name: Neural_Network.__dict__[name] for name in TUTORIAL_METHODS}
_k.set_stock(_STOCK, _CALLEES["forward"], _CALLEES["costFunction"],
             _CALLEES["costFunctionPrime"],
             tuple(Neural_Network.__dict__[name] for name in ("W1", "W2", "Lambda")))
_COMPUTE_GRADIENTS_USES = ("costFunctionPrime",) + _CALLEES["computeGradients"]
_OUTPUTS = ("z2", "a2", "z3", "yHat")
_SIZES = ("inputLayerSize", "hiddenLayerSize", "outputLayerSize")
_STOCK_WEIGHTS = (Neural_Network.__dict__["W1"], Neural_Network.__dict__["W2"])


def _like_yhat(y, yHat):
    """y as an array, checked against yHat's shape: the tutorial's y - yHat
    would otherwise broadcast a wrong-shaped y into other numbers."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y must be a real numeric array; got dtype {y.dtype}")
    if y.shape != np.shape(yHat):
        raise ValueError(f"y must have the shape of yHat, {np.shape(yHat)}; got {y.shape}")
    return y


def _elementwise(kernel, z):
    arr = np.asarray(z)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"z must be real numeric; got dtype {arr.dtype}")
    flat = np.require(arr, dtype=F64, requirements=("C", "A")).ravel()
    out = np.empty_like(flat)
    kernel(flat, out)
    out = out.reshape(arr.shape)
    return out[()] if arr.ndim == 0 else out


def computeNumericalGradient(N, X, y):
    """Central-difference gradient of sum(J) with e = 1e-4, shaped like N.getParams().

    The tutorial's function with its numbers, for any network: each
    parameter in turn is moved by +e and -e and N.costFunction (N's own,
    overridden or not; with N.Lambda set, Part 7's cost) is called.  For
    nndfast's network with the stock getParams and setParams the weights
    are perturbed in place in private copies swapped in for the loop (no
    setParams copy per step; same numbers); any other network goes through
    the tutorial's getParams/setParams loop.  The arrays N holds are never written to, so
    read-only and foreign (np.frombuffer) weights work, and N's weights are
    as they were afterwards, even after an error.

    N : a network with the tutorial's API;  X : (n, inputLayerSize),
    y : (n, outputLayerSize).  Returns a new vector of shape (I*H + H*O,).
    Raises TypeError or ValueError naming the layer size or Lambda that is
    not valid, before any evaluation.
    """
    # a foreign network (nndfast.reference's) takes any size or Lambda on
    # assignment; its costFunction would fail deep inside (OverflowError
    # for Lambda=10**400) or run with sizes no other entry point takes.  A
    # duck-typed network without the sizes is checked on Lambda only.
    sizes = [getattr(N, name, None) for name in _SIZES]
    if None not in sizes:
        as_layer_sizes(*sizes)
    as_lambda(getattr(N, "Lambda", None))
    if not loops_compiled(N, ("getParams", "setParams")):
        return _numerical_gradient_by_params(N, X, y)
    e = 1e-4
    snap = snapshot(N)
    W1, W2 = N.W1, N.W2
    P1, P2 = snap.W1.copy(), snap.W2.copy()
    numgrad = np.empty(P1.size + P2.size)
    k = 0
    N.W1, N.W2 = P1, P2
    try:
        for flat in (P1.reshape(-1), P2.reshape(-1)):
            for p in range(flat.size):
                p0 = flat[p]
                # the tutorial's paramsInitial +/- perturb, one weight at a time
                flat[p] = p0 + e
                loss2 = np.sum(N.costFunction(X, y))
                flat[p] = p0 - e
                loss1 = np.sum(N.costFunction(X, y))
                flat[p] = p0
                numgrad[k] = (loss2 - loss1) / (2 * e)
                k += 1
    finally:
        N.W1, N.W2 = W1, W2
    return numgrad


def _weights_are_stock(cls):
    """True if W1 and W2 are Neural_Network's own properties in cls (not
    overridden anywhere in its MRO)."""
    return (getattr(cls, "W1", None) is _STOCK_WEIGHTS[0]
            and getattr(cls, "W2", None) is _STOCK_WEIGHTS[1])


def _numerical_gradient_by_params(N, X, y):
    """The tutorial's loop, duck-typed: central differences (e = 1e-4) of
    sum(N.costFunction(X, y)) over N.getParams(), set through N.setParams."""
    # The same loop as reference.computeNumericalGradient, on purpose (plus
    # the finally): the fast side does not import the oracle, and the oracle
    # shares no code with the side it checks.
    e = 1e-4
    paramsInitial = N.getParams()
    numgrad = np.zeros(np.shape(paramsInitial))
    perturb = np.zeros(np.shape(paramsInitial))
    try:
        for p in range(perturb.size):
            perturb[p] = e
            N.setParams(paramsInitial + perturb)
            loss2 = np.sum(N.costFunction(X, y))
            N.setParams(paramsInitial - perturb)
            loss1 = np.sum(N.costFunction(X, y))
            numgrad[p] = (loss2 - loss1) / (2 * e)
            perturb[p] = 0
    finally:
        N.setParams(paramsInitial)
    return numgrad
