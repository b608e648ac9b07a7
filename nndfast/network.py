"""The fast drop-in Neural_Network: the tutorial's API over compiled kernels.

Everything here mirrors nndfast.reference.Neural_Network name for name and
shape for shape; the arithmetic happens in nndfast._network.

Caching of z2, a2, z3 and yHat: the tutorial keeps them on the object.  For
calls below _network.pyx's PARALLEL_MIN_WORK (the tutorial's 3x2 data is one) the kernels
write into scratch buffers owned by the network and the attributes are
copied out on first access, so a brute-force loop of costFunction calls
allocates one array per call instead of five.  Larger calls store their
arrays directly, and the next large call writes into them again when nothing
outside the network holds them (same reference-count test as numpy's
temporary elision, _network.large_outputs); otherwise it allocates fresh ones.
Either way an attribute holds the values of the call that last set it, and an
array a user holds (directly or through a view) is never changed by a later
call.
"""
import numpy as np

from nndfast import _network as _k
from nndfast._threads import resolve_num_threads
from nndfast._validate import F64, as_data, as_weights

__all__ = ["Neural_Network", "computeNumericalGradient"]


class _Cached(object):
    """Non-data descriptor for z2/a2/z3/yHat: on first access, copy the value
    out of the scratch buffer of the last small call into the instance dict
    (later accesses hit the dict directly)."""

    def __init__(self, name, slot):
        self.name = name
        self.slot = slot

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        pending = obj.__dict__.get("_pending")
        if pending is None or pending[self.slot] is None:
            raise AttributeError(
                f"'Neural_Network' object has no attribute '{self.name}' "
                f"(call forward or costFunction first)")
        value = pending[self.slot].copy()
        obj.__dict__[self.name] = value
        return value


# The tutorial's methods.  A class that overrides none of them computes the
# kernels' numbers; one that overrides any must be run through its own methods.
TUTORIAL_METHODS = ("sigmoid", "sigmoidPrime", "forward", "costFunction",
                    "costFunctionPrime", "computeGradients", "getParams", "setParams")
_STOCK_CLASSES = {}


def is_stock(NN):
    """True if NN's numbers are nndfast's kernels' numbers.

    That is: NN is a Neural_Network whose class (checked once per class) and
    whose instance dict override none of TUTORIAL_METHODS.  Entry points that
    run compiled loops (training, grid search, the numerical gradient) take
    their fast path only for such networks and otherwise go through the
    network's own methods.
    """
    cls = type(NN)
    stock = _STOCK_CLASSES.get(cls)
    if stock is None:
        stock = issubclass(cls, Neural_Network) and all(
            getattr(cls, name, None) is getattr(Neural_Network, name)
            for name in TUTORIAL_METHODS)
        _STOCK_CLASSES[cls] = stock
    if not stock:
        return False
    d = getattr(NN, "__dict__", None)
    return not d or not any(name in d for name in TUTORIAL_METHODS)


def _positive_size(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


class Neural_Network(object):
    """The tutorial's sigmoid network, inputLayerSize-hiddenLayerSize-outputLayerSize.

    ``Neural_Network()`` is the tutorial's 2-3-1 network.  Weights are drawn
    as ``W1 = np.random.randn(I, H)`` then ``W2 = np.random.randn(H, O)``
    from numpy's global generator, so ``np.random.seed(k)`` gives the same
    weights as nndfast.reference and the tutorial.

    Attributes
    ----------
    W1 : ndarray (inputLayerSize, hiddenLayerSize), float64
    W2 : ndarray (hiddenLayerSize, outputLayerSize), float64
        Edit in place (``NN.W1[0, 0] = 1.1``) or assign a new array; the
        next call uses the new values.  An assigned array that is already
        C-contiguous float64 is kept as is; anything else is copied.
    z2, a2 : ndarray (n, hiddenLayerSize)
    z3 : ndarray (n, outputLayerSize)
        Cached by forward, costFunction and costFunctionPrime.
    yHat : ndarray (n, outputLayerSize)
        Cached by costFunction and costFunctionPrime.
    """

    z2 = _Cached("z2", 0)
    a2 = _Cached("a2", 1)
    z3 = _Cached("z3", 2)
    yHat = _Cached("yHat", 3)

    def __init__(self, inputLayerSize=2, hiddenLayerSize=3, outputLayerSize=1):
        self.inputLayerSize = _positive_size(inputLayerSize, "inputLayerSize")
        self.hiddenLayerSize = _positive_size(hiddenLayerSize, "hiddenLayerSize")
        self.outputLayerSize = _positive_size(outputLayerSize, "outputLayerSize")
        self._pending = None
        self._scratch = None
        self.W1 = np.random.randn(self.inputLayerSize, self.hiddenLayerSize)
        self.W2 = np.random.randn(self.hiddenLayerSize, self.outputLayerSize)

    # -- weights -----------------------------------------------------------
    @property
    def W1(self):
        """Layer-1 weights, shape (inputLayerSize, hiddenLayerSize)."""
        return self._W1

    @W1.setter
    def W1(self, value):
        self._W1 = as_weights(value, "W1", (self.inputLayerSize, self.hiddenLayerSize))

    @property
    def W2(self):
        """Layer-2 weights, shape (hiddenLayerSize, outputLayerSize)."""
        return self._W2

    @W2.setter
    def W2(self, value):
        self._W2 = as_weights(value, "W2", (self.hiddenLayerSize, self.outputLayerSize))

    def _weights(self):
        W1, W2 = self._W1, self._W2
        # An in-place `W.shape = ...` would otherwise reach the kernel unnoticed.
        if W1.shape != (self.inputLayerSize, self.hiddenLayerSize) or \
                W2.shape != (self.hiddenLayerSize, self.outputLayerSize):
            W1 = self.W1 = W1
            W2 = self.W2 = W2
        return W1, W2

    def _check(self, X, y=None):
        return as_data(X, y, self.inputLayerSize, self.outputLayerSize)

    def _general(self, tiny, large, X, y):
        """The path for inputs the tiny kernels declined: validate and convert
        (raising on bad input), retry the tiny kernel, else run the large one."""
        X, y = self._check(X, y)
        W1, W2 = self._weights()
        r = tiny(self.__dict__, X) if y is None else tiny(self.__dict__, X, y)
        if r is not None:
            return r
        return large(X, y, W1, W2)

    def _large_buffers(self, n, with_yhat):
        """(z2, a2, z3, yhat) for n rows: the previous large call's arrays where
        nothing outside the network holds them, else fresh ones
        (_network.large_outputs has the rule).  with_yhat: the call sets yHat."""
        return _k.large_outputs(self.__dict__, n, self.hiddenLayerSize,
                                self.outputLayerSize, with_yhat)

    def _publish_large(self, bufs, with_yhat):
        """Make z2/a2/z3 (and yHat) the just computed bufs, and offer all four
        to the next large call (_large_buffers)."""
        d = self.__dict__
        d["z2"], d["a2"], d["z3"] = bufs[0], bufs[1], bufs[2]
        if with_yhat:
            d["yHat"] = bufs[3]
        d["_large"] = list(bufs)

    # -- the tutorial's methods -------------------------------------------
    def forward(self, X):
        """Propagate X through the network.

        X : (n, inputLayerSize) array.  Returns yHat, a new
        (n, outputLayerSize) float64 array, and caches z2, a2, z3.
        """
        yhat = _k.forward_tiny(self.__dict__, X)
        if yhat is not None:
            return yhat
        return self._general(_k.forward_tiny, self._forward_large, X, None)

    def _forward_large(self, X, y, W1, W2):
        b = self._large_buffers(X.shape[0], False)
        if X.shape[0]:
            _k.forward(X, W1, W2, b[0], b[1], b[2], b[3], resolve_num_threads(None))
        self._publish_large(b, False)
        return b[3]

    def sigmoid(self, z):
        """Elementwise 1/(1+e^-z) for a scalar or array; stable at any |z|."""
        return _elementwise(_k.sigmoid, z)

    def sigmoidPrime(self, z):
        """Elementwise derivative of the sigmoid; finite where the tutorial's
        e^-z/(1+e^-z)^2 gives NaN (z < -709)."""
        return _elementwise(_k.sigmoid_prime, z)

    def costFunction(self, X, y):
        """J = 0.5*sum((y-yHat)**2) over examples.

        X : (n, inputLayerSize), y : (n, outputLayerSize).  Returns a new
        float64 array of shape (outputLayerSize,); caches yHat, z2, a2, z3.
        """
        J = _k.cost_tiny(self.__dict__, X, y)
        if J is not None:
            return J
        return self._general(_k.cost_tiny, self._cost_large, X, y)

    def _cost_large(self, X, y, W1, W2):
        b = self._large_buffers(X.shape[0], True)
        J = np.zeros(self.outputLayerSize)
        if X.shape[0]:
            _k.cost(X, y, W1, W2, b[0], b[1], b[2], b[3], J, resolve_num_threads(None))
        self._publish_large(b, True)
        return J

    def _cost_and_gradient(self, X, y):
        """(J (O,), dJdW1 (I, H), dJdW2 (H, O)) for X (n, I), y (n, O)."""
        r = _k.cost_and_gradient_tiny(self.__dict__, X, y)
        if r is not None:
            return r
        return self._general(_k.cost_and_gradient_tiny, self._grad_large, X, y)

    def _grad_large(self, X, y, W1, W2):
        b = self._large_buffers(X.shape[0], True)
        J = np.zeros(self.outputLayerSize)
        g1 = np.zeros((self.inputLayerSize, self.hiddenLayerSize))
        g2 = np.zeros((self.hiddenLayerSize, self.outputLayerSize))
        if X.shape[0]:
            _k.cost_and_gradient(X, y, W1, W2, b[0], b[1], b[2], b[3],
                                 g1, g2, J, resolve_num_threads(None))
        self._publish_large(b, True)
        return J, g1, g2

    def costFunctionPrime(self, X, y):
        """Backpropagation: returns (dJdW1, dJdW2), shaped like (W1, W2).

        X : (n, inputLayerSize), y : (n, outputLayerSize).  Caches yHat,
        z2, a2, z3 as the tutorial does.
        """
        _, g1, g2 = self._cost_and_gradient(X, y)
        return g1, g2

    # -- Part 5 helpers ------------------------------------------------------
    def getParams(self):
        """W1 and W2 unrolled into a new vector of shape (I*H + H*O,)."""
        return np.concatenate((self._W1.ravel(), self._W2.ravel()))

    def setParams(self, params):
        """Set W1 and W2 from a vector of shape (I*H + H*O,), as getParams gives."""
        I, H, O = self.inputLayerSize, self.hiddenLayerSize, self.outputLayerSize
        p = np.asarray(params)
        if p.dtype.kind not in "biuf":
            raise TypeError(f"params must be a real numeric vector; got dtype {p.dtype}")
        if p.ndim != 1 or p.shape[0] != I * H + H * O:
            raise ValueError(
                f"params must be a 1-D vector of length {I * H + H * O} "
                f"(inputLayerSize*hiddenLayerSize + hiddenLayerSize*outputLayerSize); "
                f"got shape {p.shape}")
        self._W1 = np.array(p[:I * H], dtype=F64).reshape(I, H)
        self._W2 = np.array(p[I * H:], dtype=F64).reshape(H, O)

    def computeGradients(self, X, y):
        """costFunctionPrime unrolled like getParams(): shape (I*H + H*O,)."""
        _, g1, g2 = self._cost_and_gradient(X, y)
        return np.concatenate((g1.ravel(), g2.ravel()))

    def __getstate__(self):
        state = self.__dict__.copy()
        # scratch is per-object working memory, not state
        state["_scratch"] = None
        pending = state.pop("_pending", None)
        for name, slot in (("z2", 0), ("a2", 1), ("z3", 2), ("yHat", 3)):
            if name not in state and pending is not None and pending[slot] is not None:
                state[name] = pending[slot].copy()
        state["_pending"] = None
        state.pop("_large", None)     # reuse candidates, not state
        return state

    def __repr__(self):
        return (f"Neural_Network(inputLayerSize={self.inputLayerSize}, "
                f"hiddenLayerSize={self.hiddenLayerSize}, "
                f"outputLayerSize={self.outputLayerSize})")


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

    A drop-in for the tutorial's function, giving the same numbers.  For
    nndfast's network each weight is perturbed in place (no setParams copy
    per step); any other network (the reference's, say) goes through the
    tutorial's getParams/setParams loop.  The weights are as they were
    afterwards, even after an error.
    """
    if not isinstance(N, Neural_Network):
        from nndfast import reference
        return reference.computeNumericalGradient(N, X, y)
    e = 1e-4
    W1, W2 = N.W1, N.W2
    saved = W1.copy(), W2.copy()
    numgrad = np.empty(W1.size + W2.size)
    k = 0
    try:
        for flat in (W1.reshape(-1), W2.reshape(-1)):
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
        W1[...] = saved[0]
        W2[...] = saved[1]
    return numgrad
