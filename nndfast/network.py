"""The fast drop-in Neural_Network (API): the tutorial's API over compiled kernels.

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
from nndfast._validate import F64, as_data, as_lambda, as_weights

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

    ``Neural_Network(Lambda=0.0001)`` is Part 7's regularized network; the
    default ``Lambda=None`` keeps the cost of Parts 2-6.

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
        C-contiguous float64 is kept as is; anything else is copied.
    Lambda : None or float >= 0
        Part 7's regularization parameter (see costFunction); may be
        changed between calls.
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

    def __init__(self, inputLayerSize=2, hiddenLayerSize=3, outputLayerSize=1, Lambda=None):
        self.inputLayerSize = _positive_size(inputLayerSize, "inputLayerSize")
        self.hiddenLayerSize = _positive_size(hiddenLayerSize, "hiddenLayerSize")
        self.outputLayerSize = _positive_size(outputLayerSize, "outputLayerSize")
        self.Lambda = Lambda
        self._pending = None
        self._scratch = None
        self.W1 = np.random.randn(self.inputLayerSize, self.hiddenLayerSize)
        self.W2 = np.random.randn(self.hiddenLayerSize, self.outputLayerSize)

    # -- weights -----------------------------------------------------------
    # The setters check dtype and ndim only: the tutorial's class lets a layer
    # be resized by assigning its size and new weights in any order, so the
    # shapes are checked against the sizes when the network is next used.
    @property
    def W1(self):
        """Layer-1 weights, shape (inputLayerSize, hiddenLayerSize)."""
        return self._W1

    @W1.setter
    def W1(self, value):
        self._W1 = as_weights(value, "W1")

    @property
    def W2(self):
        """Layer-2 weights, shape (hiddenLayerSize, outputLayerSize)."""
        return self._W2

    @W2.setter
    def W2(self, value):
        self._W2 = as_weights(value, "W2")

    @property
    def Lambda(self):
        """Part 7's regularization parameter: None (the cost of Parts 2-6,
        the default) or a finite float >= 0.  Assigning anything else raises
        TypeError (not a real number, or a bool) or ValueError (negative,
        NaN or inf)."""
        # .get: a network pickled before Lambda existed has none
        return self.__dict__.get("_Lambda")

    @Lambda.setter
    def Lambda(self, value):
        self._Lambda = as_lambda(value)

    def _sizes(self):
        """(I, H, O) as checked ints; the attributes may have been reassigned."""
        return (_positive_size(self.inputLayerSize, "inputLayerSize"),
                _positive_size(self.hiddenLayerSize, "hiddenLayerSize"),
                _positive_size(self.outputLayerSize, "outputLayerSize"))

    def _weights(self):
        """(W1, W2) after checking that their shapes match the layer sizes."""
        I, H, O = self._sizes()
        W1, W2 = self._W1, self._W2
        # W.shape = ... in place, or a size reassigned without (or before)
        # the weights it needs: stop before a kernel reads out of bounds.
        if W1.shape != (I, H) or W2.shape != (H, O):
            raise ValueError(
                f"the layer sizes and weights disagree: inputLayerSize={I}, "
                f"hiddenLayerSize={H}, outputLayerSize={O} need W1 of shape {(I, H)} and "
                f"W2 of shape {(H, O)}, but W1 has shape {W1.shape} and W2 {W2.shape}; "
                f"assign the sizes and weights that match")
        return W1, W2

    def _regularization(self, n):
        """(scale, lam) for the kernels (see Net in _network.pxd) on n examples."""
        Lambda = as_lambda(self.Lambda)
        if Lambda is None:
            return 1.0, 0.0
        if n == 0:
            raise ValueError("with Lambda set the cost is a mean over the examples "
                             "(Part 7), so X and y need at least one row")
        return 1.0 / n, Lambda

    def _check(self, X, y=None):
        I, _, O = self._sizes()
        return as_data(X, y, I, O)

    def _general(self, tiny, large, X, y):
        """The path for inputs the tiny kernels declined: validate and convert
        (raising on bad input), retry the tiny kernel, else run the large one."""
        W1, W2 = self._weights()
        X, y = self._check(X, y)
        if y is not None:
            self._regularization(X.shape[0])      # raises for a bad Lambda
        r = tiny(self.__dict__, X) if y is None else tiny(self.__dict__, X, y)
        if r is not None:
            return r
        return large(X, y, W1, W2)

    def _large_buffers(self, n, with_yhat):
        """(z2, a2, z3, yhat) for n rows: the previous large call's arrays where
        nothing outside the network holds them, else fresh ones
        (_network.large_outputs has the rule).  with_yhat: the call sets yHat."""
        _, H, O = self._sizes()
        return _k.large_outputs(self.__dict__, n, H, O, with_yhat)

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
        """J = 0.5*sum((y-yHat)**2) over examples (Parts 2-6, Lambda None), or
        Part 7's 0.5*sum((y-yHat)**2)/n + (Lambda/2)*(sum(W1**2) + sum(W2**2))
        with n = X.shape[0] (Lambda a number, 0 included).

        X : (n, inputLayerSize), y : (n, outputLayerSize).  Returns a new
        float64 array of shape (outputLayerSize,) (the sums over rows only are
        per output); caches yHat, z2, a2, z3.  With several outputs and
        Lambda, each entry carries 1/outputLayerSize of the penalty, so that
        sum(J) is the cost whose gradient costFunctionPrime gives.
        """
        J = _k.cost_tiny(self.__dict__, X, y)
        if J is not None:
            return J
        return self._general(_k.cost_tiny, self._cost_large, X, y)

    def _cost_large(self, X, y, W1, W2):
        b = self._large_buffers(X.shape[0], True)
        J = np.zeros(W2.shape[1])
        if X.shape[0]:
            _k.cost(X, y, W1, W2, b[0], b[1], b[2], b[3], J, resolve_num_threads(None),
                    *self._regularization(X.shape[0]))
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
        J = np.zeros(W2.shape[1])
        g1 = np.zeros(W1.shape)
        g2 = np.zeros(W2.shape)
        if X.shape[0]:
            _k.cost_and_gradient(X, y, W1, W2, b[0], b[1], b[2], b[3],
                                 g1, g2, J, resolve_num_threads(None),
                                 *self._regularization(X.shape[0]))
        self._publish_large(b, True)
        return J, g1, g2

    def costFunctionPrime(self, X, y):
        """Backpropagation: returns (dJdW1, dJdW2), shaped like (W1, W2).

        dJdW1 = X.T @ delta2 and dJdW2 = a2.T @ delta3 (Lambda None), or Part
        7's X.T @ delta2 / n + Lambda*W1 and a2.T @ delta3 / n + Lambda*W2.
        X : (n, inputLayerSize), y : (n, outputLayerSize).  Caches yHat,
        z2, a2, z3 as the tutorial does.
        """
        _, g1, g2 = self._cost_and_gradient(X, y)
        return g1, g2

    # -- Part 5 helpers ------------------------------------------------------
    def getParams(self):
        """W1 and W2 unrolled into a new vector of shape (I*H + H*O,).
        ValueError if their shapes do not match the layer sizes."""
        W1, W2 = self._weights()
        return np.concatenate((W1.ravel(), W2.ravel()))

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
        lam = "" if self.Lambda is None else f", Lambda={self.Lambda!r}"
        return (f"Neural_Network(inputLayerSize={self.inputLayerSize}, "
                f"hiddenLayerSize={self.hiddenLayerSize}, "
                f"outputLayerSize={self.outputLayerSize}{lam})")


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

    J is N.costFunction, so with N.Lambda set this is the gradient of Part
    7's regularized cost.

    A drop-in for the tutorial's function, giving the same numbers.  For
    nndfast's network each weight is perturbed in place (no setParams copy
    per step); any other object (the reference's network, say) only needs
    getParams, setParams and costFunction: it goes through the tutorial's
    loop over them.  The weights are as they were afterwards, even after an
    error.
    """
    if not isinstance(N, Neural_Network):
        return _numerical_gradient_by_params(N, X, y)
    e = 1e-4
    W1, W2 = N._weights()
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
