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
from nndfast.network import computeNumericalGradient, is_stock

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
    """Write p into NN's weights: in place when they are writable float64
    arrays that own their memory (so arrays the user holds see the change),
    else by assigning new arrays, so read-only, foreign (np.frombuffer, views
    of other memory) or integer weights are never written through."""
    new = (p[:I * H].reshape(I, H), p[I * H:].reshape(H, O))
    for name, value in zip(("W1", "W2"), new):
        W = getattr(NN, name)
        if (isinstance(W, np.ndarray) and W.dtype == np.float64 and W.shape == value.shape
                and W.flags.writeable and W.flags.owndata):
            W[...] = value
        else:
            setattr(NN, name, value.copy())


# -- gradient descent ----------------------------------------------------------

def gradient_descent(NN, X, y, learning_rate=1.0, max_iter=1000, tol=1e-6,
                     method="batch", seed=None, callback=None, num_threads=None,
                     callback_every=100):
    """Train NN by gradient descent, updating its weights.

    Parameters
    ----------
    NN : Neural_Network
        nndfast's (or nndfast.reference's, or a subclass of either); its W1
        and W2 are updated: in place when they are writable float64 arrays
        that own their memory, otherwise replaced by new float64 arrays
        (read-only, foreign or integer weights are never written through or
        truncated).
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
        Called after exactly every ``callback_every``-th step/epoch (not
        after the last one if the run converged there), with the network's
        weights already updated.  Returning True stops the run.
    num_threads : int or None
        Threads for each full-data gradient; None honours OMP_NUM_THREADS.
        Results are identical for any value.
    callback_every : int >= 1, default 100

    Returns
    -------
    DescentResult with costs, iterations, converged, diverged, evaluations.
    ``costs[-1]`` is the network's cost when the call returns, and its
    yHat, z2, a2 and z3 hold the values at the final weights.

    If a step makes the cost or a weight inf or NaN, that step is undone, the
    run stops with converged=False and a RuntimeWarning, and the weights are
    the last finite ones.  Ctrl-C or an exception in the callback leaves the
    weights at the last completed step.

    Speed: nndfast's network runs in compiled segments unless it overrides
    costFunction, costFunctionPrime or a method they call (forward, sigmoid,
    sigmoidPrime); such a network, and any other (the reference's), is
    trained by a Python loop over its own costFunction and
    costFunctionPrime, as nndfast.reference.gradient_descent does: the same
    numbers, more slowly.
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
    rng = np.random.default_rng(seed) if method == "stochastic" else None
    run = (_descent_compiled if is_stock(NN, ("costFunction", "costFunctionPrime"))
           else _descent_generic)
    res = run(NN, X, y, I, H, O, learning_rate, max_iter, tol, method, rng, callback,
              callback_every, nt)
    if res.diverged:
        warnings.warn(
            f"gradient descent diverged: step {res.iterations + 1} made the cost or a weight "
            f"inf/NaN (learning_rate={learning_rate:g} is probably too large); the step was "
            f"undone and the weights are those after step {res.iterations}",
            RuntimeWarning, stacklevel=2)
    return res


def _descent_compiled(NN, X, y, I, H, O, learning_rate, max_iter, tol, method, rng,
                      callback, callback_every, nt):
    """gradient_descent for a stock nndfast network: compiled segments."""
    W1, W2 = NN._weights()
    p = np.concatenate((W1.ravel(), W2.ravel()))
    check_finite(p, "the network's weights")
    lam = _lambda(NN)
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

    pieces = []
    done = 0
    status = _k.STATUS_CONVERGED if np.max(np.abs(g)) <= tol else _k.STATUS_RAN_OUT
    try:
        while done < max_iter and status == _k.STATUS_RAN_OUT:
            k = min(seg, max_iter - done)
            if callback is not None:
                # end segments on the callback's iterations, whatever seg is
                k = min(k, callback_every - done % callback_every)
            costs = np.empty((k, O))
            if method == "batch":
                it, status, ev = _k.batch_descent(X, y, H, p, g, J, work, learning_rate,
                                                  tol, costs, nt, lam)
            else:
                orders = np.argsort(rng.random((k, n)), axis=1, kind="stable")
                p_start = p.copy()
                it, status, ev = _k.stochastic_descent(X, y, H, p, g, J, work, orders,
                                                       learning_rate, tol, costs, nt, lam)
                if status == _k.STATUS_DIVERGED:
                    # The kernel undid only the diverging example's step;
                    # replay the segment's completed epochs (same arithmetic)
                    # so the weights are those after the last whole epoch,
                    # whose cost costs[-1] reports.
                    p[:] = p_start
                    if it:
                        _k.stochastic_descent(X, y, H, p, np.empty(p.size), np.empty(O),
                                              work, orders[:it], learning_rate, tol,
                                              np.empty((it, O)), nt, lam)
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
    # the tutorial's loop leaves yHat, z2, a2, z3 at the final weights
    NN.costFunction(X, y)
    costs = np.concatenate(pieces) if pieces else np.empty((0, O))
    return DescentResult(costs, done, status == _k.STATUS_CONVERGED,
                         status == _k.STATUS_DIVERGED, evaluations)


def _descent_generic(NN, X, y, I, H, O, learning_rate, max_iter, tol, method, rng,
                     callback, callback_every, nt):
    """gradient_descent through NN's own costFunction and costFunctionPrime:
    nndfast.reference.gradient_descent's loop, plus divergence and Ctrl-C
    handling.  A step assigns new weight arrays (W = W - lr*dJdW), so the
    arrays NN held are never written to."""
    n = X.shape[0]
    costs = []
    dJdW1, dJdW2 = NN.costFunctionPrime(X, y)
    evaluations = 1
    grad = np.concatenate((np.ravel(dJdW1), np.ravel(dJdW2)))
    if not np.isfinite(grad).all():
        raise ValueError("the gradient at the starting weights is not finite")
    converged = bool(np.max(np.abs(grad)) <= tol)
    diverged = False
    i = 0
    W1_old = W2_old = None      # the weights after the last completed step, mid-step
    try:
        while i < max_iter and not converged:
            W1_old, W2_old = NN.W1, NN.W2
            if method == "batch":
                NN.W1 = NN.W1 - learning_rate * dJdW1
                NN.W2 = NN.W2 - learning_rate * dJdW2
            else:
                for e in np.argsort(rng.random(n), kind="stable"):
                    W1_ex, W2_ex = NN.W1, NN.W2
                    dJdW1, dJdW2 = NN.costFunctionPrime(X[e:e + 1], y[e:e + 1])
                    evaluations += 1
                    NN.W1 = NN.W1 - learning_rate * dJdW1
                    NN.W2 = NN.W2 - learning_rate * dJdW2
                    if not (np.isfinite(NN.W1).all() and np.isfinite(NN.W2).all()):
                        NN.W1, NN.W2 = W1_ex, W2_ex
                        diverged = True
                        break
                if diverged:
                    break
            J = NN.costFunction(X, y)
            if not (np.isfinite(J).all() and np.isfinite(NN.W1).all()
                    and np.isfinite(NN.W2).all()):
                diverged = True
                break
            costs.append(J)
            i += 1
            W1_old = W2_old = None
            dJdW1, dJdW2 = NN.costFunctionPrime(X, y)
            evaluations += 1
            grad = np.concatenate((np.ravel(dJdW1), np.ravel(dJdW2)))
            converged = bool(np.max(np.abs(grad)) <= tol)
            if callback is not None and i % callback_every == 0 and not converged:
                if callback(i, np.array(J, dtype=np.float64)) is True:
                    break
    finally:
        if W1_old is not None:      # a step was cut short (divergence, Ctrl-C, an error)
            NN.W1, NN.W2 = W1_old, W2_old
    if diverged:
        NN.costFunction(X, y)       # yHat, z2, a2, z3 back at the kept weights
    # (O,) per step from the tutorial's costFunction; an override may return
    # a scalar, which becomes a column
    costs = (np.array(costs, dtype=np.float64).reshape(len(costs), -1) if costs
             else np.empty((0, O)))
    return DescentResult(costs, i, converged, diverged, evaluations)


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
