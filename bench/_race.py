"""The training race of bench/peers.py: time to reach nndfast's error.

nndfast's trainer (the compiled BFGS) runs a fixed number of iterations from
seeded weights on a synthetic smooth target; its final mean squared error is
the target.  Each peer starts from the same weights and minimizes the same
cost, the tutorial's J = 0.5*sum((y - yHat)**2), until one of its cost
evaluations reaches that error, or until its time passes a cap; a peer that
never reaches it is reported at the cap.  sklearn's MLPRegressor has its own
model (biases, a linear output) and loss (the mean), so it starts from its
own seeded weights; its error is read from its loss, 0.5*mean((y - p)**2).

Every function here takes ``clock`` (time.process_time for per-core runs,
time.perf_counter for all cores) and returns a dict with ``seconds``,
``mse`` (the lowest reached), ``reached`` (bool), ``evaluations`` and, for
nndfast, ``iterations``; a peer's also has ``capped`` (it ran out of time,
rather than its optimizer stopping by itself).
"""
import warnings

import numpy as np

import _peers

#: The race's network: I inputs, H hidden units, O outputs.
I, H, O = 8, 32, 1

#: Contenders of the race other than nndfast, in table order.
RACERS = ("scipy-BFGS-jax", "scipy-LBFGSB-jax", "torch-LBFGS", "sklearn-lbfgs")

LABELS = {
    "nndfast": "nndfast trainer (BFGS)",
    "scipy-BFGS-jax": "scipy BFGS over JAX value_and_grad",
    "scipy-LBFGSB-jax": "scipy L-BFGS-B over JAX",
    "torch-LBFGS": "torch LBFGS",
    "sklearn-lbfgs": "sklearn MLPRegressor lbfgs",
}


def race_data(n, seed=0):
    """(X, y): X (n, 8) uniform in [0, 1], y (n, 1) a smooth function of X in (0.1, 0.9)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, I))
    a = rng.normal(size=I) / np.sqrt(I)
    y = 0.5 + 0.25 * np.sin(3.0 * (X @ a)) + 0.15 * np.cos(2.0 * X[:, 1] * X[:, 2])
    return X, y[:, None]


def start_weights(seed=0):
    """(W1 (8, 32), W2 (32, 1)): what nndfast.Neural_Network(8, 32, 1) draws
    after np.random.seed(seed)."""
    return _peers.weights(I, H, O, seed)


def mse(J, n):
    """Mean squared error from the tutorial's J = 0.5*sum((y - yHat)**2)."""
    return 2.0 * float(J) / n


def run_nndfast(X, y, W1, W2, iterations, clock, num_threads=None):
    """nndfast's trainer for exactly ``iterations`` BFGS iterations (gtol=0, so
    it does not stop early unless the line search fails)."""
    import nndfast

    NN = nndfast.Neural_Network(I, H, O)
    NN.W1, NN.W2 = W1.copy(), W2.copy()
    T = nndfast.trainer(NN, gtol=0.0, maxiter=iterations, disp=False, num_threads=num_threads)
    with warnings.catch_warnings():
        # "Maximum number of iterations has been exceeded" is the point here.
        warnings.simplefilter("ignore")
        t0 = clock()
        T.train(X, y)
        seconds = clock() - t0
    res = T.optimizationResults
    return {"seconds": seconds, "mse": mse(NN.costFunction(X, y)[0], len(X)), "reached": True,
            "evaluations": int(res.nfev), "iterations": int(res.nit)}


class _Stop(Exception):
    pass


class _Watch:
    """Wraps a cost: records the lowest MSE seen and the time it first
    reached the target, and stops the optimizer (raises _Stop) then or once
    the clock passes the cap."""

    def __init__(self, n, target, cap, clock, mse_of=None):
        self.n, self.target, self.cap, self.clock = n, target, cap, clock
        self.mse_of = mse_of or (lambda J: mse(J, n))
        self.best = np.inf
        self.evaluations = 0
        self.reached_at = None
        self.capped = False
        self.t0 = clock()

    def see(self, J):
        self.evaluations += 1
        m = self.mse_of(J)
        self.best = min(self.best, m)
        elapsed = self.clock() - self.t0
        if m <= self.target:
            self.reached_at = elapsed
            raise _Stop
        if elapsed > self.cap:
            self.capped = True
            raise _Stop

    def outcome(self):
        reached = self.reached_at is not None
        return {"seconds": self.reached_at if reached else self.clock() - self.t0,
                "mse": float(self.best), "reached": reached, "capped": self.capped,
                "evaluations": self.evaluations}


def _run_until_stopped(watch, fn):
    try:
        fn()
    except _Stop:
        pass
    return watch.outcome()


def _scipy_over_jax(method, X, y, W1, W2, target, cap, clock):
    from scipy.optimize import minimize

    jax, jnp = _peers._jax()
    vg = _peers.jax_functions()["value_and_grad"]
    Xj, yj = jax.device_put(X), jax.device_put(y)
    split = W1.size

    watch = None

    def fun(p):
        J, (g1, g2) = vg(jnp.asarray(p[:split].reshape(W1.shape)),
                         jnp.asarray(p[split:].reshape(W2.shape)), Xj, yj, Lambda=None)
        J = float(J)
        if watch is not None:
            watch.see(J)
        return J, np.concatenate((np.asarray(g1).ravel(), np.asarray(g2).ravel()))

    fun(np.concatenate((W1.ravel(), W2.ravel())))    # compile outside the race
    watch = _Watch(len(X), target, cap, clock)
    options = {"maxiter": 10**9, "gtol": 0.0}
    if method == "L-BFGS-B":
        options.update(ftol=0.0, maxfun=10**9)
    x0 = np.concatenate((W1.ravel(), W2.ravel()))
    return _run_until_stopped(
        watch, lambda: minimize(fun, x0, jac=True, method=method, options=options))


def run_scipy_bfgs_jax(X, y, W1, W2, target, cap, clock):
    """scipy.optimize.minimize(method='BFGS') over a jitted JAX value_and_grad."""
    return _scipy_over_jax("BFGS", X, y, W1, W2, target, cap, clock)


def run_scipy_lbfgsb_jax(X, y, W1, W2, target, cap, clock):
    """scipy.optimize.minimize(method='L-BFGS-B') over a jitted JAX value_and_grad."""
    return _scipy_over_jax("L-BFGS-B", X, y, W1, W2, target, cap, clock)


def run_torch_lbfgs(X, y, W1, W2, target, cap, clock):
    """torch.optim.LBFGS with the strong-Wolfe line search on the same cost."""
    torch = _peers._torch()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    w1 = torch.from_numpy(W1.copy()).requires_grad_(True)
    w2 = torch.from_numpy(W2.copy()).requires_grad_(True)
    opt = torch.optim.LBFGS([w1, w2], lr=1.0, max_iter=100, history_size=10,
                            tolerance_grad=0.0, tolerance_change=0.0,
                            line_search_fn="strong_wolfe")
    watch = _Watch(len(X), target, cap, clock)

    def closure():
        opt.zero_grad()
        J = 0.5 * torch.sum((yt - torch.sigmoid(torch.sigmoid(Xt @ w1) @ w2)) ** 2)
        J.backward()
        watch.see(J.item())
        return J

    def loop():
        while True:
            opt.step(closure)

    return _run_until_stopped(watch, loop)


def run_sklearn(X, y, W1, W2, target, cap, clock):
    """sklearn's MLPRegressor(hidden_layer_sizes=(32,), activation='logistic',
    solver='lbfgs', alpha=0): its own model and initial weights (seeded)."""
    try:
        from sklearn.neural_network import MLPRegressor
    except ImportError as e:
        raise _peers.Unavailable(f"scikit-learn is not installed ({e})") from None
    mlp = MLPRegressor(hidden_layer_sizes=(H,), activation="logistic", solver="lbfgs",
                       alpha=0.0, max_iter=10**9, max_fun=10**9, tol=0.0, random_state=0)
    # sklearn's loss is 0.5*mean((y - p)**2): the MSE is twice it.
    watch = _Watch(len(X), target, cap, clock, mse_of=lambda loss: 2.0 * loss)
    inner = mlp._loss_grad_lbfgs

    def observed(*args):
        loss, grad = inner(*args)
        watch.see(loss)
        return loss, grad

    # The fit calls self._loss_grad_lbfgs for every evaluation; the instance
    # attribute puts the watch in that path without changing the optimizer.
    mlp._loss_grad_lbfgs = observed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _run_until_stopped(watch, lambda: mlp.fit(X, y.ravel()))


RUNNERS = {
    "scipy-BFGS-jax": run_scipy_bfgs_jax,
    "scipy-LBFGSB-jax": run_scipy_lbfgsb_jax,
    "torch-LBFGS": run_torch_lbfgs,
    "sklearn-lbfgs": run_sklearn,
}


def requirement(racer):
    """Raise _peers.Unavailable if ``racer``'s libraries are missing."""
    if racer.startswith("scipy"):
        try:
            import scipy.optimize  # noqa: F401
        except ImportError as e:
            raise _peers.Unavailable(f"scipy is not installed ({e})") from None
        _peers._jax()
    elif racer.startswith("torch"):
        _peers._torch()
    else:
        try:
            import sklearn  # noqa: F401
        except ImportError as e:
            raise _peers.Unavailable(f"scikit-learn is not installed ({e})") from None
