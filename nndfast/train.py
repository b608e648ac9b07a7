"""Training (API, and the driver of the nndfast._train kernels): gradient
descent, the gradient check and the BFGS trainer.

The loops run in nndfast._train over the same backprop kernel as
Neural_Network.costFunctionPrime; this module checks input, picks thread
counts, runs long loops in segments (callbacks, Ctrl-C) and builds results.
nndfast.reference has the same functions written the tutorial's way.
"""
import warnings

import numpy as np

from nndfast import _train as _k
from nndfast._results import DescentResult, OptimizeResult
from nndfast._threads import resolve_num_threads
from nndfast._validate import (as_count, as_data, as_examples, as_lambda, as_layer_sizes,
                               as_rate, as_rng, as_tolerance, check_finite, network_fields)
from nndfast.network import computeNumericalGradient, is_stock, loops_compiled, snapshot

__all__ = ["gradient_descent", "gradient_check", "trainer", "DescentResult",
           "OptimizeResult", "OptimizeWarning"]

_METHODS = ("batch", "stochastic")
_TRAIN_METHODS = ("builtin", "scipy-BFGS")
# A segment of compiled iterations between returns to Python does about this
# many multiply-adds, a small fraction of a second, so Ctrl-C lands promptly.
_SEGMENT_WORK = 2.5e7
# Largest visiting-order block (epochs x examples) built at once.
_ORDER_BLOCK = 1 << 20
# The BFGS kernel counts iterations in int64; a larger maxiter (10**30, say,
# for "no limit") is the same run, since no run gets near 2**62 iterations.
_KERNEL_MAXITER = 2**62


# -- argument checks ---------------------------------------------------------

def _sizes(NN):
    I, H, O, _ = network_fields(NN)
    return as_layer_sizes(I, H, O)


def _data(NN, X, y, sizes=None):
    """(X, y) as checked C-contiguous float64 arrays for NN, and the sizes
    (``sizes``, (I, H, O) already read, or NN's own)."""
    I, H, O = _sizes(NN) if sizes is None else sizes
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
    W1, W2 = NN.W1, NN.W2
    # layers that share memory (NN.W1 = NN.W2 = A) are split, as the
    # tutorial's W = W - lr*dJdW splits them, not written through each other
    shared = np.may_share_memory(W1, W2)
    for name, W, value in zip(("W1", "W2"), (W1, W2), new):
        if (not shared and isinstance(W, np.ndarray) and W.dtype == np.float64
                and W.shape == value.shape and W.flags.writeable and W.flags.owndata):
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
    sigmoidPrime), or the W1/W2 properties; such a network, and any other
    (the reference's), is trained by a Python loop over its own
    costFunction and costFunctionPrime, as
    nndfast.reference.gradient_descent does: the same numbers, more slowly.
    """
    learning_rate = as_rate(learning_rate, "learning_rate")
    max_iter = as_count(max_iter, "max_iter")
    tol = as_tolerance(tol, "tol")
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be 'batch' or 'stochastic', got {method!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {callback!r}")
    callback_every = as_count(callback_every, "callback_every")
    # checked whatever the method: a bad seed is bad input even where unused
    rng = as_rng(seed)
    nt = resolve_num_threads(num_threads)
    X, y, I, H, O = _data(NN, X, y)
    _lambda(NN)
    if method != "stochastic":
        rng = None
    run = (_descent_compiled if loops_compiled(NN, ("costFunction", "costFunctionPrime"))
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
    p, lam = _read_back(NN, I, H, O)
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
                # as the reference's loop, go on from whatever weights and
                # Lambda the callback left (the step uses the gradient taken
                # before it, as the reference's does)
                p, lam = _read_back(NN, I, H, O)
    finally:
        # Ctrl-C or an exception in the callback still leaves NN at the last
        # completed step.
        _store(NN, p, I, H, O)
    # the tutorial's loop leaves yHat, z2, a2, z3 at the final weights
    NN.costFunction(X, y)
    costs = np.concatenate(pieces) if pieces else np.empty((0, O))
    return DescentResult(costs, done, status == _k.STATUS_CONVERGED,
                         status == _k.STATUS_DIVERGED, evaluations)


def _read_back(NN, I, H, O):
    """(p, lam): NN's weights unrolled into a new vector and its Lambda, read
    once; ValueError if NN no longer has I-H-O layers or its weights are
    not finite."""
    snap = snapshot(NN)
    if (snap.I, snap.H, snap.O) != (I, H, O):
        raise ValueError(f"the network's layers changed during gradient_descent: "
                         f"{(I, H, O)} -> {(snap.I, snap.H, snap.O)}")
    p = np.concatenate((snap.W1.ravel(), snap.W2.ravel()))
    check_finite(p, "the network's weights")
    return p, snap.Lambda


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
    X : (n, inputLayerSize), y : (n, outputLayerSize), finite, n >= 1.
    """
    _data(NN, X, y)
    _lambda(NN)
    numgrad = computeNumericalGradient(NN, X, y)
    grad = NN.computeGradients(X, y)
    return float(np.linalg.norm(grad - numgrad) / np.linalg.norm(grad + numgrad))


# -- trainer ---------------------------------------------------------------------

def _scipy_optimize():
    try:
        from scipy import optimize
    except ImportError:
        raise ImportError('trainer(method="scipy-BFGS") needs scipy: '
                          'pip install "nndfast[train]"') from None
    return optimize


# scipy.optimize's messages, by its warnflag
_MESSAGES = {
    0: "Optimization terminated successfully.",
    1: "Maximum number of iterations has been exceeded.",
    2: "Desired error not necessarily achieved due to precision loss.",
    3: "NaN result encountered.",
}
_HALTED = "`callback` raised `StopIteration`."


class OptimizeWarning(UserWarning):
    """What the built-in trainer warns with where scipy warns with its
    OptimizeWarning (a run that did not succeed, with disp=True)."""


def _overrides(obj, base, name):
    """True if obj's class (or obj itself) replaces base's method `name`."""
    return getattr(type(obj), name, None) is not getattr(base, name) or name in getattr(
        obj, "__dict__", {})


def _test_data(testX, testY, I, O):
    """(testX, testY) checked like X and y, or (None, None)."""
    if (testX is None) != (testY is None):
        raise ValueError("pass both testX and testY, or neither "
                         f"(got testX={'None' if testX is None else 'an array'}, "
                         f"testY={'None' if testY is None else 'an array'})")
    if testX is None:
        return None, None
    testX = as_examples(testX, "testX", I, "inputLayerSize")
    testY = as_examples(testY, "testY", O, "outputLayerSize")
    if testY.shape[0] != testX.shape[0]:
        raise ValueError(f"testY must have one row per row of testX: testX has "
                         f"{testX.shape[0]} rows, testY has {testY.shape[0]}")
    if testX.shape[0] == 0:
        raise ValueError("testX and testY must hold at least one example")
    check_finite(testX, "testX")
    check_finite(testY, "testY")
    return testX, testY


class _Iterates(object):
    """T.callbackF, keeping the last two iterates it was handed, so that an
    interrupted run (Ctrl-C, an exception) can leave T.N at the iterate whose
    cost T.J ends with, and T.J and T.testJ of one length, wherever in
    callbackF the interruption landed."""

    def __init__(self, T, params0):
        self.T = T
        self.kept = {0: params0}

    def __call__(self, params):
        k = max(self.kept) + 1
        # one assignment: an interruption leaves either the old pair or the new
        self.kept = {k - 1: self.kept[k - 1], k: params.copy()}
        self.T.callbackF(params)

    def settle(self):
        """After an interruption: T.N at the iterate T.J's last cost belongs to."""
        T = self.T
        last = self.kept[max(self.kept)]
        if _overrides(T, trainer, "callbackF"):
            T.N.setParams(last)     # T.J is the override's business
            return
        n = len(T.J)
        if T.testX is not None:
            n = min(n, len(T.testJ))
            del T.J[n:], T.testJ[n:]
        T.N.setParams(self.kept.get(n, last))


class trainer(object):
    """The tutorial's trainer (Parts 6 and 7): ``T = trainer(NN); T.train(X, y)``.

    Minimizes the network's cost over its weights with BFGS, exactly as the
    tutorial's ``scipy.optimize.minimize(T.costFunctionWrapper, params0,
    jac=True, method='BFGS', args=(X, y), options={'maxiter': 200,
    'disp': True}, callback=T.callbackF)``, then sets the weights to the
    result.  After ``train``:

    - ``T.J``: the training cost (shape (outputLayerSize,)) after each
      iteration;
    - ``T.testJ``: the test cost after each iteration (empty without test
      data);
    - ``T.optimizationResults``: an OptimizeResult with scipy's fields (x,
      fun, jac, hess_inv, nit, nfev, njev, status, success, message);
    - ``NN.yHat``, ``z2``, ``a2``, ``z3``: as the tutorial's last callback
      leaves them, i.e. at the final weights (on the test set when there is
      one).

    Parameters
    ----------
    N : Neural_Network
        nndfast's, a subclass of it, or any network with the tutorial's
        methods (nndfast.reference's, say).
    method : "builtin" (default) or "scipy-BFGS"
        builtin: scipy's BFGS ported to compiled code (nndfast/_bfgs.h):
        the same first step, strong-Wolfe line search (MINPACK's DCSRCH,
        falling back to scipy's line_search_wolfe2), inverse-Hessian update
        and stopping rules, evaluating the cost at the same points, so it
        retraces scipy's iterations; no scipy needed.  Over nndfast's own
        network the cost and gradient are the backprop kernel's and T.J is
        filled without Python calls.  A network that overrides any tutorial
        method or the W1/W2 properties (network.loops_compiled), or a
        trainer subclass that overrides costFunctionWrapper, is optimized
        through ``T.costFunctionWrapper`` (same algorithm, Python
        objective); an overridden ``callbackF`` is called after every
        iteration as scipy calls it.
        scipy-BFGS: the tutorial's scipy call itself, over
        ``T.costFunctionWrapper`` and ``T.callbackF`` (needs
        ``pip install "nndfast[train]"``).
    gtol : float >= 0, default 1e-5 (scipy's, which the tutorial used)
        Stop once max |gradient| <= gtol.  Some tutorial seeds stop near a
        cost of 1e-9 with it; pass 1e-6 or less for a tighter finish.
    maxiter : int >= 1, default 200 (the tutorial's)
    disp : bool, default True
        Print scipy's summary (message, function value, iterations and
        evaluations); a run that did not succeed warns with its message
        (OptimizeWarning), as scipy does.
    num_threads : int or None
        Threads per gradient for the builtin method over nndfast's network
        (None: OMP_NUM_THREADS).  Results are identical for any value.
    """

    def __init__(self, N, method="builtin", gtol=1e-5, maxiter=200, disp=True,
                 num_threads=None):
        if not isinstance(method, str) or method not in _TRAIN_METHODS:
            raise ValueError(f"method must be 'builtin' or 'scipy-BFGS', got {method!r}")
        # Make local reference to network:
        self.N = N
        self.method = method
        self.gtol = as_tolerance(gtol, "gtol")
        self.maxiter = as_count(maxiter, "maxiter")
        self.disp = bool(disp)
        self.num_threads = resolve_num_threads(num_threads)

    # The tutorial's two helpers.
    def callbackF(self, params):
        """After each iteration: record the cost (and test cost) at params."""
        self.N.setParams(params)
        self.J.append(self.N.costFunction(self.X, self.y))
        if self.testX is not None:
            self.testJ.append(self.N.costFunction(self.testX, self.testY))

    def costFunctionWrapper(self, params, X, y):
        """(sum of the cost, gradient (P,)) at params: the function BFGS minimizes."""
        self.N.setParams(params)
        if is_stock(self.N):        # nndfast's own network: one backprop pass for both
            cost, g1, g2 = self.N._cost_and_gradient(X, y)
            grad = np.concatenate((g1.ravel(), g2.ravel()))
        else:
            cost = self.N.costFunction(X, y)
            grad = self.N.computeGradients(X, y)
        return np.sum(cost), grad

    def train(self, X, y, testX=None, testY=None):
        """Minimize the cost on (X, y); set N's weights to the minimizer.

        X : (n, inputLayerSize), y : (n, outputLayerSize), finite, n >= 1.
        testX : (m, inputLayerSize), testY : (m, outputLayerSize), optional
            (both or neither): their cost is recorded in T.testJ after each
            iteration, as in the tutorial's Part 7.
        Returns None, as the tutorial's does (so a notebook cell ending in
        ``T.train(X, y)`` prints nothing); the result is in
        ``T.optimizationResults``.

        Bad input raises before anything changes: N, T.J, T.testJ and
        T.optimizationResults stay as they were.  If the run is interrupted
        (Ctrl-C, an exception in callbackF), N keeps the last completed
        iterate, and T.J and T.testJ the costs of the iterations completed
        (T.optimizationResults is left as it was).
        """
        if self.method == "builtin" and loops_compiled(self.N):
            # the built-in run's one read of N: sizes, weights and Lambda
            snap = snapshot(self.N)
            X, y, I, H, O = _data(self.N, X, y, (snap.I, snap.H, snap.O))
            params0 = np.concatenate((snap.W1.ravel(), snap.W2.ravel()))
            check_finite(params0, "the network's weights")
            lam = snap.Lambda
        else:
            X, y, I, H, O = _data(self.N, X, y)
            params0 = _params(self.N, I, H, O)
            lam = _lambda(self.N)
        testX, testY = _test_data(testX, testY, I, O)
        if self.method == "scipy-BFGS":
            _scipy_optimize()       # the missing extra is bad input too: fail before any change
        # Make an internal variable for the callback function:
        self.X = X
        self.y = y
        self.testX = testX
        self.testY = testY
        # Make empty lists to store costs:
        self.J = []
        self.testJ = []
        if self.method == "scipy-BFGS":
            res = self._train_scipy(params0, X, y)
        else:
            res = self._train_builtin(params0, lam, X, y, testX, testY, H, O)
        self.N.setParams(res.x)
        self.optimizationResults = res

    def _train_scipy(self, params0, X, y):
        options = {'maxiter': self.maxiter, 'disp': self.disp, 'gtol': self.gtol}
        iterates = _Iterates(self, params0)
        try:
            return _scipy_optimize().minimize(self.costFunctionWrapper, params0, jac=True,
                                              method='BFGS', args=(X, y), options=options,
                                              callback=iterates)
        except BaseException:
            # costFunctionWrapper left N at a line-search trial point
            iterates.settle()
            raise

    def _train_builtin(self, params0, lam, X, y, testX, testY, H, O):
        x = params0.copy()
        P = x.size
        g = np.empty(P)
        Hinv = np.empty((P, P))
        compiled = loops_compiled(self.N) and not _overrides(self, trainer, "costFunctionWrapper")
        trace = compiled and not _overrides(self, trainer, "callbackF")
        # The history grows as the run goes (never sized by maxiter), and
        # what was recorded survives Ctrl-C, as scipy's callback list does.
        rows = _k.Trace(O, testX is not None) if trace else None
        iterates = None if trace else _Iterates(self, params0)
        try:
            if compiled:
                n, I = X.shape
                every = int(_SEGMENT_WORK // (n * H * (I + O)))
                out = _k.bfgs_network(X, y, H, x, g, Hinv, rows, testX, testY,
                                      self.gtol, min(self.maxiter, _KERNEL_MAXITER), every,
                                      iterates, self.num_threads,
                                      lam)
            else:
                out = _k.bfgs_python(self._objective(X, y, P), iterates, x, g, Hinv,
                                     self.gtol, min(self.maxiter, _KERNEL_MAXITER))
        except BaseException:
            if iterates is None:
                self.N.setParams(x)
            else:
                iterates.settle()
            raise
        finally:
            if rows is not None:
                self.J = list(rows.costs())
                if testX is not None:
                    self.testJ = list(rows.test_costs())
        nit, nfev, njev, warnflag, halted, fun, rhok_events = out
        if compiled:
            # the tutorial's last callback evaluated the network at the final
            # weights, leaving yHat, z2, a2, z3 there
            self.N.setParams(x)
            self.N.costFunction(X, y)
            if testX is not None:
                self.N.costFunction(testX, testY)
        return self._result(x, g, Hinv, nit, nfev, njev, warnflag, halted, fun, rhok_events)

    def _objective(self, X, y, P):
        """costFunctionWrapper as scipy's minimize(jac=True) reads it."""
        wrapper = self.costFunctionWrapper

        def objective(params):
            fg = wrapper(params, X, y)
            fx, gx = fg[0], fg[1]
            if not np.isscalar(fx):
                try:
                    fx = np.asarray(fx).item()
                except (TypeError, ValueError) as e:
                    raise ValueError("costFunctionWrapper must return (cost, gradient) with "
                                     "a scalar cost") from e
            gx = np.asarray(gx, dtype=np.float64).ravel()
            if gx.shape != (P,):
                raise ValueError(f"costFunctionWrapper's gradient must have {P} values "
                                 f"(one per weight); got {gx.size}")
            return float(fx), np.ascontiguousarray(gx)
        return objective

    def _result(self, x, g, Hinv, nit, nfev, njev, warnflag, halted, fun, rhok_events):
        """scipy's summary (with disp) and its OptimizeResult."""
        message = _MESSAGES[warnflag]
        if self.disp:
            for _ in range(rhok_events):
                warnings.warn("Divide-by-zero encountered: rhok assumed large",
                              OptimizeWarning, stacklevel=4)
            if warnflag:
                warnings.warn(message, OptimizeWarning, stacklevel=4)
            else:
                print(message)
            print(f"         Current function value: {fun:f}")
            print(f"         Iterations: {nit:d}")
            print(f"         Function evaluations: {nfev:d}")
            print(f"         Gradient evaluations: {njev:d}")
        res = OptimizeResult(fun=fun, jac=g, hess_inv=Hinv, nfev=nfev, njev=njev,
                             status=warnflag, success=warnflag == 0, message=message, x=x,
                             nit=nit)
        if halted:
            res.update(success=False, status=99, message=_HALTED)
        return res
