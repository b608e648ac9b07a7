# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""Kernels for one network: forward pass, cost, and backprop gradient.

Design (shared by every kernel module in nndfast):
- The Python layer (network.py) validates shapes and dtypes, makes arrays
  C-contiguous float64, allocates every output and picks the thread count.
  Kernels trust their input and never raise (except MemoryError, and
  whatever a signal handler raises during a long call: KeyboardInterrupt).
- Examples are processed in fixed chunks of CHUNK rows.  Sums over examples
  (cost, gradient) are formed per chunk and then added chunk by chunk in index
  order, so results are bitwise identical for any thread count.
- Two kinds of entry point over one pointer-based core:
  * `forward`, `cost`, `cost_and_gradient` take typed memoryviews, check
    every shape against the others, release the GIL and use a prange over
    chunks.
  * `Workspace`, one per network, runs the drop-in Neural_Network's calls
    from a `Snapshot` of the network (read once per call) and owns the
    buffers and the published z2/a2/z3/yHat.  Its tiny path keeps the GIL
    and checks raw ndarrays at C level: acquiring a memoryview per argument
    costs more than the arithmetic on the tutorial's 3x2 data.
"""
cimport numpy as cnp
import numpy as np
from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from cpython.object cimport PyObject
from cpython.exc cimport PyErr_Clear
from cpython.ref cimport Py_DECREF

from nndfast._alloc cimport check_alloc
from nndfast._fastmath cimport nnd_sigmoid_vec, nnd_sigmoid_prime_vec
from nndfast._openmp cimport (NETWORK_TEAMS, team_clock, team_note_worker, team_record,
                              team_threads)

import threading

cnp.import_array()

cdef enum:
    # Rows per chunk; fixed, so the reduction order never depends on threads.
    CHUNK = 256
    # Below this many multiply-adds per call a thread team costs more than it saves.
    PARALLEL_MIN_WORK = 65536
    # Large calls: the work each thread of a team must get, in _work's ops
    # (multiply-adds and sigmoids): enough to be worth waking a thread for.
    # At 1e6 (about 0.15 ms a thread) a team of two ran the I 8, H 32 calls
    # at 6,500 and 10,000 rows 1.5-1.7x faster on idle cores; beside a busy
    # core or a spinning BLAS worker the policy keeps one thread, and these
    # calls then took 0-5% longer than one thread alone.
    TEAM_MIN_WORK_OPS = 1000000
    # Long calls decide their team again every SEGMENT_WORK_OPS, see _run.
    SEGMENT_WORK_OPS = 20000000
    # A team must finish in under NETWORK_TEAM_GAIN_PCT % of the time one
    # thread would have taken, else it counts as lost (_openmp_policy.h's
    # backoff).  Stricter than the grid's: a call's segment is one barrier
    # over few chunks, where a descheduled thread costs a large share.
    NETWORK_TEAM_GAIN_PCT = 80
    # An interruptible call (a def driver's, on the main thread) runs
    # Python's signal handlers (Ctrl-C) about this often: timed, since a
    # chunk's wall time can be far more than its work says (page faults on
    # fresh outputs, a busy machine).
    SIGNAL_CHECK_MS = 20
    # _run's failures (0: done)
    NO_MEMORY = -1
    INTERRUPTED = -2


# struct Net (pointers and sizes of one call) is declared in _network.pxd.


cdef extern from "_network.h" nogil:
    Py_ssize_t NND_FORWARD_SCRATCH(Py_ssize_t n, Py_ssize_t H, Py_ssize_t O)
    Py_ssize_t NND_GRAD_SCRATCH(Py_ssize_t n, Py_ssize_t H, Py_ssize_t O)
    int NND_FLAT_MAX_H
    ctypedef void (*nnd_net_fused_fn)(const double *X, const double *y, const double *W1,
                                      const double *W2, double *z2, double *a2, double *z3,
                                      double *yhat, int64_t n, int64_t I, int64_t H,
                                      int64_t O, int op, double *t, double *sums) noexcept nogil
    ctypedef struct nnd_narrow_args:
        const double *X
        const double *y
        const double *W1
        const double *W2
        double *z2
        double *a2
        double *z3
        double *yhat
        double *sp
        double *t
        double *g1
        double *g2
        double *J
        int64_t n, ni, nh, no
    ctypedef struct nnd_net_kernels:
        nnd_net_fused_fn fused
        void (*narrow)(int grad, const nnd_narrow_args *a) noexcept nogil
        void (*cost)(const double *y, const double *yhat, int64_t n, int64_t O,
                     double *J) noexcept nogil
        const char *isa
    nnd_net_kernels nnd_net_select() noexcept
    Py_ssize_t NND_NET_SCRATCH(Py_ssize_t I, Py_ssize_t H, Py_ssize_t O, Py_ssize_t n)
    double *nnd_scratch_alloc(int64_t m) noexcept
    void nnd_scratch_free(double *t) noexcept
    double *nnd_scratch_align(double *buf) noexcept

# The fused kernel's build for this CPU, chosen once at import (see _network.h).
cdef nnd_net_kernels NK = nnd_net_select()


def simd_isa():
    """Which build of the network kernels runs here: 'avx512', 'avx2' or 'base'."""
    return NK.isa.decode()


cdef enum:
    FORWARD = 0
    COST = 1
    GRAD = 2
    # Workspace only: GRAD whose caller wants (dJdW1, dJdW2) without J
    GRAD_ONLY = 3


cdef inline Py_ssize_t _kernel_scratch_len(const Net *n, int op) noexcept nogil:
    cdef Py_ssize_t rows = min(n.nex, <Py_ssize_t> CHUNK)
    if n.nhid > NND_FLAT_MAX_H:
        return NND_NET_SCRATCH(n.nin, n.nhid, n.nout, rows)
    if op == GRAD:
        return NND_GRAD_SCRATCH(rows, n.nhid, n.nout)
    return NND_FORWARD_SCRATCH(rows, n.nhid, n.nout)


cdef inline Py_ssize_t _scratch_len(const Net *n, int op) noexcept nogil:
    # A call that keeps no z2/a2/z3 (n.z2 NULL) or no yhat writes a chunk's
    # worth of them into scratch after the kernels' own (_chunk): a pass
    # whose results only feed J or the gradient (the trainers, _train.pyx)
    # then stores nothing per example instead of 8*(2H+2O) bytes.
    cdef Py_ssize_t rows = min(n.nex, <Py_ssize_t> CHUNK)
    cdef Py_ssize_t m = _kernel_scratch_len(n, op)
    if n.nhid > NND_FLAT_MAX_H:
        return m      # the fused kernel keeps what it does not write in its tiles
    if n.z2 == NULL:
        m += rows * 2 * (n.nhid + n.nout)
    elif n.yhat == NULL:
        m += rows * n.nout
    return m


cdef inline Py_ssize_t _partial_len(const Net *n, int op) noexcept nogil:
    # doubles of per-chunk sums: J (O,) for COST; g1, g2, J for GRAD
    if op == GRAD:
        return n.nin * n.nhid + n.nhid * n.nout + n.nout
    if op == COST:
        return n.nout
    return 0


cdef void _chunk(const Net *n, int op, Py_ssize_t c, double *t,
                 double *partial) noexcept nogil:
    """Work of chunk c (rows c*CHUNK ...) for op, with scratch t."""
    cdef Py_ssize_t e0 = c * CHUNK
    cdef Py_ssize_t rows = min(n.nex - e0, <Py_ssize_t> CHUNK)
    cdef Py_ssize_t I = n.nin, H = n.nhid, O = n.nout
    cdef Py_ssize_t most
    cdef const double *X = n.X + e0 * I
    cdef double *sums = NULL
    cdef double *out = NULL
    cdef double *z2
    cdef double *a2
    cdef double *z3
    cdef double *yhat
    cdef nnd_narrow_args a
    if op != FORWARD:     # partial is NULL for FORWARD
        sums = partial + c * _partial_len(n, op)
    if n.xkeep != NULL:
        memcpy(n.xkeep + e0 * I, X, rows * I * sizeof(double))
        X = n.xkeep + e0 * I
    if H > NND_FLAT_MAX_H:
        NK.fused(X, n.y + e0 * O if n.y != NULL else NULL, n.W1, n.W2,
                 n.z2 + e0 * H if n.z2 != NULL else NULL,
                 n.a2 + e0 * H if n.z2 != NULL else NULL,
                 n.z3 + e0 * O if n.z2 != NULL else NULL,
                 n.yhat + e0 * O if n.yhat != NULL else NULL,
                 rows, I, H, O, op, t, sums)
        return
    if n.z2 == NULL or n.yhat == NULL:
        # outputs not kept: this chunk's go after the kernels' scratch (_scratch_len)
        out = t + _kernel_scratch_len(n, op)
        most = min(n.nex, <Py_ssize_t> CHUNK)
    if n.z2 != NULL:
        z2, a2, z3 = n.z2 + e0 * H, n.a2 + e0 * H, n.z3 + e0 * O
    else:
        z2, a2, z3 = out, out + most * H, out + 2 * most * H
        out += most * (2 * H + O)
    yhat = n.yhat + e0 * O if n.yhat != NULL else out
    # narrow layers: straight into the row-major outputs, every op
    a.X, a.y, a.W1, a.W2 = X, NULL, n.W1, n.W2
    a.z2, a.a2, a.z3, a.yhat = z2, a2, z3, yhat
    a.n, a.ni, a.nh, a.no = rows, I, H, O
    a.sp = t if op == GRAD else NULL
    NK.narrow(0, &a)
    if op == GRAD:
        a.y, a.t = n.y + e0 * O, t
        a.g1, a.g2, a.J = sums, sums + I * H, sums + I * H + H * O
        NK.narrow(1, &a)
    elif op == COST:
        NK.cost(n.y + e0 * O, yhat, rows, O, sums)


cdef inline Py_ssize_t _work(const Net *n, int op) noexcept nogil:
    """Work of op on n in ops (multiply-adds and sigmoids)."""
    cdef Py_ssize_t work = n.nex * (n.nhid * (n.nin + 2) + 2 * n.nout)
    return 2 * work if op == GRAD else work


cdef inline int _threads_for(const Net *n, int op, int num_threads) noexcept nogil:
    """Team size for op on n: num_threads only when each thread gets enough
    work to repay waking a team, else 1.

    Why a high bar: a parallel region ends at a barrier, so a call takes as
    long as its slowest thread.  Right after a numpy BLAS call OpenBLAS's
    workers still spin (~0.1 s), and other processes may hold a core; a team
    thread that is descheduled then holds the whole call for a time slice,
    which is longer than a small call's total work.  One thread
    never waits for anybody, so small calls stay serial."""
    cdef Py_ssize_t nt, work = _work(n, op)
    nt = min(<Py_ssize_t> num_threads, work // TEAM_MIN_WORK_OPS,
             (n.nex + CHUNK - 1) // CHUNK)
    return <int> max(nt, 1)


cdef inline Py_ssize_t _segment_chunks(const Net *n, int op) noexcept nogil:
    """Chunks per segment of a call (_run): about SEGMENT_WORK_OPS each, equal."""
    cdef Py_ssize_t nchunks = (n.nex + CHUNK - 1) // CHUNK
    cdef Py_ssize_t nseg = _work(n, op) // SEGMENT_WORK_OPS + 1
    return max(<Py_ssize_t> 1, (nchunks + nseg - 1) // nseg)


cdef extern from *:
    """
    /* the stop flag a team's workers read while thread 0 may set it */
    #if defined(__GNUC__)
    #define nnd_load_flag(p) __atomic_load_n((p), __ATOMIC_RELAXED)
    #define nnd_set_flag(p) __atomic_store_n((p), 1, __ATOMIC_RELAXED)
    #else
    #define nnd_load_flag(p) (*(volatile int *) (p))
    #define nnd_set_flag(p) (*(volatile int *) (p) = 1)
    #endif
    """
    int nnd_load_flag(int *p) noexcept nogil
    void nnd_set_flag(int *p) noexcept nogil


cdef extern from "Python.h":
    # Without Cython's error check: the exception a signal handler raises
    # stays set for the def driver to raise (_raise_pending).
    int _check_signals "PyErr_CheckSignals"() noexcept
    unsigned long PyThread_get_thread_ident() noexcept nogil


cdef int _signalled() noexcept nogil:
    """Run Python's pending signal handlers; 1 if one raised (Ctrl-C:
    KeyboardInterrupt), the exception then being set."""
    with gil:
        return _check_signals() != 0


cdef int _raise_pending() except -1:
    # propagates the exception _signalled left set
    return -1


cdef bint _on_main_thread():
    # Python runs signal handlers on the main thread only: elsewhere a check
    # would take the GIL for nothing
    return PyThread_get_thread_ident() == threading.main_thread().ident


cdef int _run(const Net *n, int op, double *partial, int num_threads,
              bint interruptible) noexcept nogil:
    """Run op over all chunks; per-chunk sums go to partial.  0, NO_MEMORY,
    or INTERRUPTED (a signal handler raised; the exception is set and the
    outputs are partly written).

    A long call runs in segments of about SEGMENT_WORK_OPS, each with its
    own team decision (_run_segment): numpy's BLAS worker spins for a while
    after numpy's last call and then sleeps, so a long call that had to
    start on one thread beside it takes the second core once it is free.
    Which segment or thread runs a chunk never changes its numbers."""
    cdef Py_ssize_t nchunks = (n.nex + CHUNK - 1) // CHUNK
    cdef Py_ssize_t per = _segment_chunks(n, op)
    cdef Py_ssize_t c0 = 0
    cdef int nt = _threads_for(n, op, num_threads)
    cdef int rc
    # when signals were last looked for; below 0: not interruptible
    cdef double checked = team_clock() if interruptible else -1.0
    while c0 < nchunks:
        rc = _run_segment(n, op, partial, c0, min(nchunks, c0 + per), nt, &checked)
        if rc != 0:
            return rc
        c0 += per
    return 0


cdef inline bint _check_due(double *checked) noexcept nogil:
    """Whether an interruptible call should run the signal handlers now
    (every SIGNAL_CHECK_MS); notes the time if so."""
    cdef double now
    if checked[0] < 0.0:
        return False
    now = team_clock()
    if now - checked[0] < SIGNAL_CHECK_MS * 1e-3:
        return False
    checked[0] = now
    return True


cdef int _run_segment(const Net *n, int op, double *partial, Py_ssize_t c0,
                      Py_ssize_t c1, int nt, double *checked) noexcept nogil:
    """Chunks c0 .. c1-1 of op on up to nt threads.  0, NO_MEMORY, or
    INTERRUPTED.  checked: see _run; the calling thread (OpenMP thread 0)
    runs the signal handlers between its chunks when _check_due says so."""
    cdef Py_ssize_t c, m = _scratch_len(n, op)
    cdef int no_memory = 0
    cdef int *failed = &no_memory     # written through a pointer: shared, not thread-private
    cdef int interrupted = 0
    cdef int *stop = &interrupted
    cdef Py_ssize_t master_chunks = 0
    cdef Py_ssize_t *mine = &master_chunks
    cdef double t0, master_done = 0.0
    cdef double *done = &master_done
    cdef double stack_t[520]          # 512 doubles from a 64-byte boundary
    cdef double *t
    # the process's team policy (_openmp_policy.h): one thread in a forked
    # child, while teams are backed off, or beyond the idle cores (a thread
    # sharing a core with a runnable one stalls the team)
    nt = team_threads(NETWORK_TEAMS, nt)
    if nt == 1:
        # on a cache line (nnd_scratch_alloc says why)
        t = nnd_scratch_align(&stack_t[0]) if m <= 512 else nnd_scratch_alloc(m)
        if t == NULL:
            return NO_MEMORY
        for c in range(c0, c1):
            _chunk(n, op, c, t, partial)
            if _check_due(checked) and _signalled():
                interrupted = 1
                break
        if m > 512:
            nnd_scratch_free(t)
        return INTERRUPTED if interrupted else 0
    # One scratch per thread, allocated inside the team (sklearn's pattern).
    # Chunks are handed out one at a time (dynamic), not split in equal
    # shares up front (static): a thread that the OS deschedules (a spinning
    # OpenBLAS worker or another process on its core) then delays the call by
    # at most the chunk it holds, while the others take the rest.  Which
    # thread runs a chunk never changes its numbers: sums stay per chunk.
    # After a signal handler raised, the rest of the segment's chunks are
    # skipped.
    t0 = team_clock()
    with parallel(num_threads=nt):
        team_note_worker()
        t = nnd_scratch_alloc(m)
        if t == NULL:
            failed[0] = 1
        else:
            for c in prange(c0, c1, schedule='dynamic'):
                if nnd_load_flag(stop):
                    continue
                _chunk(n, op, c, t, partial)
                if threadid() == 0:
                    mine[0] += 1
                    done[0] = team_clock()
                    if _check_due(checked) and _signalled():
                        nnd_set_flag(stop)
            nnd_scratch_free(t)
    if no_memory:
        return NO_MEMORY
    if interrupted:
        return INTERRUPTED
    # Even so the region ends at a barrier, and a descheduled thread can hold
    # it for a time slice: a team that did not clearly beat one thread says
    # the cores are busy (BLAS spinners, other processes), and the policy
    # backs the next calls off to one thread for a while.
    team_record(NETWORK_TEAMS, NETWORK_TEAM_GAIN_PCT, t0, master_done, master_chunks, c1 - c0)
    return 0


# The cimported entry points (_network.pxd: descent in _train.pyx, and the
# tiny drivers) are not interruptible: their callers look for Ctrl-C
# between their own steps.
cdef int _run_forward(const Net *n, int num_threads) noexcept nogil:
    return _run(n, FORWARD, NULL, num_threads, False)


cdef int _run_sums(const Net *n, int op, double *out, int num_threads,
                   bint interruptible) noexcept nogil:
    """Run op (COST or GRAD) and add its per-chunk sums, in chunk order (the
    same for any thread count), into out (_partial_len doubles).  As _run."""
    cdef Py_ssize_t nchunks = (n.nex + CHUNK - 1) // CHUNK
    cdef Py_ssize_t P = _partial_len(n, op)
    cdef Py_ssize_t c, m
    cdef int rc
    cdef double stack_partial[256]
    cdef double *partial = &stack_partial[0]
    memset(out, 0, P * sizeof(double))
    if nchunks == 0:
        return 0
    if nchunks * P > 256:
        partial = <double *> malloc(nchunks * P * sizeof(double))
        if partial == NULL:
            return NO_MEMORY
    rc = _run(n, op, partial, num_threads, interruptible)
    if rc == 0:
        for c in range(nchunks):
            for m in range(P):
                out[m] += partial[c * P + m]
    if partial != &stack_partial[0]:
        free(partial)
    return rc


cdef void _regularize(const Net *n, double *J, double *g1, double *g2) noexcept nogil:
    """Part 7's terms on the summed J (O,) and, unless g1 is NULL, on g1, g2:
    J = scale*J + (lam/2)*(sum W1^2 + sum W2^2)/O, g = scale*g + lam*W.
    The penalty is split over the O outputs so that sum(J), the objective of
    every trainer, check and grid search, has exactly g as its gradient (the
    tutorial's O = 1 is its formula as written).  Each step is skipped at its
    neutral value, so Parts 2-6 (scale 1, lam 0) keep their bitwise results,
    even for inf weights where 0*inf would be NaN."""
    cdef Py_ssize_t k, IH = n.nin * n.nhid, HO = n.nhid * n.nout
    cdef double s1 = 0.0, s2 = 0.0, penalty
    if n.scale != 1.0:
        for k in range(n.nout):
            J[k] = J[k] * n.scale
        if g1 != NULL:
            for k in range(IH):
                g1[k] = g1[k] * n.scale
            for k in range(HO):
                g2[k] = g2[k] * n.scale
    if n.lam != 0.0:
        for k in range(IH):
            s1 += n.W1[k] * n.W1[k]
        for k in range(HO):
            s2 += n.W2[k] * n.W2[k]
        penalty = (n.lam / 2.0) * (s1 + s2) / n.nout
        for k in range(n.nout):
            J[k] = J[k] + penalty
        if g1 != NULL:
            for k in range(IH):
                g1[k] = g1[k] + n.lam * n.W1[k]
            for k in range(HO):
                g2[k] = g2[k] + n.lam * n.W2[k]


cdef int _run_cost(const Net *n, double *J, int num_threads) noexcept nogil:
    return _cost_run(n, J, num_threads, False)


cdef int _run_grad(const Net *n, double *g1, double *g2, double *J,
                   int num_threads) noexcept nogil:
    return _grad_run(n, g1, g2, J, num_threads, False)


cdef int _cost_run(const Net *n, double *J, int num_threads, bint interruptible) noexcept nogil:
    cdef int rc = _run_sums(n, COST, J, num_threads, interruptible)
    _regularize(n, J, NULL, NULL)
    return rc


cdef int _grad_run(const Net *n, double *g1, double *g2, double *J,
                   int num_threads, bint interruptible) noexcept nogil:
    # the sums come back packed as [g1 (I*H) | g2 (H*O) | J (O)]
    cdef Py_ssize_t IH = n.nin * n.nhid, HO = n.nhid * n.nout
    cdef Py_ssize_t P = _partial_len(n, GRAD)
    cdef double stack_out[256]
    cdef double *out = &stack_out[0]
    cdef int rc
    if P > 256:
        out = <double *> malloc(P * sizeof(double))
        if out == NULL:
            return NO_MEMORY
    rc = _run_sums(n, GRAD, out, num_threads, interruptible)
    memcpy(g1, out, IH * sizeof(double))
    memcpy(g2, out + IH, HO * sizeof(double))
    memcpy(J, out + IH + HO, n.nout * sizeof(double))
    _regularize(n, J, g1, g2)
    if out != &stack_out[0]:
        free(out)
    return rc


# ---------------------------------------------------------------------------
# Memoryview drivers: release the GIL, parallel over chunks.
# ---------------------------------------------------------------------------

cdef int _outputs(Net *n, double[:, ::1] z2, double[:, ::1] a2, double[:, ::1] z3,
                  double[:, ::1] yhat) except -1:
    """Point n at the outputs after checking every shape against n's sizes
    (ValueError on a mismatch: no caller can make a kernel write out of
    bounds); z2, a2, z3 all None (or yhat None): the call keeps none of them
    (_scratch_len)."""
    if (z2 is None) != (a2 is None) or (z2 is None) != (z3 is None):
        raise ValueError("nndfast: z2, a2 and z3 are all given or all None")
    _shape("z2", z2, n.nex, n.nhid)
    _shape("a2", a2, n.nex, n.nhid)
    _shape("z3", z3, n.nex, n.nout)
    _shape("yhat", yhat, n.nex, n.nout)
    n.z2 = NULL if z2 is None else &z2[0, 0]
    n.a2 = NULL if a2 is None else &a2[0, 0]
    n.z3 = NULL if z3 is None else &z3[0, 0]
    n.yhat = NULL if yhat is None else &yhat[0, 0]
    return 0


cdef int _shape(str name, const double[:, ::1] a, Py_ssize_t rows,
                Py_ssize_t cols) except -1:
    # None passes: the caller decides what None means
    if a is not None and (a.shape[0] != rows or a.shape[1] != cols):
        raise ValueError(f"nndfast: {name} has shape {(a.shape[0], a.shape[1])}, "
                         f"the call needs {(rows, cols)}")
    return 0


cdef int _vector(str name, const double[::1] a, Py_ssize_t size) except -1:
    if a.shape[0] != size:
        raise ValueError(f"nndfast: {name} has length {a.shape[0]}, the call needs {size}")
    return 0


cdef int _inputs(Net *n, const double[:, ::1] X, const double[:, ::1] y,
                 const double[:, ::1] W1, const double[:, ::1] W2) except -1:
    """Sizes and input pointers of n from X (N, I), y (N, O) or None, W1
    (I, H) and W2 (H, O), after checking that they agree and N >= 1."""
    if X.shape[0] < 1:
        raise ValueError("nndfast: the kernels need at least one row of X")
    n.nex, n.nin, n.nhid, n.nout = X.shape[0], X.shape[1], W1.shape[1], W2.shape[1]
    _shape("W1", W1, n.nin, n.nhid)
    _shape("W2", W2, n.nhid, n.nout)
    _shape("y", y, n.nex, n.nout)
    n.X, n.W1, n.W2 = &X[0, 0], &W1[0, 0], &W2[0, 0]
    n.xkeep = NULL
    n.y = NULL if y is None else &y[0, 0]
    n.scale, n.lam = 1.0, 0.0
    return 0


def forward(const double[:, ::1] X,      # IN  (N, I), N >= 1
            const double[:, ::1] W1,     # IN  (I, H)
            const double[:, ::1] W2,     # IN  (H, O)
            double[:, ::1] z2,           # OUT (N, H) or None
            double[:, ::1] a2,           # OUT (N, H) or None
            double[:, ::1] z3,           # OUT (N, O) or None
            double[:, ::1] yhat,         # OUT (N, O) or None
            int num_threads):
    """Fill z2 = X@W1, a2 = f(z2), z3 = a2@W2 and yhat = f(z3); z2, a2, z3
    None together: computed, not kept."""
    cdef Net n
    cdef int rc
    _inputs(&n, X, None, W1, W2)
    _outputs(&n, z2, a2, z3, yhat)
    cdef bint interruptible = _on_main_thread()
    with nogil:
        rc = _run(&n, FORWARD, NULL, num_threads, interruptible)
    if rc == INTERRUPTED:
        _raise_pending()
    check_alloc(rc, "the forward pass's scratch")


def cost(const double[:, ::1] X,      # IN  (N, I), N >= 1
         const double[:, ::1] y,      # IN  (N, O)
         const double[:, ::1] W1,     # IN  (I, H)
         const double[:, ::1] W2,     # IN  (H, O)
         double[:, ::1] z2,           # OUT (N, H) or None
         double[:, ::1] a2,           # OUT (N, H) or None
         double[:, ::1] z3,           # OUT (N, O) or None
         double[:, ::1] yhat,         # OUT (N, O) or None
         double[::1] J,               # OUT (O,)  0.5*sum over rows of (y-yhat)^2
         int num_threads,
         double scale=1.0,            # IN  Part 7: 1/N (1 for Parts 2-6)
         double lam=0.0):             # IN  Part 7: Lambda (0 for Parts 2-6)
    """Forward pass plus the tutorial's cost J, one value per output
    (times scale, plus (lam/2)*(sum W1^2 + sum W2^2)).  z2, a2, z3 None
    together, and yhat None: computed, not kept."""
    cdef Net n
    cdef int rc
    _inputs(&n, X, y, W1, W2)
    n.scale, n.lam = scale, lam
    _outputs(&n, z2, a2, z3, yhat)
    _vector("J", J, n.nout)
    cdef bint interruptible = _on_main_thread()
    with nogil:
        rc = _cost_run(&n, &J[0], num_threads, interruptible)
    if rc == INTERRUPTED:
        _raise_pending()
    check_alloc(rc, "the cost's per-chunk sums")


def cost_and_gradient(const double[:, ::1] X,   # IN  (N, I), N >= 1
                      const double[:, ::1] y,   # IN  (N, O)
                      const double[:, ::1] W1,  # IN  (I, H)
                      const double[:, ::1] W2,  # IN  (H, O)
                      double[:, ::1] z2,        # OUT (N, H) or None
                      double[:, ::1] a2,        # OUT (N, H) or None
                      double[:, ::1] z3,        # OUT (N, O) or None
                      double[:, ::1] yhat,      # OUT (N, O) or None
                      double[:, ::1] dJdW1,     # OUT (I, H)
                      double[:, ::1] dJdW2,     # OUT (H, O)
                      double[::1] J,            # OUT (O,)
                      int num_threads,
                      double scale=1.0,         # IN  Part 7: 1/N (1 for Parts 2-6)
                      double lam=0.0):          # IN  Part 7: Lambda (0 for Parts 2-6)
    """Backprop: the cost J per output and dJ/dW1, dJ/dW2 in one pass,
    regularized as scale and lam say (see Net in _network.pxd).  z2, a2, z3
    None together, and yhat None: computed, not kept."""
    cdef Net n
    cdef int rc
    _inputs(&n, X, y, W1, W2)
    n.scale, n.lam = scale, lam
    _outputs(&n, z2, a2, z3, yhat)
    _vector("J", J, n.nout)
    _shape("dJdW1", dJdW1, n.nin, n.nhid)
    _shape("dJdW2", dJdW2, n.nhid, n.nout)
    cdef bint interruptible = _on_main_thread()
    with nogil:
        rc = _grad_run(&n, &dJdW1[0, 0], &dJdW2[0, 0], &J[0], num_threads, interruptible)
    if rc == INTERRUPTED:
        _raise_pending()
    check_alloc(rc, "the gradient's per-chunk sums")


def team_size(Py_ssize_t n, Py_ssize_t I, Py_ssize_t H, Py_ssize_t O, str op,
              int num_threads):
    """Threads a large call of n rows (I-H-O network) uses when allowed
    num_threads; op is "forward", "cost" or "gradient".  For benchmarks and
    tests: the drivers apply the same rule themselves."""
    cdef Net net
    cdef int code = {"forward": FORWARD, "cost": COST, "gradient": GRAD}[op]
    net.nex, net.nin, net.nhid, net.nout = n, I, H, O
    net.xkeep = NULL
    return _threads_for(&net, code, num_threads)


def segments(Py_ssize_t n, Py_ssize_t I, Py_ssize_t H, Py_ssize_t O, str op):
    """How many segments (each with its own team decision, see _run) a
    large call of n rows runs in; op as for team_size.  For tests."""
    cdef Net net
    cdef int code = {"forward": FORWARD, "cost": COST, "gradient": GRAD}[op]
    net.nex, net.nin, net.nhid, net.nout = n, I, H, O
    net.xkeep = NULL
    cdef Py_ssize_t per = _segment_chunks(&net, code)
    return ((n + CHUNK - 1) // CHUNK + per - 1) // per


# ---------------------------------------------------------------------------
# One network's state: what a call reads (Snapshot) and what it leaves
# behind (Workspace).
#
# network.py reads the network once per call, through its public attributes
# (so subclass properties and class attributes count), into an immutable
# Snapshot; everything in the call works from that snapshot.  The network's
# Workspace owns the buffers its calls write and publishes z2, a2, z3 and
# yHat; nothing here reads or writes the network's __dict__.
# ---------------------------------------------------------------------------

cimport cython
cdef extern from *:
    """
    /* Free-threaded CPython: a workspace is guarded by its own mutex; with
       the GIL, its methods never release the GIL while they touch state. */
    #ifdef Py_GIL_DISABLED
    typedef PyMutex nnd_mutex;
    #define nnd_lock(m) PyMutex_Lock(m)
    #define nnd_unlock(m) PyMutex_Unlock(m)
    #define NND_FREE_THREADED 1
    #else
    typedef struct { char unused; } nnd_mutex;
    #define nnd_lock(m) ((void)(m))
    #define nnd_unlock(m) ((void)(m))
    #define NND_FREE_THREADED 0
    #endif
    """
    ctypedef struct nnd_mutex:
        pass
    void nnd_lock(nnd_mutex *m) noexcept
    void nnd_unlock(nnd_mutex *m) noexcept
    bint NND_FREE_THREADED

FREE_THREADED = bool(NND_FREE_THREADED)


cdef inline double *_p(cnp.ndarray a) noexcept:
    return <double *> cnp.PyArray_DATA(a)


cdef inline bint _ok2(object a, Py_ssize_t rows, Py_ssize_t cols) noexcept:
    # (rows, cols) float64, C-contiguous, aligned, native order; rows < 0: any
    cdef cnp.ndarray arr
    if type(a) is not cnp.ndarray:
        return False
    arr = <cnp.ndarray> a
    if cnp.PyArray_NDIM(arr) != 2 or cnp.PyArray_TYPE(arr) != cnp.NPY_DOUBLE:
        return False
    if not cnp.PyArray_IS_C_CONTIGUOUS(arr) or not cnp.PyArray_ISBEHAVED_RO(arr):
        return False
    if cnp.PyArray_DIM(arr, 1) != cols:
        return False
    return rows < 0 or cnp.PyArray_DIM(arr, 0) == rows


cdef inline cnp.ndarray _empty2(Py_ssize_t r, Py_ssize_t c):
    cdef cnp.npy_intp dims[2]
    dims[0] = r
    dims[1] = c
    return cnp.PyArray_EMPTY(2, dims, cnp.NPY_DOUBLE, 0)


cdef inline cnp.ndarray _empty1(Py_ssize_t n):
    cdef cnp.npy_intp dims[1]
    dims[0] = n
    return cnp.PyArray_EMPTY(1, dims, cnp.NPY_DOUBLE, 0)


cdef extern from "Python.h":
    # never fails for an exact int: an out-of-range value sets *overflow
    long PyLong_AsLongAndOverflow(object v, int *overflow) noexcept


cdef inline Py_ssize_t _size(object v) noexcept:
    # A layer size taken as read: an exact int in 1 .. 2^31 - 1, else -1
    # (network.py then validates it with a message).
    cdef int overflow = 0
    cdef long x
    if type(v) is not int:
        return -1
    x = PyLong_AsLongAndOverflow(v, &overflow)
    if overflow or x < 1 or x > 0x7fffffff:
        return -1
    return <Py_ssize_t> x


cdef inline bint _lambda_ok(object Lambda) noexcept:
    cdef double lam
    if Lambda is None:
        return True
    if type(Lambda) is not float:
        return False
    lam = <double> Lambda
    return 0.0 <= lam <= 1.7976931348623157e308        # not NaN, inf or negative


@cython.final
@cython.freelist(16)
cdef class Snapshot:
    """One call's read of a network: layer sizes I, H, O, weights W1 (I, H)
    and W2 (H, O) as C-contiguous float64 arrays, and Lambda (None or a
    finite float >= 0), checked to agree.  Read-only."""
    cdef readonly Py_ssize_t ni, nh, no      # I, H, O (I is complex.h's macro in C)
    cdef readonly cnp.ndarray W1, W2
    cdef readonly object Lambda

    def __init__(self, Py_ssize_t I, Py_ssize_t H, Py_ssize_t O, W1, W2, Lambda):
        # network.py has checked these with messages; this re-check is what
        # makes the kernels' bounds safe whatever a caller passes
        if I < 1 or H < 1 or O < 1:
            raise ValueError(f"layer sizes must be >= 1, got {(I, H, O)}")
        if not (_ok2(W1, I, H) and _ok2(W2, H, O)):
            raise ValueError(f"W1 and W2 must be C-contiguous float64 arrays of shapes "
                             f"{(I, H)} and {(H, O)}")
        if not _lambda_ok(Lambda):
            raise ValueError(f"Lambda must be None or a finite float >= 0, got {Lambda!r}")
        self.ni, self.nh, self.no = I, H, O
        self.W1, self.W2, self.Lambda = W1, W2, Lambda

    @property
    def I(self):
        """inputLayerSize"""
        return self.ni

    @property
    def H(self):
        """hiddenLayerSize"""
        return self.nh

    @property
    def O(self):
        """outputLayerSize"""
        return self.no

    def __reduce__(self):
        return (Snapshot, (self.ni, self.nh, self.no, self.W1, self.W2, self.Lambda))

    def __repr__(self):
        return (f"Snapshot(I={self.ni}, H={self.nh}, O={self.no}, Lambda={self.Lambda!r})")


cdef extern from *:
    """
    /* NN.name as PyObject_GenericGetAttr would give it when that is an
       instance-dict hit: the class defines no data descriptor under name and
       the instance dict holds it.  A new reference, or NULL (no error set)
       when that rule does not apply and the caller must getattr.  Saves the
       generic machinery's overhead on the tutorial's sub-microsecond calls.
       Free-threaded builds always answer NULL: _PyType_Lookup's borrowed
       result may be freed by a concurrent class change there. */
    static PyObject *nnd_dict_attr(PyObject *obj, PyObject *dict, PyObject *name) {
    #ifdef Py_GIL_DISABLED
        (void)obj; (void)dict; (void)name;
        return NULL;
    #else
        PyObject *cls_attr, *v;
        if (dict == NULL || Py_TYPE(obj)->tp_getattro != PyObject_GenericGetAttr)
            return NULL;
        cls_attr = _PyType_Lookup(Py_TYPE(obj), name);
        if (cls_attr != NULL && Py_TYPE(cls_attr)->tp_descr_set != NULL)
            return NULL;
        v = PyDict_GetItemWithError(dict, name);
        if (v == NULL) {
            PyErr_Clear();
            return NULL;
        }
        Py_INCREF(v);
        return v;
    #endif
    }
    /* The object the class (MRO, method cache) holds under name, borrowed;
       compared by identity only, never dereferenced.  NULL if none, and
       always NULL (the caller then uses getattr) on free-threaded builds. */
    static PyObject *nnd_class_attr(PyObject *obj, PyObject *name) {
    #ifdef Py_GIL_DISABLED
        (void)obj; (void)name;
        return NULL;
    #else
        return _PyType_Lookup(Py_TYPE(obj), name);
    #endif
    }
    """
    PyObject *nnd_dict_attr(object obj, PyObject *dict, object name) noexcept
    PyObject *nnd_class_attr(object obj, object name) noexcept


cdef extern from "Python.h":
    # a new reference to obj's instance dict; NULL (with an error) if it has none
    PyObject *PyObject_GenericGetDict(object obj, void *context)


# The stock Neural_Network's W1, W2 and Lambda properties (set_stock): their
# getters are attrgetter("_W1") and so on, which _read follows directly.
cdef object _W1_PROPERTY = None
cdef object _W2_PROPERTY = None
cdef object _LAMBDA_PROPERTY = None


cdef object _NO_DEFAULT = object()


cdef inline object _owned(PyObject *p):
    # p, a new reference (not NULL), as an object that owns it
    cdef object r = <object> p      # the cast takes a reference of its own
    Py_DECREF(r)
    return r


cdef inline object _attr(object NN, PyObject *d, str name):
    # getattr(NN, name), through the instance dict when that is what it does
    cdef PyObject *v = nnd_dict_attr(NN, d, name)
    return getattr(NN, name) if v == NULL else _owned(v)


cdef inline object _prop(object NN, PyObject *d, str name, object stock, str field,
                         object default):
    # getattr(NN, name[, default]) where the stock class's property under
    # name is attrgetter(field): field's instance-dict value when the class
    # has that property and the dict rule applies, else the public getattr
    cdef PyObject *v
    if stock is not None and nnd_class_attr(NN, name) == <PyObject *> stock:
        v = nnd_dict_attr(NN, d, field)
        if v != NULL:
            return _owned(v)
    if default is _NO_DEFAULT:
        return getattr(NN, name)
    return getattr(NN, name, default)


cdef inline object _dict_of(object NN):
    # NN's instance dict, or None if it has none
    cdef PyObject *p = PyObject_GenericGetDict(NN, NULL)
    if p == NULL:
        PyErr_Clear()
        return None
    return _owned(p)


def read(NN):
    """Read NN's inputLayerSize, hiddenLayerSize, outputLayerSize, W1, W2
    and Lambda (getattr(NN, "Lambda", None)), once each, through its public
    attributes.  Returns a Snapshot when the values are already what the
    kernels take (exact ints, C-contiguous float64 weights of matching
    shapes, Lambda None or a float), else the tuple of the six raw values
    for network.py to validate and convert."""
    return _read(NN, _dict_of(NN))


cdef object _read(object NN, object d):
    # read(NN), given NN's instance dict d (None: it has none).  Each value
    # is what getattr gives; where that is a plain instance-dict hit, or the
    # stock property over one, it is looked up directly.
    cdef PyObject *pd = <PyObject *> d if d is not None else NULL
    I = _attr(NN, pd, "inputLayerSize")
    H = _attr(NN, pd, "hiddenLayerSize")
    O = _attr(NN, pd, "outputLayerSize")
    W1 = _prop(NN, pd, "W1", _W1_PROPERTY, "_W1", _NO_DEFAULT)
    W2 = _prop(NN, pd, "W2", _W2_PROPERTY, "_W2", _NO_DEFAULT)
    Lambda = _prop(NN, pd, "Lambda", _LAMBDA_PROPERTY, "_Lambda", None)
    return _snap(I, H, O, W1, W2, Lambda)


cdef object _snap(object I, object H, object O, object W1, object W2, object Lambda):
    cdef Py_ssize_t i = _size(I), h = _size(H), o = _size(O)
    cdef Snapshot s
    if i < 1 or h < 1 or o < 1 or not _lambda_ok(Lambda):
        return (I, H, O, W1, W2, Lambda)
    if not (_ok2(W1, i, h) and _ok2(W2, h, o)):
        return (I, H, O, W1, W2, Lambda)
    s = Snapshot.__new__(Snapshot)
    s.ni, s.nh, s.no = i, h, o
    s.W1, s.W2, s.Lambda = <cnp.ndarray> W1, <cnp.ndarray> W2, Lambda
    return s


# -- which tutorial methods a network overrides, looked up per call ------------

cdef dict _STOCK = {}
# The stock methods' tutorial bodies call these through self: a stock method
# runs the kernels only when none of them is overridden.
cdef tuple _FORWARD_USES = None
cdef tuple _COST_USES = None
cdef tuple _GRAD_USES = None


def set_stock(dict stock, tuple forward_uses, tuple cost_uses, tuple gradient_uses,
              tuple properties):
    """Register, once, from network.py: the stock Neural_Network methods
    (name -> function), the methods that forward's, costFunction's and
    costFunctionPrime's tutorial bodies call through self, and the stock
    (W1, W2, Lambda) properties, whose getters must be attrgetter("_W1"),
    attrgetter("_W2") and attrgetter("_Lambda")."""
    global _FORWARD_USES, _COST_USES, _GRAD_USES
    global _W1_PROPERTY, _W2_PROPERTY, _LAMBDA_PROPERTY
    _STOCK.update(stock)
    _FORWARD_USES, _COST_USES, _GRAD_USES = forward_uses, cost_uses, gradient_uses
    _W1_PROPERTY, _W2_PROPERTY, _LAMBDA_PROPERTY = properties


cdef bint _overrides(object NN, tuple names) except -1:
    return _overrides_in(NN, _dict_of(NN), names)


cdef bint _overrides_in(object NN, object d, tuple names) except -1:
    # The instance dict d (None: NN has none), then the class as it is now:
    # patches count, and nothing is cached, so no class is kept alive.
    cdef PyObject *found
    for name in names:
        if d is not None and name in <dict> d:
            return True
        stock = _STOCK[name]
        found = nnd_class_attr(NN, name)
        if found == NULL:
            if getattr(type(NN), name, None) is not stock:
                return True
        elif found != <PyObject *> stock:
            return True
    return False


def overrides(NN, tuple names):
    """True if NN's instance dict or its class (looked up now) has a method
    of ``names`` that is not the stock Neural_Network's."""
    return _overrides(NN, names)


# -- the per-call state owner -----------------------------------------------------

# what the fast entry returns when the network needs the tutorial's body
cdef object _GENERIC = object()


@cython.final
@cython.freelist(8)
cdef class Declined:
    """A fast entry's answer when the call is not tiny and ready: ``read``
    is its one read of the network (a Snapshot, or the raw tuple from read)."""
    cdef readonly object read

    def __cinit__(self, read):
        self.read = read


@cython.final
cdef class Lazy:
    """z2, a2, z3 of a large call, computed on first access: the call keeps
    its own copy of X and of the weights, so the values are those the call
    would have stored, bit for bit, whatever changed since."""
    cdef cnp.ndarray X, W1, W2
    cdef object arrays          # (z2, a2, z3) once computed

    def compute(self):
        """(z2 (n, H), a2 (n, H), z3 (n, O)), computed once."""
        cdef Py_ssize_t n = cnp.PyArray_DIM(self.X, 0)
        cdef Py_ssize_t H = cnp.PyArray_DIM(self.W1, 1), O = cnp.PyArray_DIM(self.W2, 1)
        cdef cnp.ndarray z2, a2, z3
        cdef object done = self.arrays
        if done is not None:
            return done
        z2, a2, z3 = _empty2(n, H), _empty2(n, H), _empty2(n, O)
        if n:
            from nndfast._threads import resolve_num_threads
            forward(self.X, self.W1, self.W2, z2, a2, z3, None, resolve_num_threads(None))
        # two threads may both compute (the same bits); the first stored wins,
        # so every reader gets the same arrays
        if self.arrays is None:
            self.arrays = (z2, a2, z3)
        return self.arrays


cdef inline bint _fits(object s, Py_ssize_t N, Py_ssize_t H, Py_ssize_t O) noexcept:
    # s is a scratch tuple for N rows of H and O
    cdef tuple t
    if type(s) is not tuple or len(<tuple> s) != 4:
        return False
    t = <tuple> s
    return _ok2(t[0], N, H) and _ok2(t[1], N, H) and _ok2(t[2], N, O) and _ok2(t[3], N, O)


@cython.final
cdef class Workspace:
    """The per-call state of one network: the buffers its calls write and
    the z2, a2, z3 and yHat they publish.

    Each published output (a slot) is None (not set yet), an ndarray (the
    value itself), the tiny calls' scratch tuple (the value is a copy of
    its entry, made on first access, so a loop of tiny calls allocates one
    array per call), or a Lazy (a large call's z2, a2, z3).  A call
    publishes all its slots at once, after it has succeeded: readers see
    the outputs of one completed call, and an error or Ctrl-C leaves those
    of the last completed call.
    """
    cdef object z2, a2, z3, yhat      # the slots
    cdef tuple scratch                # the tiny calls' buffers
    cdef nnd_mutex lock

    # -- the published outputs --------------------------------------------------

    cdef object _value(self, int k):
        cdef object v = (self.z2, self.a2, self.z3, self.yhat)[k]
        if type(v) is tuple:
            v = (<cnp.ndarray> (<tuple> v)[k]).copy()
            self._set(k, v)
        elif type(v) is Lazy:
            # Free-threaded: under the lock, so one thread computes; with the
            # GIL, forward() releases it and two readers may both compute
            # (the same bits): Lazy keeps the first arrays stored.
            lazy = v
            v = (<Lazy> lazy).compute()[k]
            if (self.z2, self.a2, self.z3)[k] is lazy:
                self._set(k, v)
        return v

    cdef void _set(self, int k, object v):
        if k == 0:
            self.z2 = v
        elif k == 1:
            self.a2 = v
        elif k == 2:
            self.z3 = v
        else:
            self.yhat = v

    def get(self, int k):
        """Output k (0 z2, 1 a2, 2 z3, 3 yHat) of the last call that set it,
        or None."""
        if not 0 <= k < 4:
            raise IndexError(k)
        nnd_lock(&self.lock)
        try:
            return self._value(k)
        finally:
            nnd_unlock(&self.lock)

    def set(self, int k, value):
        """Publish ``value`` (an array, or None to unset) as output k: the
        tutorial's bodies assign self.z2 and the like."""
        if not 0 <= k < 4:
            raise IndexError(k)
        nnd_lock(&self.lock)
        self._set(k, value)
        nnd_unlock(&self.lock)

    def outputs(self):
        """[z2, a2, z3, yHat] as arrays (None where unset), for pickling."""
        nnd_lock(&self.lock)
        try:
            return [self._value(k) for k in range(4)]
        finally:
            nnd_unlock(&self.lock)

    def copy(self):
        """A new Workspace that publishes the same outputs (the same arrays,
        or copies of what is in this one's scratch) and shares no buffer."""
        cdef Workspace other = Workspace()
        cdef int k
        nnd_lock(&self.lock)
        try:
            for k in range(4):
                v = (self.z2, self.a2, self.z3, self.yhat)[k]
                if type(v) is tuple:
                    v = self._value(k)
                other._set(k, v)
        finally:
            nnd_unlock(&self.lock)
        return other

    # -- tiny calls: the tutorial's 3x2 data and the like ------------------------

    cdef tuple _claim(self, Py_ssize_t N, Py_ssize_t H, Py_ssize_t O, bint sets_yhat):
        """Scratch for a tiny call, under the lock.  Reuses the last one when it
        fits, after copying out a yHat that this call will not replace."""
        cdef tuple s = self.scratch
        if _fits(s, N, H, O):
            if not sets_yhat and self.yhat is s:
                self.yhat = (<cnp.ndarray> s[3]).copy()
            return s
        s = (_empty2(N, H), _empty2(N, H), _empty2(N, O), _empty2(N, O))
        self.scratch = s
        return s

    cdef object _tiny(self, object NN, object X, object y, tuple uses, int op):
        """The fast entry of network_forward, network_costFunction and
        network_costFunctionPrime (op FORWARD, COST, GRAD_ONLY; uses: the
        methods its tutorial body calls): the result when NN needs no
        tutorial body and X, y are tiny, ready arrays; else _GENERIC, or a
        Declined that carries the one read."""
        cdef object r
        cdef Snapshot snap
        cdef Py_ssize_t N
        cdef object d = _dict_of(NN)
        if _overrides_in(NN, d, uses):
            return _GENERIC
        r = _read(NN, d)
        if type(r) is not Snapshot:
            return Declined(r)
        snap = <Snapshot> r
        if not _ok2(X, -1, snap.ni):
            return Declined(snap)
        N = cnp.PyArray_DIM(<cnp.ndarray> X, 0)
        if N < 1 or N * snap.nh * (snap.ni + snap.no) >= PARALLEL_MIN_WORK:
            return Declined(snap)
        if y is not None and not _ok2(y, N, snap.no):
            return Declined(snap)
        return self._tiny_from(snap, X, y, op)

    # -- any call, from a validated snapshot ------------------------------------

    def run(self, Snapshot snap, X, y, str op, int num_threads):
        """op ("forward", "cost" or "gradient") on X (n, I) and y (n, O) or
        None, both C-contiguous float64, with snap's weights; publishes the
        outputs and returns yHat (n, O), J (O,) or (J, dJdW1, dJdW2).

        Large calls keep z2, a2 and z3 lazily (Lazy): they write no n x H
        array unless one is read.  Their yHat is kept as computed."""
        cdef int code = {"forward": FORWARD, "cost": COST, "gradient": GRAD}[op]
        cdef Py_ssize_t N
        cdef Net n
        cdef cnp.ndarray J = None, g1 = None, g2 = None, yhat
        cdef Lazy lazy
        cdef double *pJ
        cdef double *p1
        cdef double *p2
        cdef bint interruptible
        cdef int rc = 0
        if not _ok2(X, -1, snap.ni):
            raise ValueError(f"X must be a C-contiguous float64 array with {snap.ni} columns")
        N = cnp.PyArray_DIM(<cnp.ndarray> X, 0)
        if code != FORWARD and not _ok2(y, N, snap.no):
            raise ValueError(f"y must be a C-contiguous float64 array of shape {(N, snap.no)}")
        if code != FORWARD and snap.Lambda is not None and N == 0:
            raise ValueError("with Lambda set the cost is a mean over the examples "
                             "(Part 7), so X and y need at least one row")
        if 1 <= N and N * snap.nh * (snap.ni + snap.no) < PARALLEL_MIN_WORK:
            return self._tiny_from(snap, X, y, code)
        yhat = _empty2(N, snap.no)
        if code != FORWARD:
            J = np.zeros(snap.no)
        if code == GRAD:
            g1, g2 = np.zeros((snap.ni, snap.nh)), np.zeros((snap.nh, snap.no))
        lazy = Lazy.__new__(Lazy)
        # the call's own X, as the kernels read it (Net.xkeep): the caller's
        # array may change before z2 is read, or during the call
        lazy.X = _empty2(N, snap.ni) if N else <cnp.ndarray> X
        lazy.W1, lazy.W2 = snap.W1.copy(), snap.W2.copy()
        if N:
            _net(&n, snap, X, y, N)
            n.xkeep = _p(lazy.X)
            n.W1, n.W2 = _p(lazy.W1), _p(lazy.W2)
            n.z2 = n.a2 = n.z3 = NULL
            n.yhat = _p(yhat)
            pJ = _p(J) if J is not None else NULL
            p1 = _p(g1) if g1 is not None else NULL
            p2 = _p(g2) if g2 is not None else NULL
            interruptible = _on_main_thread()
            with nogil:
                if code == FORWARD:
                    rc = _run(&n, FORWARD, NULL, num_threads, interruptible)
                elif code == COST:
                    rc = _cost_run(&n, pJ, num_threads, interruptible)
                else:
                    rc = _grad_run(&n, p1, p2, pJ, num_threads, interruptible)
            if rc == INTERRUPTED:
                # nothing is published: the outputs stay the last completed call's
                _raise_pending()
            check_alloc(rc, "a call's per-chunk scratch")
        nnd_lock(&self.lock)
        self.z2 = self.a2 = self.z3 = lazy
        if code != FORWARD:
            self.yhat = yhat
        nnd_unlock(&self.lock)
        if code == FORWARD:
            return yhat
        if code == COST:
            return J
        return J, g1, g2

    cdef object _tiny_from(self, Snapshot snap, object X, object y, int op):
        cdef Net n
        cdef tuple s
        cdef Py_ssize_t N = cnp.PyArray_DIM(<cnp.ndarray> X, 0)
        cdef cnp.ndarray J, g1, g2, yhat
        cdef object r
        cdef int rc = 0
        cdef double J_stack[8]
        cdef double *pJ
        _net(&n, snap, X, y, N)
        nnd_lock(&self.lock)
        try:
            s = self._claim(N, snap.nh, snap.no, op != FORWARD)
            n.z2, n.a2, n.z3, n.yhat = _p(s[0]), _p(s[1]), _p(s[2]), _p(s[3])
            if op == FORWARD:
                yhat = _empty2(N, snap.no)
                n.yhat = _p(yhat)
                rc = _run_forward(&n, 1)
                r = yhat
            elif op == COST:
                J = _empty1(snap.no)
                rc = _run_cost(&n, _p(J), 1)
                r = J
            else:
                g1, g2 = _empty2(snap.ni, snap.nh), _empty2(snap.nh, snap.no)
                if op == GRAD:
                    J = _empty1(snap.no)
                    pJ = _p(J)
                elif snap.no <= 8:
                    # costFunctionPrime drops J: no array for it
                    pJ = &J_stack[0]
                else:
                    J = _empty1(snap.no)
                    pJ = _p(J)
                rc = _run_grad(&n, _p(g1), _p(g2), pJ, 1)
                r = (J, g1, g2) if op == GRAD else (g1, g2)
            # before publishing anything: a failed call's outputs are not written
            check_alloc(rc, "a tiny call's scratch")
            self.z2 = self.a2 = self.z3 = s
            if op != FORWARD:
                self.yhat = s
        finally:
            nnd_unlock(&self.lock)
        return r


cdef inline void _net(Net *n, Snapshot snap, object X, object y, Py_ssize_t N):
    # X (N, I) and y (N, O) or None already checked against snap
    n.nex, n.nin, n.nhid, n.nout = N, snap.ni, snap.nh, snap.no
    n.X, n.W1, n.W2 = _p(<cnp.ndarray> X), _p(snap.W1), _p(snap.W2)
    n.xkeep = NULL
    n.y = _p(<cnp.ndarray> y) if y is not None else NULL
    n.z2 = n.a2 = n.z3 = n.yhat = NULL
    if snap.Lambda is None:
        n.scale, n.lam = 1.0, 0.0
    else:
        n.scale, n.lam = 1.0 / N if N else 1.0, <double> snap.Lambda


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


# -- the drop-in's forward, costFunction and costFunctionPrime --------------------
# network.Neural_Network binds these as its methods.  Compiled (a Cython
# function, which binds as a method does) rather than written in network.py:
# the tutorial's 3x2 calls take about half a microsecond, and a Python
# method's frame around the fast entry was 15% of that.  Each runs the
# Workspace's fast entry; a call it declines (large or not ready data: the
# network's one read goes along) runs network.py's _general, and a network
# whose callees are overridden runs the tutorial's body (_*_generic).


@cython.binding(True)
def network_forward(self, X):
    """Propagate X through the network.

    X : (n, inputLayerSize) array.  Returns yHat, a new
    (n, outputLayerSize) float64 array, and caches z2, a2, z3.
    """
    r = (<Workspace?> self._ws)._tiny(self, X, None, _FORWARD_USES, FORWARD)
    if type(r) is Declined:
        return self._general("forward", X, None, (<Declined> r).read)
    if r is _GENERIC:
        return self._forward_generic(X)
    return r


@cython.binding(True)
def network_costFunction(self, X, y):
    """J = 0.5*sum((y-yHat)**2) over examples (Parts 2-6, Lambda None), or
    Part 7's 0.5*sum((y-yHat)**2)/n + (Lambda/2)*(sum(W1**2) + sum(W2**2))
    with n = X.shape[0] (Lambda a number, 0 included).

    X : (n, inputLayerSize), y : (n, outputLayerSize).  Returns a new
    float64 array of shape (outputLayerSize,) (the sums over rows only are
    per output); caches yHat, z2, a2, z3.  With several outputs and
    Lambda, each entry carries 1/outputLayerSize of the penalty, so that
    sum(J) is the cost whose gradient costFunctionPrime gives.
    """
    r = (<Workspace?> self._ws)._tiny(self, X, y, _COST_USES, COST)
    if type(r) is Declined:
        return self._general("cost", X, y, (<Declined> r).read)
    if r is _GENERIC:
        return self._costFunction_generic(X, y)
    return r


@cython.binding(True)
def network_costFunctionPrime(self, X, y):
    """Backpropagation: returns (dJdW1, dJdW2), shaped like (W1, W2).

    dJdW1 = X.T @ delta2 and dJdW2 = a2.T @ delta3 (Lambda None), or Part
    7's X.T @ delta2 / n + Lambda*W1 and a2.T @ delta3 / n + Lambda*W2.
    X : (n, inputLayerSize), y : (n, outputLayerSize).  Caches yHat,
    z2, a2, z3 as the tutorial does.
    """
    r = (<Workspace?> self._ws)._tiny(self, X, y, _GRAD_USES, GRAD_ONLY)
    if type(r) is Declined:
        _, dJdW1, dJdW2 = self._general("gradient", X, y, (<Declined> r).read)
        return dJdW1, dJdW2
    if r is _GENERIC:
        return self._costFunctionPrime_generic(X, y)
    return r
