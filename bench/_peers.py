"""The peers a user would write instead of nndfast, for bench/peers.py and
bench/bench_peers.py.

Every peer computes what nndfast's network computes, from the same
(X, y, W1, W2, Lambda):

- ``forward``  -> yHat, shape (n, O)
- ``cost``     -> J, shape (O,): 0.5*sum((y-yHat)**2, axis=0), or with a
  number Lambda Part 7's 0.5*sum(...)/n + Lambda/2*(sum W1**2 + sum W2**2)/O
- ``gradient`` -> (dJdW1, dJdW2), shapes (I, H) and (H, O): the gradient of sum(J)

with X (n, I), y (n, O), W1 (I, H) and W2 (H, O), all float64.

A peer is a ``Peer``: ``prepare`` turns numpy arrays into the peer's own
(a user converts once, so conversion is not timed), the three operations
take the prepared arrays and return when the result is computed (JAX's
asynchronous dispatch is waited for), and ``result`` turns a return value
back into numpy.  ``load(name)`` builds one; an optional library that is
missing raises ``Unavailable`` with the reason, so callers skip cleanly.

Nothing here sets thread counts: bench/peers.py sets the environment of
each worker process before the first import (see ``THREAD_ENV``).
"""
import collections

import numpy as np

#: Contenders, in the order tables show them.  "nndfast" is the subject.
NAMES = ("nndfast", "numba", "jax", "torch", "numpy")

#: What each contender is, for table headers.
LABELS = {
    "nndfast": "nndfast",
    "numba": "numba (fused loop)",
    "jax": "JAX jit",
    "torch": "torch",
    "numpy": "numpy (nndfast.reference)",
}

#: Environment that puts each contender on one thread, set before its first import.
#: Every one gets numpy's BLAS on one thread too: scipy's optimizers and the
#: peers' own numpy glue would otherwise run a second, spinning BLAS thread.
_ONE_BLAS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
THREAD_ENV = {
    "nndfast": dict(_ONE_BLAS),
    "numba": dict(_ONE_BLAS, NUMBA_NUM_THREADS="1"),
    "jax": dict(_ONE_BLAS, XLA_FLAGS="--xla_cpu_multi_thread_eigen=false "
                                     "intra_op_parallelism_threads=1"),
    "torch": dict(_ONE_BLAS),
    "numpy": dict(_ONE_BLAS),
}

OPS = ("forward", "cost", "gradient")


class Unavailable(Exception):
    """The peer's library is not installed (or cannot run here); str() says why."""


Peer = collections.namedtuple("Peer", "name prepare forward cost gradient result")


def _identity(out):
    return out


def _penalized_cost(J, n, W1, W2, Lambda):
    """J (O,) of 0.5*sum((y-yHat)**2) turned into Part 7's cost when Lambda is a number."""
    if Lambda is None:
        return J
    return J / n + (Lambda / 2) * (np.sum(W1 ** 2) + np.sum(W2 ** 2)) / W2.shape[1]


def _penalized_gradient(g1, g2, n, W1, W2, Lambda):
    if Lambda is None:
        return g1, g2
    return g1 / n + Lambda * W1, g2 / n + Lambda * W2


def data(n, I, O, seed=None):
    """(X, y): n examples in [0, 1], X (n, I) and y (n, O), seeded by their shape."""
    rng = np.random.default_rng(seed if seed is not None else (n, I, O))
    return rng.random((n, I)), rng.random((n, O))


def weights(I, H, O, seed=0):
    """(W1, W2) as nndfast.Neural_Network(I, H, O) draws them after np.random.seed(seed)."""
    rng = np.random.RandomState(seed)
    return rng.randn(I, H), rng.randn(H, O)


def check(name, op, got, want, rtol=1e-9):
    """Raise AssertionError unless peer ``name``'s result ``got`` equals nndfast's
    ``want`` to rtol (atol rtol*max|want| per array, so entries that cancel to
    near zero are compared at the scale of the array)."""
    gots = got if isinstance(got, tuple) else (got,)
    wants = want if isinstance(want, tuple) else (want,)
    if len(gots) != len(wants):
        raise AssertionError(f"{name} {op}: {len(gots)} arrays, nndfast gives {len(wants)}")
    for g, w in zip(gots, wants):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            raise AssertionError(f"{name} {op}: shape {g.shape}, nndfast gives {w.shape}")
        scale = float(np.max(np.abs(w))) if w.size else 0.0
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * scale,
                                   err_msg=f"{name} {op} disagrees with nndfast")


# ---------------------------------------------------------------- nndfast

def _load_nndfast(parallel):
    import nndfast

    nets = {}

    def prepare(X, y, W1, W2, Lambda):
        I, H = W1.shape
        O = W2.shape[1]
        key = (I, H, O, Lambda)
        if key not in nets:
            nets[key] = nndfast.Neural_Network(I, H, O, Lambda=Lambda)
        NN = nets[key]
        NN.W1, NN.W2 = W1.copy(), W2.copy()
        return NN, X, y

    def forward(NN, X, y):
        return NN.forward(X)

    def cost(NN, X, y):
        return NN.costFunction(X, y)

    def gradient(NN, X, y):
        return NN.costFunctionPrime(X, y)

    return Peer("nndfast", prepare, forward, cost, gradient, _identity)


# ---------------------------------------------------------------- numpy

def _load_numpy(parallel):
    from nndfast import reference

    def prepare(X, y, W1, W2, Lambda):
        I, H = W1.shape
        NN = reference.Neural_Network(I, H, W2.shape[1], Lambda=Lambda)
        NN.W1, NN.W2 = W1.copy(), W2.copy()
        return NN, X, y

    return Peer("numpy", prepare, lambda NN, X, y: NN.forward(X),
                lambda NN, X, y: NN.costFunction(X, y),
                lambda NN, X, y: NN.costFunctionPrime(X, y), _identity)


# ---------------------------------------------------------------- numba

_NUMBA = {}


def _numba_kernels():
    """The fused loops, compiled once per process: one pass over the examples,
    nothing of size n x H stored, as a user porting the tutorial would write."""
    if _NUMBA:
        return _NUMBA
    try:
        import numba
    except ImportError as e:
        raise Unavailable(f"numba is not installed ({e}); pip install numba") from None
    from math import exp

    @numba.njit
    def hidden(X, e, W1, a2):
        # a2 = sigmoid(X[e] @ W1), one example's hidden layer
        for h in range(W1.shape[1]):
            s = 0.0
            for i in range(X.shape[1]):
                s += X[e, i] * W1[i, h]
            a2[h] = 1.0 / (1.0 + exp(-s))

    @numba.njit
    def output(a2, W2, o):
        # sigmoid(a2 @ W2[:, o])
        s = 0.0
        for h in range(W2.shape[0]):
            s += a2[h] * W2[h, o]
        return 1.0 / (1.0 + exp(-s))

    def forward_rows(X, W1, W2, out, lo, hi, a2):
        for e in range(lo, hi):
            hidden(X, e, W1, a2)
            for o in range(W2.shape[1]):
                out[e, o] = output(a2, W2, o)

    def cost_rows(X, y, W1, W2, J, lo, hi, a2):
        for e in range(lo, hi):
            hidden(X, e, W1, a2)
            for o in range(W2.shape[1]):
                d = y[e, o] - output(a2, W2, o)
                J[o] += 0.5 * d * d

    def gradient_rows(X, y, W1, W2, g1, g2, lo, hi, a2, d2, d3):
        I = X.shape[1]
        H, O = W2.shape
        for e in range(lo, hi):
            hidden(X, e, W1, a2)
            for o in range(O):
                yh = output(a2, W2, o)
                d3[o] = -(y[e, o] - yh) * yh * (1.0 - yh)
            for h in range(H):
                s = 0.0
                for o in range(O):
                    s += d3[o] * W2[h, o]
                    g2[h, o] += a2[h] * d3[o]
                d2[h] = s * a2[h] * (1.0 - a2[h])
            for i in range(I):
                x = X[e, i]
                for h in range(H):
                    g1[i, h] += x * d2[h]

    fwd_rows = numba.njit(forward_rows)
    cst_rows = numba.njit(cost_rows)
    grd_rows = numba.njit(gradient_rows)

    @numba.njit
    def forward_serial(X, W1, W2):
        out = np.empty((X.shape[0], W2.shape[1]))
        fwd_rows(X, W1, W2, out, 0, X.shape[0], np.empty(W2.shape[0]))
        return out

    @numba.njit
    def cost_serial(X, y, W1, W2):
        J = np.zeros(W2.shape[1])
        cst_rows(X, y, W1, W2, J, 0, X.shape[0], np.empty(W2.shape[0]))
        return J

    @numba.njit
    def gradient_serial(X, y, W1, W2):
        H, O = W2.shape
        g1 = np.zeros(W1.shape)
        g2 = np.zeros(W2.shape)
        grd_rows(X, y, W1, W2, g1, g2, 0, X.shape[0], np.empty(H), np.empty(H), np.empty(O))
        return g1, g2

    # The prange versions split the examples into chunks, one partial result
    # per chunk, summed afterwards: what a user does to avoid a race on the sums.
    @numba.njit(parallel=True)
    def forward_parallel(X, W1, W2, chunks):
        n = X.shape[0]
        out = np.empty((n, W2.shape[1]))
        for c in numba.prange(chunks):
            fwd_rows(X, W1, W2, out, c * n // chunks, (c + 1) * n // chunks,
                     np.empty(W2.shape[0]))
        return out

    @numba.njit(parallel=True)
    def cost_parallel(X, y, W1, W2, chunks):
        n = X.shape[0]
        J = np.zeros((chunks, W2.shape[1]))
        for c in numba.prange(chunks):
            cst_rows(X, y, W1, W2, J[c], c * n // chunks, (c + 1) * n // chunks,
                     np.empty(W2.shape[0]))
        return J.sum(axis=0)

    @numba.njit(parallel=True)
    def gradient_parallel(X, y, W1, W2, chunks):
        n = X.shape[0]
        H, O = W2.shape
        g1 = np.zeros((chunks,) + W1.shape)
        g2 = np.zeros((chunks,) + W2.shape)
        for c in numba.prange(chunks):
            grd_rows(X, y, W1, W2, g1[c], g2[c], c * n // chunks, (c + 1) * n // chunks,
                     np.empty(H), np.empty(H), np.empty(O))
        return g1.sum(axis=0), g2.sum(axis=0)

    _NUMBA.update(numba=numba, forward_serial=forward_serial, cost_serial=cost_serial,
                  gradient_serial=gradient_serial, forward_parallel=forward_parallel,
                  cost_parallel=cost_parallel, gradient_parallel=gradient_parallel)
    return _NUMBA


def _load_numba(parallel):
    k = _numba_kernels()

    def prepare(X, y, W1, W2, Lambda):
        chunks = 4 * k["numba"].get_num_threads()
        return X, y, W1.copy(), W2.copy(), Lambda, chunks

    if parallel:
        def forward(X, y, W1, W2, Lambda, chunks):
            return k["forward_parallel"](X, W1, W2, chunks)

        def cost(X, y, W1, W2, Lambda, chunks):
            return _penalized_cost(k["cost_parallel"](X, y, W1, W2, chunks),
                                   X.shape[0], W1, W2, Lambda)

        def gradient(X, y, W1, W2, Lambda, chunks):
            return _penalized_gradient(*k["gradient_parallel"](X, y, W1, W2, chunks),
                                       X.shape[0], W1, W2, Lambda)
    else:
        def forward(X, y, W1, W2, Lambda, chunks):
            return k["forward_serial"](X, W1, W2)

        def cost(X, y, W1, W2, Lambda, chunks):
            return _penalized_cost(k["cost_serial"](X, y, W1, W2), X.shape[0], W1, W2, Lambda)

        def gradient(X, y, W1, W2, Lambda, chunks):
            return _penalized_gradient(*k["gradient_serial"](X, y, W1, W2),
                                       X.shape[0], W1, W2, Lambda)

    return Peer("numba", prepare, forward, cost, gradient, _identity)


# ---------------------------------------------------------------- JAX

_JAX = {}


def _jax():
    """(jax, jax.numpy) with float64 on, or Unavailable."""
    if not _JAX:
        try:
            import jax
            import jax.numpy as jnp
        except ImportError as e:
            raise Unavailable(f"JAX is not installed ({e}); pip install jax jaxlib") from None
        jax.config.update("jax_enable_x64", True)
        _JAX.update(jax=jax, jnp=jnp)
    return _JAX["jax"], _JAX["jnp"]


def jax_functions():
    """The jitted JAX functions a user writes: forward, cost and
    value_and_grad of sum(cost), each taking (W1, W2, X, y, Lambda) with
    Lambda static (None or a float)."""
    jax, jnp = _jax()
    if "fns" in _JAX:
        return _JAX["fns"]

    def sigmoid(z):
        return 1.0 / (1.0 + jnp.exp(-z))

    def yhat(W1, W2, X):
        return sigmoid(sigmoid(X @ W1) @ W2)

    def cost(W1, W2, X, y, Lambda):
        J = 0.5 * jnp.sum((y - yhat(W1, W2, X)) ** 2, axis=0)
        if Lambda is None:
            return J
        return J / X.shape[0] + (Lambda / 2) * (jnp.sum(W1 ** 2) + jnp.sum(W2 ** 2)) / W2.shape[1]

    def total(W1, W2, X, y, Lambda):
        return jnp.sum(cost(W1, W2, X, y, Lambda))

    fns = {
        "sigmoid": sigmoid,
        "cost_fn": cost,
        "forward": jax.jit(yhat),
        "cost": jax.jit(cost, static_argnames="Lambda"),
        "value_and_grad": jax.jit(jax.value_and_grad(total, argnums=(0, 1)),
                                  static_argnames="Lambda"),
    }
    _JAX["fns"] = fns
    return fns


def _load_jax(parallel):
    jax, jnp = _jax()
    f = jax_functions()

    def prepare(X, y, W1, W2, Lambda):
        return (jax.device_put(W1), jax.device_put(W2), jax.device_put(X), jax.device_put(y),
                Lambda)

    def forward(W1, W2, X, y, Lambda):
        return f["forward"](W1, W2, X).block_until_ready()

    def cost(W1, W2, X, y, Lambda):
        return f["cost"](W1, W2, X, y, Lambda=Lambda).block_until_ready()

    def gradient(W1, W2, X, y, Lambda):
        _, (g1, g2) = f["value_and_grad"](W1, W2, X, y, Lambda=Lambda)
        return g1.block_until_ready(), g2.block_until_ready()

    def result(out):
        if isinstance(out, tuple):
            return tuple(np.asarray(a) for a in out)
        return np.asarray(out)

    return Peer("jax", prepare, forward, cost, gradient, result)


class JaxGrid:
    """Grid search as a JAX user writes it: jit(vmap(cost)) over the grid's
    points, for one W1 weight and one W2 weight.

    Points are (W1[r1, c1] = a, W2[r2, c2] = b) for a in ``w0`` and b in
    ``w1``, in row-major order (a varies slowest), and the cost is sum(J) of
    the tutorial's unregularized cost.  Work goes in jitted calls of
    ``chunk`` points (a few hundred thousand points x examples keep XLA's
    intermediates of shape (chunk, n, H) in cache).
    """

    def __init__(self, X, y, W1, W2, w0, w1, chunk, at1=(0, 0), at2=(1, 0)):
        jax, jnp = _jax()
        f = jax_functions()
        W1j, W2j, Xj, yj = (jax.device_put(a) for a in (W1, W2, X, y))

        def cost_at(a, b):
            return jnp.sum(f["cost_fn"](W1j.at[at1].set(a), W2j.at[at2].set(b), Xj, yj, None))

        self.shape = (len(w0), len(w1))
        self.chunk = max(1, min(chunk, len(w0) * len(w1)))
        self._a = np.repeat(np.asarray(w0, dtype=np.float64), len(w1))
        self._b = np.tile(np.asarray(w1, dtype=np.float64), len(w0))
        self._costs = jax.jit(jax.vmap(cost_at))
        self._best = jax.jit(lambda a, b: jnp.min(jax.vmap(cost_at)(a, b)))
        self._jax = jax

    def pieces(self, points=None):
        """Device arrays for the first ``points`` points (all by default), in
        whole chunks (at least one): a list of (a, b) pairs."""
        total = self._a.shape[0] if points is None else min(points, self._a.shape[0])
        calls = max(1, total // self.chunk)
        put = self._jax.device_put
        return [(put(self._a[k * self.chunk:(k + 1) * self.chunk]),
                 put(self._b[k * self.chunk:(k + 1) * self.chunk])) for k in range(calls)]

    def best(self, pieces):
        """The lowest cost over ``pieces`` (from pieces()), as a float."""
        return min(float(self._best(a, b)) for a, b in pieces)

    def surface(self):
        """Every point's cost, shape (len(w0), len(w1)), computed chunk by chunk."""
        put = self._jax.device_put
        a, b, c = self._a, self._b, self.chunk
        out = [np.asarray(self._costs(put(a[k:k + c]), put(b[k:k + c])))
               for k in range(0, self._a.shape[0], self.chunk)]
        return np.concatenate(out).reshape(self.shape)


# ---------------------------------------------------------------- torch

def _torch():
    try:
        import torch
    except ImportError as e:
        raise Unavailable(f"torch is not installed ({e}); pip install torch "
                          "(the CPU build: --index-url "
                          "https://download.pytorch.org/whl/cpu)") from None
    return torch


def _load_torch(parallel):
    torch = _torch()
    if not parallel:
        torch.set_num_threads(1)

    def prepare(X, y, W1, W2, Lambda):
        return (torch.from_numpy(X), torch.from_numpy(y),
                torch.from_numpy(W1.copy()), torch.from_numpy(W2.copy()), Lambda)

    def cost_of(X, y, W1, W2, Lambda):
        J = 0.5 * torch.sum((y - torch.sigmoid(torch.sigmoid(X @ W1) @ W2)) ** 2, dim=0)
        if Lambda is None:
            return J
        return (J / X.shape[0]
                + (Lambda / 2) * (torch.sum(W1 ** 2) + torch.sum(W2 ** 2)) / W2.shape[1])

    def forward(X, y, W1, W2, Lambda):
        with torch.no_grad():
            return torch.sigmoid(torch.sigmoid(X @ W1) @ W2)

    def cost(X, y, W1, W2, Lambda):
        with torch.no_grad():
            return cost_of(X, y, W1, W2, Lambda)

    def gradient(X, y, W1, W2, Lambda):
        W1 = W1.detach().requires_grad_(True)
        W2 = W2.detach().requires_grad_(True)
        g1, g2 = torch.autograd.grad(torch.sum(cost_of(X, y, W1, W2, Lambda)), (W1, W2))
        return g1, g2

    def result(out):
        if isinstance(out, tuple):
            return tuple(a.numpy() for a in out)
        return out.numpy()

    return Peer("torch", prepare, forward, cost, gradient, result)


_LOADERS = {"nndfast": _load_nndfast, "numba": _load_numba, "jax": _load_jax,
            "torch": _load_torch, "numpy": _load_numpy}


def load(name, parallel=False):
    """The Peer called ``name`` (one of NAMES).  parallel=False is the
    one-thread variant where the peer has one (numba's serial njit rather
    than prange, torch.set_num_threads(1)); the process's environment
    decides the rest.  Raises Unavailable when its library is missing."""
    return _LOADERS[name](parallel)


def run(peer, op, X, y, W1, W2, Lambda=None):
    """One call of ``op`` by ``peer`` on numpy arrays, as numpy (for checks)."""
    args = peer.prepare(X, y, W1, W2, Lambda)
    return peer.result(getattr(peer, op)(*args))
