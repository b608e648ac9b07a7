# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Kernels for one network: forward pass, cost, and backprop gradient.

Design (shared by every kernel module in nndfast):
- The Python layer (network.py) validates shapes and dtypes, makes arrays
  C-contiguous float64, allocates every output and picks the thread count.
  Kernels trust their input and never raise (except MemoryError).
- Examples are processed in fixed chunks of CHUNK rows.  Sums over examples
  (cost, gradient) are formed per chunk and then added chunk by chunk in index
  order, so results are bitwise identical for any thread count.
- Two entry points per operation over one pointer-based core:
  * `forward`, `cost`, `cost_and_gradient` take typed memoryviews, release
    the GIL and use a prange over chunks: the path for real work.
  * `*_small` take ndarrays and keep the GIL.  Acquiring a memoryview costs
    about 0.3 us per argument, which on the tutorial's 3x2 data is ten times
    the arithmetic; these skip it, and holding the GIL for a ~100 ns kernel
    is cheaper than releasing it.  network.py only sends calls below
    PARALLEL_MIN_WORK here, after checking every array itself.
"""
cimport numpy as cnp
from cython.parallel cimport prange
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from nndfast._fastmath cimport nnd_sigmoid_vec, nnd_sigmoid_prime_vec

cnp.import_array()

cdef enum:
    # Rows per chunk; fixed, so the reduction order never depends on threads.
    CHUNK = 256
    # Below this many multiply-adds per call a thread team costs more than it saves.
    PARALLEL_MIN_WORK = 65536

#: Work (rows * H * (I + O)) below which network.py uses the *_small kernels.
SMALL_WORK = PARALLEL_MIN_WORK


# struct Net (pointers and sizes of one call) is declared in _network.pxd.


cdef void _forward_rows(const Net *n, Py_ssize_t e0, Py_ssize_t e1) noexcept nogil:
    cdef Py_ssize_t I = n.nin, H = n.nhid, O = n.nout
    cdef Py_ssize_t e, i, h, o
    cdef double x, a
    cdef double *z2
    cdef double *z3
    for e in range(e0, e1):
        z2 = n.z2 + e * H
        for h in range(H):
            z2[h] = 0.0
        for i in range(I):
            x = n.X[e * I + i]
            for h in range(H):
                z2[h] += x * n.W1[i * H + h]
    nnd_sigmoid_vec(n.z2 + e0 * H, n.a2 + e0 * H, (e1 - e0) * H)
    for e in range(e0, e1):
        z3 = n.z3 + e * O
        for o in range(O):
            z3[o] = 0.0
        for h in range(H):
            a = n.a2[e * H + h]
            for o in range(O):
                z3[o] += a * n.W2[h * O + o]
    nnd_sigmoid_vec(n.z3 + e0 * O, n.yhat + e0 * O, (e1 - e0) * O)


cdef void _cost_rows(const Net *n, double *partial, Py_ssize_t e0,
                     Py_ssize_t e1) noexcept nogil:
    # partial (O,): this chunk's sums of 0.5*(y-yhat)^2
    cdef Py_ssize_t O = n.nout
    cdef Py_ssize_t e, o
    cdef double d
    _forward_rows(n, e0, e1)
    for o in range(O):
        partial[o] = 0.0
    for e in range(e0, e1):
        for o in range(O):
            d = n.y[e * O + o] - n.yhat[e * O + o]
            partial[o] += 0.5 * d * d


cdef void _grad_rows(const Net *n, double *partial, Py_ssize_t e0,
                     Py_ssize_t e1) noexcept nogil:
    # partial layout: [dJdW1 (I*H) | dJdW2 (H*O) | J (O)], this chunk's sums.
    # d2/d3 receive f'(z2)/f'(z3) and become delta2/delta3 in place; keeping
    # them apart from z2/z3 leaves the forward cache as the tutorial leaves it.
    cdef Py_ssize_t I = n.nin, H = n.nhid, O = n.nout
    cdef Py_ssize_t e, i, h, o
    cdef double *g1 = partial
    cdef double *g2 = partial + I * H
    cdef double *Jp = partial + I * H + H * O
    cdef double *d2
    cdef double *d3
    cdef double d, s, x
    _forward_rows(n, e0, e1)
    memset(partial, 0, (I * H + H * O + O) * sizeof(double))
    nnd_sigmoid_prime_vec(n.z3 + e0 * O, n.d3 + e0 * O, (e1 - e0) * O)
    nnd_sigmoid_prime_vec(n.z2 + e0 * H, n.d2 + e0 * H, (e1 - e0) * H)
    for e in range(e0, e1):
        d3 = n.d3 + e * O
        d2 = n.d2 + e * H
        for o in range(O):
            d = n.y[e * O + o] - n.yhat[e * O + o]
            Jp[o] += 0.5 * d * d
            d3[o] = -d * d3[o]                      # delta3 = -(y-yhat) f'(z3)
        for h in range(H):
            s = 0.0
            for o in range(O):
                g2[h * O + o] += n.a2[e * H + h] * d3[o]
                s = s + d3[o] * n.W2[h * O + o]
            d2[h] = s * d2[h]                       # delta2 = delta3 W2^T f'(z2)
        for i in range(I):
            x = n.X[e * I + i]
            for h in range(H):
                g1[i * H + h] += x * d2[h]


cdef inline int _threads_for(const Net *n, Py_ssize_t per_row, int num_threads) noexcept nogil:
    if num_threads <= 1 or n.nex <= CHUNK or n.nex * per_row < PARALLEL_MIN_WORK:
        return 1
    return num_threads


cdef void _run_forward(const Net *n, int num_threads) noexcept nogil:
    cdef Py_ssize_t nchunks = (n.nex + CHUNK - 1) // CHUNK
    cdef Py_ssize_t c
    cdef int nt = _threads_for(n, n.nhid * (n.nin + n.nout), num_threads)
    if nt == 1:
        for c in range(nchunks):
            _forward_rows(n, c * CHUNK, min(n.nex, (c + 1) * CHUNK))
    else:
        for c in prange(nchunks, num_threads=nt, schedule='static'):
            _forward_rows(n, c * CHUNK, min(n.nex, (c + 1) * CHUNK))


cdef int _run_cost(const Net *n, double *J, int num_threads) noexcept nogil:
    # Returns -1 if scratch could not be allocated.
    cdef Py_ssize_t nchunks = (n.nex + CHUNK - 1) // CHUNK
    cdef Py_ssize_t c, o, O = n.nout
    cdef int nt = _threads_for(n, n.nhid * (n.nin + n.nout), num_threads)
    cdef double stack_partial[64]
    cdef double *partial = stack_partial
    for o in range(O):
        J[o] = 0.0
    if nchunks == 0:
        return 0
    if nchunks * O > 64:
        partial = <double *> malloc(nchunks * O * sizeof(double))
        if partial == NULL:
            return -1
    if nt == 1:
        for c in range(nchunks):
            _cost_rows(n, partial + c * O, c * CHUNK, min(n.nex, (c + 1) * CHUNK))
    else:
        for c in prange(nchunks, num_threads=nt, schedule='static'):
            _cost_rows(n, partial + c * O, c * CHUNK, min(n.nex, (c + 1) * CHUNK))
    for c in range(nchunks):
        for o in range(O):
            J[o] += partial[c * O + o]
    if partial != stack_partial:
        free(partial)
    return 0


cdef int _run_grad(const Net *n, double *g1, double *g2, double *J,
                   int num_threads) noexcept nogil:
    # g1 (I, H), g2 (H, O), J (O,).  Returns -1 if scratch could not be allocated.
    cdef Py_ssize_t nchunks = (n.nex + CHUNK - 1) // CHUNK
    cdef Py_ssize_t I = n.nin, H = n.nhid, O = n.nout
    cdef Py_ssize_t P = I * H + H * O + O
    cdef Py_ssize_t c, k, m
    cdef int nt = _threads_for(n, n.nhid * (2 * n.nin + 3 * n.nout), num_threads)
    cdef double stack_partial[256]
    cdef double *partial = stack_partial
    memset(g1, 0, I * H * sizeof(double))
    memset(g2, 0, H * O * sizeof(double))
    memset(J, 0, O * sizeof(double))
    if nchunks == 0:
        return 0
    if nchunks * P > 256:
        partial = <double *> malloc(nchunks * P * sizeof(double))
        if partial == NULL:
            return -1
    if nt == 1:
        for c in range(nchunks):
            _grad_rows(n, partial + c * P, c * CHUNK, min(n.nex, (c + 1) * CHUNK))
    else:
        for c in prange(nchunks, num_threads=nt, schedule='static'):
            _grad_rows(n, partial + c * P, c * CHUNK, min(n.nex, (c + 1) * CHUNK))
    for c in range(nchunks):
        k = c * P
        for m in range(I * H):
            g1[m] += partial[k + m]
        k = k + I * H
        for m in range(H * O):
            g2[m] += partial[k + m]
        k = k + H * O
        for m in range(O):
            J[m] += partial[k + m]
    if partial != stack_partial:
        free(partial)
    return 0


# ---------------------------------------------------------------------------
# Memoryview drivers: release the GIL, parallel over chunks.
# ---------------------------------------------------------------------------

def forward(const double[:, ::1] X,      # IN  (N, I), N >= 1
            const double[:, ::1] W1,     # IN  (I, H)
            const double[:, ::1] W2,     # IN  (H, O)
            double[:, ::1] z2,           # OUT (N, H)
            double[:, ::1] a2,           # OUT (N, H)
            double[:, ::1] z3,           # OUT (N, O)
            double[:, ::1] yhat,         # OUT (N, O)
            int num_threads):
    """Fill z2 = X@W1, a2 = f(z2), z3 = a2@W2 and yhat = f(z3)."""
    cdef Net n
    n.nex, n.nin, n.nhid, n.nout = X.shape[0], X.shape[1], W1.shape[1], W2.shape[1]
    n.X, n.W1, n.W2 = &X[0, 0], &W1[0, 0], &W2[0, 0]
    n.z2, n.a2, n.z3, n.yhat = &z2[0, 0], &a2[0, 0], &z3[0, 0], &yhat[0, 0]
    with nogil:
        _run_forward(&n, num_threads)


def cost(const double[:, ::1] X,      # IN  (N, I), N >= 1
         const double[:, ::1] y,      # IN  (N, O)
         const double[:, ::1] W1,     # IN  (I, H)
         const double[:, ::1] W2,     # IN  (H, O)
         double[:, ::1] z2,           # OUT (N, H)
         double[:, ::1] a2,           # OUT (N, H)
         double[:, ::1] z3,           # OUT (N, O)
         double[:, ::1] yhat,         # OUT (N, O)
         double[::1] J,               # OUT (O,)  0.5*sum over rows of (y-yhat)^2
         int num_threads):
    """Forward pass plus the tutorial's cost J, one value per output."""
    cdef Net n
    cdef int rc
    n.nex, n.nin, n.nhid, n.nout = X.shape[0], X.shape[1], W1.shape[1], W2.shape[1]
    n.X, n.y, n.W1, n.W2 = &X[0, 0], &y[0, 0], &W1[0, 0], &W2[0, 0]
    n.z2, n.a2, n.z3, n.yhat = &z2[0, 0], &a2[0, 0], &z3[0, 0], &yhat[0, 0]
    with nogil:
        rc = _run_cost(&n, &J[0], num_threads)
    if rc:
        raise MemoryError("nndfast: could not allocate the cost's per-chunk sums")


def cost_and_gradient(const double[:, ::1] X,   # IN  (N, I), N >= 1
                      const double[:, ::1] y,   # IN  (N, O)
                      const double[:, ::1] W1,  # IN  (I, H)
                      const double[:, ::1] W2,  # IN  (H, O)
                      double[:, ::1] z2,        # OUT (N, H)
                      double[:, ::1] a2,        # OUT (N, H)
                      double[:, ::1] z3,        # OUT (N, O)
                      double[:, ::1] yhat,      # OUT (N, O)
                      double[:, ::1] d2,        # SCRATCH (N, H)
                      double[:, ::1] d3,        # SCRATCH (N, O)
                      double[:, ::1] dJdW1,     # OUT (I, H)
                      double[:, ::1] dJdW2,     # OUT (H, O)
                      double[::1] J,            # OUT (O,)
                      int num_threads):
    """Backprop: the cost J per output and dJ/dW1, dJ/dW2 in one pass."""
    cdef Net n
    cdef int rc
    n.nex, n.nin, n.nhid, n.nout = X.shape[0], X.shape[1], W1.shape[1], W2.shape[1]
    n.X, n.y, n.W1, n.W2 = &X[0, 0], &y[0, 0], &W1[0, 0], &W2[0, 0]
    n.z2, n.a2, n.z3, n.yhat = &z2[0, 0], &a2[0, 0], &z3[0, 0], &yhat[0, 0]
    n.d2, n.d3 = &d2[0, 0], &d3[0, 0]
    with nogil:
        rc = _run_grad(&n, &dJdW1[0, 0], &dJdW2[0, 0], &J[0], num_threads)
    if rc:
        raise MemoryError("nndfast: could not allocate the gradient's per-chunk sums")


# ---------------------------------------------------------------------------
# Small-call drivers: checked C-contiguous float64 ndarrays from network.py,
# GIL held, serial.
# ---------------------------------------------------------------------------

cdef inline double *_p(cnp.ndarray a) noexcept:
    return <double *> cnp.PyArray_DATA(a)


cdef inline void _fill_small(Net *n, cnp.ndarray X, cnp.ndarray W1, cnp.ndarray W2,
                             cnp.ndarray z2, cnp.ndarray a2, cnp.ndarray z3,
                             cnp.ndarray yhat) noexcept:
    n.nex = cnp.PyArray_DIM(X, 0)
    n.nin = cnp.PyArray_DIM(X, 1)
    n.nhid = cnp.PyArray_DIM(W1, 1)
    n.nout = cnp.PyArray_DIM(W2, 1)
    n.X, n.W1, n.W2 = _p(X), _p(W1), _p(W2)
    n.z2, n.a2, n.z3, n.yhat = _p(z2), _p(a2), _p(z3), _p(yhat)


def forward_small(cnp.ndarray X, cnp.ndarray W1, cnp.ndarray W2, cnp.ndarray z2,
                  cnp.ndarray a2, cnp.ndarray z3, cnp.ndarray yhat):
    """forward() for calls below SMALL_WORK; same arguments, no num_threads."""
    cdef Net n
    _fill_small(&n, X, W1, W2, z2, a2, z3, yhat)
    _run_forward(&n, 1)


def cost_small(cnp.ndarray X, cnp.ndarray y, cnp.ndarray W1, cnp.ndarray W2,
               cnp.ndarray z2, cnp.ndarray a2, cnp.ndarray z3, cnp.ndarray yhat,
               cnp.ndarray J):
    """cost() for calls below SMALL_WORK; same arguments, no num_threads."""
    cdef Net n
    _fill_small(&n, X, W1, W2, z2, a2, z3, yhat)
    n.y = _p(y)
    if _run_cost(&n, _p(J), 1):
        raise MemoryError("nndfast: could not allocate the cost's per-chunk sums")


def cost_and_gradient_small(cnp.ndarray X, cnp.ndarray y, cnp.ndarray W1,
                            cnp.ndarray W2, cnp.ndarray z2, cnp.ndarray a2,
                            cnp.ndarray z3, cnp.ndarray yhat, cnp.ndarray d2,
                            cnp.ndarray d3, cnp.ndarray dJdW1, cnp.ndarray dJdW2,
                            cnp.ndarray J):
    """cost_and_gradient() for calls below SMALL_WORK; no num_threads."""
    cdef Net n
    _fill_small(&n, X, W1, W2, z2, a2, z3, yhat)
    n.y = _p(y)
    n.d2, n.d3 = _p(d2), _p(d3)
    if _run_grad(&n, _p(dJdW1), _p(dJdW2), _p(J), 1):
        raise MemoryError("nndfast: could not allocate the gradient's per-chunk sums")


def sigmoid(const double[::1] z,   # IN  (n,)
            double[::1] out):      # OUT (n,)  may be z's buffer
    """Stable elementwise sigmoid, 1/(1+e^-z), finite for every finite z."""
    if z.shape[0]:
        with nogil:
            nnd_sigmoid_vec(&z[0], &out[0], z.shape[0])


def sigmoid_prime(const double[::1] z,   # IN  (n,)
                  double[::1] out):      # OUT (n,)
    """Stable elementwise derivative of the sigmoid, e^-|z|/(1+e^-|z|)^2."""
    if z.shape[0]:
        with nogil:
            nnd_sigmoid_prime_vec(&z[0], &out[0], z.shape[0])
