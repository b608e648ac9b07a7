"""Training (API, and the driver of the nndfast._train kernels): gradient
descent, the gradient check and the BFGS trainer.

The loops run in nndfast._train over the same backprop kernel as
Neural_Network.costFunctionPrime; this module checks input, picks thread
counts, runs long loops in segments (callbacks, Ctrl-C) and builds results.
nndfast.reference has the same functions written the tutorial's way.
"""
import numbers
import warnings

import numpy as np

from nndfast import _train as _k
from nndfast._results import DescentResult, OptimizeResult
from nndfast._threads import resolve_num_threads
from nndfast._validate import as_data, as_lambda, check_finite
from nndfast.network import computeNumericalGradient

__all__ = ["gradient_descent", "gradient_check", "trainer", "DescentResult",
           "OptimizeResult"]

_METHODS = ("batch", "stochastic")
_TRAIN_METHODS = ("builtin", "scipy-BFGS")
# A segment of compiled iterations between returns to Python does about this
# many multiply-adds (~0.1 s), so Ctrl-C lands promptly.
_SEGMENT_WORK = 2.5e7
# Largest visiting-order block (epochs x examples) built at once.
_ORDER_BLOCK = 1 << 20


# -- argument checks ---------------------------------------------------------

def _real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


def _count(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _tolerance(value, name):
    value = _real(value, name)
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0 (0 turns the early stop off), got {value}")
    return value


def _sizes(NN):
    try:
        return (int(NN.inputLayerSize), int(NN.hiddenLayerSize), int(NN.outputLayerSize))
    except AttributeError:
        raise TypeError(
            "NN must be a Neural_Network (nndfast's or nndfast.reference's): it needs "
            "inputLayerSize, hiddenLayerSize, outputLayerSize, getParams and setParams"
        ) from None


def _data(NN, X, y):
    """(X, y) as checked C-contiguous float64 arrays for NN, and the sizes."""
    I, H, O = _sizes(NN)
    X, y = as_data(X, y, I, O)
    if X.shape[0] == 0:
        raise ValueError("X and y must hold at least one example")
    check_finite(X, "X")
    check_finite(y, "y")
    return X, y, I, H, O


def _lambda(NN):
    """NN's Part 7 regularization parameter (None for Parts 2-6), checked."""
    return as_lambda(getattr(NN, "Lambda", None))


def _params(NN, I, H, O):
    p = np.array(NN.getParams(), dtype=np.float64)
    if p.shape != (I * H + H * O,):
        raise ValueError(f"NN.getParams() must have shape ({I * H + H * O},); got {p.shape}")
    check_finite(p, "the network's weights")
    return p


def _store(NN, p, I, H, O):
    """Write p into NN's weights, in place when they are writable arrays
    (so arrays the user holds see the change), else through setParams."""
    W1, W2 = getattr(NN, "W1", None), getattr(NN, "W2", None)
    if (isinstance(W1, np.ndarray) and isinstance(W2, np.ndarray)
            and W1.flags.writeable and W2.flags.writeable
            and W1.shape == (I, H) and W2.shape == (H, O)):
        W1[...] = p[:I * H].reshape(I, H)
        W2[...] = p[I * H:].reshape(H, O)
    else:
        NN.setParams(p.copy())


# -- gradient descent ----------------------------------------------------------

def gradient_descent(NN, X, y, learning_rate=1.0, max_iter=1000, tol=1e-6,
                     method="batch", seed=None, callback=None, num_threads=None,
                     callback_every=100):
    """Train NN by gradient descent, updating its weights in place.

    Parameters
    ----------
    NN : Neural_Network
        nndfast's (or nndfast.reference's) network; its W1 and W2 are updated.
    X : (n, inputLayerSize) array;  y : (n, outputLayerSize) array
        Finite values, n >= 1.
    learning_rate : float > 0, default 1.0
        The step.  Without Lambda the cost is a sum over examples, so its
        gradient grows with n: on the tutorial's 3 examples 1 to 8 works; for
        n examples start near 1/n.  With NN.Lambda set (Part 7) the cost is
        a mean plus (Lambda/2)*(sum W1^2 + sum W2^2), and every step, batch
        or stochastic, descends that cost.
    max_iter : int >= 1, default 1000
        Steps (batch) or epochs (stochastic) at most.
    tol : float >= 0, default 1e-6
        Stop, converged, once every |dJ/dW| <= tol (checked on the full
        gradient before the first step and after every step/epoch).  0 turns
        the early stop off.
    method : "batch" or "stochastic"
        batch: each step is exactly W -= learning_rate * dJ/dW over all
        examples.  stochastic: each epoch visits every example once, one at
        a time, in a shuffled order, stepping on that example's gradient
        (with Lambda: Part 7's gradient for that one example, n = 1, so the
        Lambda * W term is applied at every step, n times per epoch).
    seed : None, int or np.random.Generator seed, default None
        Seeds the stochastic visiting orders: epoch t uses
        np.argsort(rng.random(n), kind="stable") with
        rng = np.random.default_rng(seed), the same orders as the reference.
    callback : callable(iteration, cost) or None
        Called every ``callback_every`` steps/epochs, between compiled
        segments, with the network's weights already updated.  Returning True
        stops the run.
    num_threads : int or None
        Threads for each full-data gradient; None honours OMP_NUM_THREADS.
        Results are identical for any value.
    callback_every : int >= 1, default 100

    Returns
    -------
    DescentResult with costs, iterations, converged, diverged, evaluations.

    If a step makes the cost or a weight inf or NaN, that step is undone, the
    run stops with converged=False and a RuntimeWarning, and the weights are
    the last finite ones.
    """
    learning_rate = _real(learning_rate, "learning_rate")
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate}")
    max_iter = _count(max_iter, "max_iter")
    tol = _tolerance(tol, "tol")
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be 'batch' or 'stochastic', got {method!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {callback!r}")
    callback_every = _count(callback_every, "callback_every")
    nt = resolve_num_threads(num_threads)
    X, y, I, H, O = _data(NN, X, y)
    p = _params(NN, I, H, O)
    lam = _lambda(NN)
    rng = np.random.default_rng(seed) if method == "stochastic" else None
    n = X.shape[0]

    work = np.empty(_k.work_size(n, I, H, O))
    g, J = np.empty(p.size), np.empty(O)
    _k.gradient(X, y, H, p, g, J, work, nt, lam)
    evaluations = 1
    if not (np.isfinite(J).all() and np.isfinite(g).all()):
        raise ValueError("the cost or gradient at the starting weights is not finite")

    per_iter = n * H * (I + O) * (1 if method == "batch" else 2)
    seg = max(1, int(_SEGMENT_WORK // per_iter))
    if method == "stochastic":
        seg = max(1, min(seg, _ORDER_BLOCK // n))
    if callback is not None:
        seg = min(seg, callback_every)
    seg = min(seg, max_iter)

    pieces = []
    done = 0
    status = _k.STATUS_CONVERGED if np.max(np.abs(g)) <= tol else _k.STATUS_RAN_OUT
    try:
        while done < max_iter and status == _k.STATUS_RAN_OUT:
            k = min(seg, max_iter - done)
            costs = np.empty((k, O))
            if method == "batch":
                it, status, ev = _k.batch_descent(X, y, H, p, g, J, work, learning_rate,
                                                  tol, costs, nt, lam)
            else:
                orders = np.argsort(rng.random((k, n)), axis=1, kind="stable")
                it, status, ev = _k.stochastic_descent(X, y, H, p, g, J, work, orders,
                                                       learning_rate, tol, costs, nt, lam)
            pieces.append(costs[:it])
            done += it
            evaluations += ev
            if (callback is not None and status == _k.STATUS_RAN_OUT
                    and done % callback_every == 0):
                _store(NN, p, I, H, O)
                if callback(done, costs[it - 1].copy()) is True:
                    break
    finally:
        # Ctrl-C or an exception in the callback still leaves NN at the last
        # completed step.
        _store(NN, p, I, H, O)

    if status == _k.STATUS_DIVERGED:
        warnings.warn(
            f"gradient descent diverged: step {done + 1} made the cost or a weight inf/NaN "
            f"(learning_rate={learning_rate:g} is probably too large); the step was undone "
            f"and the weights are those after step {done}", RuntimeWarning, stacklevel=2)
    costs = np.concatenate(pieces) if pieces else np.empty((0, O))
    return DescentResult(costs, done, status == _k.STATUS_CONVERGED,
                         status == _k.STATUS_DIVERGED, evaluations)


# -- gradient check ------------------------------------------------------------

def gradient_check(NN, X, y):
    """norm(grad - numgrad) / norm(grad + numgrad) for NN on (X, y).

    grad is backprop (NN.computeGradients) and numgrad the tutorial's
    central differences (computeNumericalGradient, e = 1e-4).  About 1e-10
    or smaller when backprop is right; NN's weights are left unchanged.
    """
    numgrad = computeNumericalGradient(NN, X, y)
    grad = NN.computeGradients(X, y)
    return float(np.linalg.norm(grad - numgrad) / np.linalg.norm(grad + numgrad))


# -- trainer ---------------------------------------------------------------------

_MESSAGES = {
    _k.STATUS_CONVERGED: "Optimization terminated successfully.",
    _k.STATUS_RAN_OUT: "Maximum number of iterations has been exceeded.",
    _k.STATUS_LINE_SEARCH_FAILED:
        "Desired error not necessarily achieved due to precision loss.",
    _k.STATUS_DIVERGED: "NaN result encountered.",
}
# scipy's warnflag numbers for the same outcomes
_SCIPY_STATUS = {_k.STATUS_CONVERGED: 0, _k.STATUS_RAN_OUT: 1,
                 _k.STATUS_LINE_SEARCH_FAILED: 2, _k.STATUS_DIVERGED: 3}


class trainer(object):
    """The tutorial's Part 6 trainer: ``T = trainer(NN); T.train(X, y)``.

    Minimizes the cost over NN's weights with BFGS, then sets them to the
    result.  ``T.J`` lists the cost (shape (outputLayerSize,)) after each
    iteration and ``T.optimizationResults`` holds the optimizer's result.

    Parameters
    ----------
    N : Neural_Network
    method : "builtin" (default) or "scipy-BFGS"
        builtin: nndfast's compiled BFGS (strong Wolfe line search, the
        inverse-Hessian update scipy uses); no scipy needed, and about 100
        times faster on the tutorial's data.  Its result is an
        OptimizeResult with scipy's fields.  scipy-BFGS:
        scipy.optimize.minimize(method='BFGS', jac=True) with a callback,
        exactly as the tutorial does (needs ``pip install "nndfast[train]"``).
    gtol : float >= 0, default 1e-6
        Stop once max |gradient| <= gtol.  The tutorial used scipy's 1e-5,
        which leaves seed 6 at a cost of 3.5e-9; 1e-6 takes seeds 0-9 below
        1e-10.
    maxiter : int >= 1, default 200 (the tutorial's)
    disp : bool, default True
        Print the convergence message as the tutorial's scipy call does.
    num_threads : int or None
        Threads per gradient for the builtin method (None: OMP_NUM_THREADS).
    """

    def __init__(self, N, method="builtin", gtol=1e-6, maxiter=200, disp=True,
                 num_threads=None):
        if not isinstance(method, str) or method not in _TRAIN_METHODS:
            raise ValueError(f"method must be 'builtin' or 'scipy-BFGS', got {method!r}")
        # Make local reference to network:
        self.N = N
        self.method = method
        self.gtol = _tolerance(gtol, "gtol")
        self.maxiter = _count(maxiter, "maxiter")
        self.disp = bool(disp)
        self.num_threads = resolve_num_threads(num_threads)

    # The tutorial's two helpers, used by the scipy method.
    def callbackF(self, params):
        self.N.setParams(params)
        self.J.append(self.N.costFunction(self.X, self.y))

    def costFunctionWrapper(self, params, X, y):
        self.N.setParams(params)
        fused = getattr(self.N, "_cost_and_gradient", None)
        if fused is not None:       # nndfast's network: one backprop pass for both
            cost, g1, g2 = fused(X, y)
            grad = np.concatenate((g1.ravel(), g2.ravel()))
        else:
            cost = self.N.costFunction(X, y)
            grad = self.N.computeGradients(X, y)
        return np.sum(cost), grad

    def train(self, X, y):
        """Minimize the cost on (X, y); set N's weights to the minimizer."""
        X, y, I, H, O = _data(self.N, X, y)
        # Make an internal variable for the callback function:
        self.X = X
        self.y = y
        # Make empty list to store costs:
        self.J = []
        if self.method == "scipy-BFGS":
            res = self._train_scipy(X, y)
        else:
            res = self._train_builtin(X, y, I, H, O)
        self.N.setParams(res.x)
        self.optimizationResults = res
        return res

    def _train_scipy(self, X, y):
        try:
            from scipy import optimize
        except ImportError:
            raise ImportError('trainer(method="scipy-BFGS") needs scipy: '
                              'pip install "nndfast[train]"') from None
        params0 = self.N.getParams()
        options = {'maxiter': self.maxiter, 'disp': self.disp, 'gtol': self.gtol}
        return optimize.minimize(self.costFunctionWrapper, params0, jac=True, method='BFGS',
                                 args=(X, y), options=options, callback=self.callbackF)

    def _train_builtin(self, X, y, I, H, O):
        p = _params(self.N, I, H, O)
        lam = _lambda(self.N)
        P = p.size
        g = np.empty(P)
        J = np.empty(O)
        Hinv = np.empty((P, P))
        state = np.zeros(2)
        costs = np.empty((self.maxiter, O))
        work = np.empty(_k.work_size(X.shape[0], I, H, O))
        # about 3 evaluations per iteration at most, in segments of ~0.1 s
        seg = max(1, int(_SEGMENT_WORK // (3 * X.shape[0] * H * (I + O))))
        nit = nfev = 0
        status = _k.STATUS_RAN_OUT
        while status == _k.STATUS_RAN_OUT and (nit < self.maxiter or nfev == 0):
            k = min(seg, self.maxiter - nit)
            it, status, ev = _k.bfgs(X, y, H, p, g, J, Hinv, state, work, self.gtol,
                                     costs[nit:nit + k], self.num_threads, lam)
            nit += it
            nfev += ev
        self.J = list(costs[:nit].copy())
        fun = float(np.sum(J))
        message = _MESSAGES[status]
        if self.disp:
            print(message if status == _k.STATUS_CONVERGED else "Warning: " + message)
            print(f"         Current function value: {fun:f}")
            print(f"         Iterations: {nit}")
            print(f"         Function evaluations: {nfev}")
            print(f"         Gradient evaluations: {nfev}")
        return OptimizeResult(fun=fun, jac=g, hess_inv=Hinv, nfev=nfev, njev=nfev,
                              status=_SCIPY_STATUS[status],
                              success=status == _k.STATUS_CONVERGED, message=message,
                              x=p, nit=nit)
