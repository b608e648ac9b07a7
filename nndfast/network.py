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

    def __init__(self, name, slot, setters):
        self.name = name
        self.slot = slot
        self.setters = setters

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        pending = obj.__dict__.get("_pending")
        if pending is None or pending[self.slot] is None:
            raise AttributeError(
                f"'{type(obj).__name__}' object has no attribute '{self.name}' "
                f"(call {self.setters} first)")
        value = pending[self.slot].copy()
        obj.__dict__[self.name] = value
        return value


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
    return frozenset(out)


_CALLEES = {name: _callees(name) for name in TUTORIAL_METHODS}


class _PerClass(dict):
    """cls -> compute(cls), computed at a class's first use (a plain dict
    lookup afterwards, cheap enough for the tiny path)."""

    def __init__(self, compute):
        dict.__init__(self)
        self.compute = compute

    def __missing__(self, cls):
        value = self[cls] = self.compute(cls)
        return value


# The tutorial methods a Neural_Network subclass overrides...
_CLASS_OVERRIDES = _PerClass(lambda cls: frozenset(
    name for name in TUTORIAL_METHODS if getattr(cls, name, None) is not _STOCK[name]))
# ...and the stock methods that must run their tutorial body in it, because
# a method they call is overridden (a method's own override does not count:
# a super() call from the override wants the stock body).
_CLASS_GENERIC = _PerClass(lambda cls: frozenset(
    name for name in TUTORIAL_METHODS if not _CLASS_OVERRIDES[cls].isdisjoint(_CALLEES[name])))


def is_stock(NN, uses=TUTORIAL_METHODS):
    """True if the tutorial methods ``uses`` give nndfast's kernels' numbers on NN.

    That is: NN is an nndfast Neural_Network and neither its class (checked
    once per class) nor its instance dict overrides any of ``uses`` or the
    methods their tutorial bodies call (``costFunction`` calls ``forward``,
    which calls ``sigmoid``, ...).  With the default, any override makes NN
    non-stock.  Entry points that run compiled loops (training, grid search,
    the numerical gradient) take them only for stock networks and otherwise
    go through the network's own methods.  Any other network (nndfast.
    reference's, say) is never stock: its methods are its own.
    """
    if not isinstance(NN, Neural_Network):
        return False
    if isinstance(uses, str):
        uses = (uses,)
    need = set(uses).union(*(_CALLEES[name] for name in uses))
    if not _CLASS_OVERRIDES[type(NN)].isdisjoint(need):
        return False
    return getattr(NN, "__dict__", {}).keys().isdisjoint(need)


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

    Subclass it, or set a method on an instance, to change any of the
    tutorial's methods: as with the tutorial's class, the other methods and
    every entry point (computeNumericalGradient, gradient_check,
    gradient_descent, grid_search) then go through yours.  An inherited
    method runs the kernels unless a method it calls is overridden, and
    then its tutorial body in numpy (see is_stock).

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

    z2 = _Cached("z2", 0, "forward, costFunction or costFunctionPrime")
    a2 = _Cached("a2", 1, "forward, costFunction or costFunctionPrime")
    z3 = _Cached("z3", 2, "forward, costFunction or costFunctionPrime")
    # forward returns yHat without keeping it, as in the tutorial
    yHat = _Cached("yHat", 3, "costFunction or costFunctionPrime")

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
        d = self.__dict__
        cls = type(self)
        # an override of a method this one calls: in the instance dict (the
        # names of _CALLEES["forward"], literal for the tiny path's speed) or
        # in the class
        if "sigmoid" in d or (cls is not Neural_Network and "forward" in _CLASS_GENERIC[cls]):
            return self._forward_generic(X)
        yhat = _k.forward_tiny(d, X)
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
        d = self.__dict__
        cls = type(self)
        if ("forward" in d or "sigmoid" in d
                or (cls is not Neural_Network and "costFunction" in _CLASS_GENERIC[cls])):
            return self._costFunction_generic(X, y)
        J = _k.cost_tiny(d, X, y)
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
        """(J (O,), dJdW1 (I, H), dJdW2 (H, O)) for X (n, I), y (n, O).

        The kernels' numbers whatever the network overrides: callers check
        is_stock(self, ("costFunction", "costFunctionPrime")) first."""
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
        d = self.__dict__
        cls = type(self)
        if ("forward" in d or "sigmoid" in d or "sigmoidPrime" in d
                or (cls is not Neural_Network and "costFunctionPrime" in _CLASS_GENERIC[cls])):
            return self._costFunctionPrime_generic(X, y)
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
        d = self.__dict__
        cls = type(self)
        if ("costFunctionPrime" in d or "forward" in d or "sigmoid" in d or "sigmoidPrime" in d
                or (cls is not Neural_Network and "computeGradients" in _CLASS_GENERIC[cls])):
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


# The stock functions, to tell a subclass's override from an inherited method.
_STOCK = {name: Neural_Network.__dict__[name] for name in TUTORIAL_METHODS}


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
    """
    if not is_stock(N, ("getParams", "setParams")):
        return _numerical_gradient_by_params(N, X, y)
    e = 1e-4
    W1, W2 = N._weights()
    P1, P2 = W1.copy(), W2.copy()
    numgrad = np.empty(W1.size + W2.size)
    k = 0
    N._W1, N._W2 = P1, P2
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
        N._W1, N._W2 = W1, W2
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
