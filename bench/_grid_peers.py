"""The grid-search peers that bench_grid.py and grid_table.py time side by side.

Every peer computes the same surface: costs[i, j] = sum(J) with W1[0,0] = w0[i]
and W1[0,1] = w1[j] on the tutorial's data and a seeded network.
"""
import numpy as np

import nndfast
from nndfast import reference

try:
    import numba
except ImportError:  # optional peer
    numba = None


def tutorial_net(seed=0):
    np.random.seed(seed)
    return nndfast.Neural_Network()


def axes2(n):
    w = np.linspace(-5, 5, n)
    return {"W1[0,0]": w, "W1[0,1]": w}


def axes3(n, mixed=False):
    w = np.linspace(-5, 5, n)
    if mixed:
        return {"W1[1,0]": w, "W2[1,0]": w, "W2[2,0]": w}
    return {"W1[0,0]": w, "W1[0,1]": w, "W1[0,2]": w}


def run_nndfast(NN, axes, full_output=True, num_threads=None):
    return nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=full_output,
                               num_threads=num_threads)


def run_reference(NN, axes):
    return reference.grid_search(NN, nndfast.X, nndfast.y, axes)


def run_numpy(NN, axes):
    """Fully vectorized numpy: every grid point's network at once by broadcasting."""
    (_, w0), (_, w1) = axes.items()
    X, y = nndfast.X, nndfast.y
    W1 = np.broadcast_to(NN.W1, (len(w0), len(w1)) + NN.W1.shape).copy()
    W1[:, :, 0, 0] = w0[:, None]
    W1[:, :, 0, 1] = w1[None, :]
    z2 = X @ W1                                     # (n0, n1, N, H)
    a2 = 1.0 / (1.0 + np.exp(-z2))
    z3 = a2 @ NN.W2                                 # (n0, n1, N, O)
    yhat = 1.0 / (1.0 + np.exp(-z3))
    return 0.5 * np.sum((y - yhat) ** 2, axis=(2, 3))


if numba is not None:
    @numba.njit(parallel=True, cache=False)
    def _numba_surface(X, y, W1, W2, w0, w1, out):
        N, I = X.shape
        H, O = W2.shape
        for a in numba.prange(w0.shape[0]):
            W = W1.copy()
            a2 = np.empty(H)
            for b in range(w1.shape[0]):
                W[0, 0] = w0[a]
                W[0, 1] = w1[b]
                c = 0.0
                for e in range(N):
                    for h in range(H):
                        s = 0.0
                        for i in range(I):
                            s += X[e, i] * W[i, h]
                        a2[h] = 1.0 / (1.0 + np.exp(-s))
                    for o in range(O):
                        s = 0.0
                        for h in range(H):
                            s += a2[h] * W2[h, o]
                        d = y[e, o] - 1.0 / (1.0 + np.exp(-s))
                        c += 0.5 * d * d
                out[a, b] = c


def run_numba(NN, axes):
    """A plain numba @njit(parallel=True) prange loop over the grid."""
    (_, w0), (_, w1) = axes.items()
    out = np.empty((len(w0), len(w1)))
    _numba_surface(nndfast.X, nndfast.y, NN.W1, NN.W2, w0, w1, out)
    return out
