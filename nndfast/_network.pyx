# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Kernels for one network: forward pass, cost, and backprop gradient.

Design (shared by every kernel module in nndfast):
- The Python layer (network.py) validates shapes and dtypes, makes arrays
  C-contiguous float64, allocates every output and picks the thread count.
  Kernels trust their input and never raise (except MemoryError, and
  whatever a signal handler raises during a long call: KeyboardInterrupt).
- Examples are processed in fixed chunks of CHUNK rows.  Sums over examples
  (cost, gradient) are formed per chunk and then added chunk by chunk in index
  order, so results are bitwise identical for any thread count.
- Two entry points per operation over one pointer-based core:
  * `forward`, `cost`, `cost_and_gradient` take typed memoryviews, release
    the GIL and use a prange over chunks: the path for real work.
  * `*_tiny` take the network's __dict__ and raw ndarrays, check them at C
    level and keep the GIL.  Acquiring a memoryview costs about 0.3 us per
    argument, which on the tutorial's 3x2 data is ten times the arithmetic
    and would make the drop-in slower than numpy; these skip it.
"""
cimport numpy as cnp
from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

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
    # (multiply-adds and sigmoids), about 1 ms of one thread's time.
    TEAM_MIN_WORK_OPS = 2000000
    # Long calls decide their team again every SEGMENT_WORK_OPS (~10 ms of
    # one thread), see _run.
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
    # From this many hidden units forward and cost work row by row
    # (nnd_forward_rows) instead of column by column.
    WIDE_H = 8


# struct Net (pointers and sizes of one call) is declared in _network.pxd.


cdef extern from "_network.h" nogil:
    Py_ssize_t NND_FORWARD_SCRATCH(Py_ssize_t n, Py_ssize_t H, Py_ssize_t O)
    Py_ssize_t NND_GRAD_SCRATCH(Py_ssize_t n, Py_ssize_t H, Py_ssize_t O)
    void nnd_forward_chunk(const double *X, const double *W1, const double *W2,
                           double *z2, double *a2, double *z3, double *yhat,
                           int64_t n, int64_t I, int64_t H, int64_t O,
                           double *t, double *sp) noexcept
    void nnd_forward_rows(const double *X, const double *W1, const double *W2,
                          double *z2, double *a2, double *z3, double *yhat,
                          int64_t n, int64_t I, int64_t H, int64_t O,
                          double *t) noexcept
    void nnd_forward_flat(const double *X, const double *W1, const double *W2,
                          double *z2, double *a2, double *z3, double *yhat,
                          int64_t n, int64_t I, int64_t H, int64_t O,
                          double *sp) noexcept
    void nnd_grad_flat(const double *X, const double *y, const double *W2,
                       const double *a2, const double *yhat, int64_t n, int64_t I,
                       int64_t H, int64_t O, double *t, double *g1, double *g2,
                       double *J) noexcept
    int NND_FLAT_MAX_H
    void nnd_cost_chunk(const double *y, const double *yhat, int64_t n, int64_t O,
                        double *J) noexcept
    void nnd_grad_chunk(const double *X, const double *y, const double *W2,
                        int64_t n, int64_t I, int64_t H, int64_t O, double *t,
                        double *g1, double *g2, double *J) noexcept

cdef enum:
    FORWARD = 0
    COST = 1
    GRAD = 2


cdef inline Py_ssize_t _kernel_scratch_len(const Net *n, int op) noexcept nogil:
    cdef Py_ssize_t rows = min(n.nex, <Py_ssize_t> CHUNK)
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
    cdef double *sums = NULL
    cdef double *out = NULL
    cdef double *z2
    cdef double *a2
    cdef double *z3
    cdef double *yhat
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
    if op != FORWARD:     # partial is NULL for FORWARD
        sums = partial + c * _partial_len(n, op)
    if 1 <= H <= NND_FLAT_MAX_H:
        # narrow layers: straight into the row-major outputs, every op
        nnd_forward_flat(n.X + e0 * I, n.W1, n.W2, z2, a2,
                         z3, yhat, rows, I, H, O,
                         t if op == GRAD else NULL)
        if op == GRAD:
            nnd_grad_flat(n.X + e0 * I, n.y + e0 * O, n.W2, a2,
                          yhat, rows, I, H, O, t,
                          sums, sums + I * H, sums + I * H + H * O)
    elif op != GRAD and H >= WIDE_H:
        nnd_forward_rows(n.X + e0 * I, n.W1, n.W2, z2, a2,
                         z3, yhat, rows, I, H, O, t)
    else:
        # backprop of wider layers works on nnd_forward_chunk's transposed
        # z2/a2 and primes
        nnd_forward_chunk(n.X + e0 * I, n.W1, n.W2, z2, a2,
                          z3, yhat, rows, I, H, O, t,
                          t + 3 * (H + O) * rows if op == GRAD else NULL)
        if op == GRAD:
            nnd_grad_chunk(n.X + e0 * I, n.y + e0 * O, n.W2, rows, I, H, O, t,
                           sums, sums + I * H, sums + I * H + H * O)
    if op == COST:
        nnd_cost_chunk(n.y + e0 * O, yhat, rows, O, sums)


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
    thread that is descheduled then holds the whole call for a time slice
    (~1-3 ms), which is longer than a small call's total work.  One thread
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
    own team decision (_run_segment): numpy's BLAS worker spins for ~0.1 s
    after numpy's last call and then sleeps, so a 250 ms call that had to
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
    cdef double stack_t[512]
    cdef double *t
    # the process's team policy (_openmp_policy.h): one thread in a forked
    # child, while teams are backed off, or beyond the idle cores (a thread
    # sharing a core with a runnable one stalls the team)
    nt = team_threads(NETWORK_TEAMS, nt)
    if nt == 1:
        t = &stack_t[0] if m <= 512 else <double *> malloc(m * sizeof(double))
        if t == NULL:
            return NO_MEMORY
        for c in range(c0, c1):
            _chunk(n, op, c, t, partial)
            if _check_due(checked) and _signalled():
                interrupted = 1
                break
        if t != &stack_t[0]:
            free(t)
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
        t = <double *> malloc(m * sizeof(double))
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
            free(t)
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
    """Point n at the outputs; z2, a2, z3 all None (or yhat None): the call
    keeps none of them (_scratch_len)."""
    if (z2 is None) != (a2 is None) or (z2 is None) != (z3 is None):
        raise ValueError("nndfast: z2, a2 and z3 are all given or all None")
    n.z2 = NULL if z2 is None else &z2[0, 0]
    n.a2 = NULL if a2 is None else &a2[0, 0]
    n.z3 = NULL if z3 is None else &z3[0, 0]
    n.yhat = NULL if yhat is None else &yhat[0, 0]
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
    n.nex, n.nin, n.nhid, n.nout = X.shape[0], X.shape[1], W1.shape[1], W2.shape[1]
    n.scale, n.lam = 1.0, 0.0
    n.X, n.W1, n.W2 = &X[0, 0], &W1[0, 0], &W2[0, 0]
    _outputs(&n, z2, a2, z3, yhat)
    cdef bint interruptible = _on_main_thread()
    with nogil:
        rc = _run(&n, FORWARD, NULL, num_threads, interruptible)
    if rc == INTERRUPTED:
        _raise_pending()
    if rc:
        raise MemoryError("nndfast: could not allocate the forward pass's scratch")


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
    n.nex, n.nin, n.nhid, n.nout = X.shape[0], X.shape[1], W1.shape[1], W2.shape[1]
    n.scale, n.lam = scale, lam
    n.X, n.y, n.W1, n.W2 = &X[0, 0], &y[0, 0], &W1[0, 0], &W2[0, 0]
    _outputs(&n, z2, a2, z3, yhat)
    cdef bint interruptible = _on_main_thread()
    with nogil:
        rc = _cost_run(&n, &J[0], num_threads, interruptible)
    if rc == INTERRUPTED:
        _raise_pending()
    if rc:
        raise MemoryError("nndfast: could not allocate the cost's per-chunk sums")


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
    n.nex, n.nin, n.nhid, n.nout = X.shape[0], X.shape[1], W1.shape[1], W2.shape[1]
    n.scale, n.lam = scale, lam
    n.X, n.y, n.W1, n.W2 = &X[0, 0], &y[0, 0], &W1[0, 0], &W2[0, 0]
    _outputs(&n, z2, a2, z3, yhat)
    cdef bint interruptible = _on_main_thread()
    with nogil:
        rc = _grad_run(&n, &dJdW1[0, 0], &dJdW2[0, 0], &J[0], num_threads, interruptible)
    if rc == INTERRUPTED:
        _raise_pending()
    if rc:
        raise MemoryError("nndfast: could not allocate the gradient's per-chunk sums")


def team_size(Py_ssize_t n, Py_ssize_t I, Py_ssize_t H, Py_ssize_t O, str op,
              int num_threads):
    """Threads a large call of n rows (I-H-O network) uses when allowed
    num_threads; op is "forward", "cost" or "gradient".  For benchmarks and
    tests: the drivers apply the same rule themselves."""
    cdef Net net
    cdef int code = {"forward": FORWARD, "cost": COST, "gradient": GRAD}[op]
    net.nex, net.nin, net.nhid, net.nout = n, I, H, O
    return _threads_for(&net, code, num_threads)


def segments(Py_ssize_t n, Py_ssize_t I, Py_ssize_t H, Py_ssize_t O, str op):
    """How many segments (each with its own team decision, see _run) a
    large call of n rows runs in; op as for team_size.  For tests."""
    cdef Net net
    cdef int code = {"forward": FORWARD, "cost": COST, "gradient": GRAD}[op]
    net.nex, net.nin, net.nhid, net.nout = n, I, H, O
    cdef Py_ssize_t per = _segment_chunks(&net, code)
    return ((n + CHUNK - 1) // CHUNK + per - 1) // per


# ---------------------------------------------------------------------------
# Output buffers of large calls (network.py's _large_outputs / _publish_large).
#
# A large call writes n*(2H + 2O) doubles; into fresh pages that costs far
# more than the arithmetic (the kernel would wait on page faults and cache
# misses), so a network reuses the arrays of its previous large call when
# nothing outside it can see them.  The test is numpy's own for eliding
# temporaries: the reference count is exactly the network's own references
# (a user's variable, a view, a memoryview or a container would each add
# one), the array owns its data, is nobody's view, is writeable and has the
# shape and dtype the call needs.
# ---------------------------------------------------------------------------

from cpython.object cimport PyObject
from cpython.dict cimport PyDict_GetItem, PyDict_DelItem
from cpython.list cimport PyList_GET_ITEM

cdef extern from *:
    """
    /* Free-threaded CPython has no stable refcount to test: never reuse. */
    #ifdef Py_GIL_DISABLED
    #define NND_REUSE_OUTPUTS 0
    #else
    #define NND_REUSE_OUTPUTS 1
    #endif
    #define nnd_refcnt(o) Py_REFCNT(o)
    """
    bint NND_REUSE_OUTPUTS
    Py_ssize_t nnd_refcnt(PyObject *o)

cdef tuple _OUTPUT_NAMES = ("z2", "a2", "z3", "yHat")


cdef bint _private_2d(PyObject *p, Py_ssize_t refs, Py_ssize_t rows,
                      Py_ssize_t cols) noexcept:
    """True if p has exactly `refs` references and is a writeable, aligned,
    C-contiguous float64 (rows, cols) ndarray that owns its data."""
    cdef cnp.ndarray arr
    # the count first: the casts below add a reference of their own
    if nnd_refcnt(p) != refs or type(<object> p) is not cnp.ndarray:
        return False
    arr = <cnp.ndarray> p
    return (cnp.PyArray_NDIM(arr) == 2 and cnp.PyArray_DIM(arr, 0) == rows
            and cnp.PyArray_DIM(arr, 1) == cols
            and cnp.PyArray_TYPE(arr) == cnp.NPY_DOUBLE
            and cnp.PyArray_ISNOTSWAPPED(arr)
            and cnp.PyArray_BASE(arr) == NULL
            and cnp.PyArray_CHKFLAGS(arr, cnp.NPY_ARRAY_OWNDATA | cnp.NPY_ARRAY_WRITEABLE
                                     | cnp.NPY_ARRAY_ALIGNED | cnp.NPY_ARRAY_C_CONTIGUOUS))


def large_outputs(dict d, Py_ssize_t n, Py_ssize_t H, Py_ssize_t O, bint sets_yhat):
    """The (z2 (n, H), a2 (n, H), z3 (n, O), yhat (n, O)) a large call writes.

    d: the network's __dict__.  d["_large"], a list the last large call left
    (network.py's _publish_large), offers its four arrays; each is reused if
    its only references are that list and d's own attribute of the same name
    (a user holding it directly or through any view adds one), else a fresh
    array is made.  yhat is never d["yHat"] unless the call sets yHat
    (forward does not: the cost calls' yHat must survive it).

    Claimed arrays leave d (list and attributes) before anything is
    allocated, all under the GIL, so no other thread can pick them up while
    this call writes them; _publish_large puts them back afterwards.
    """
    cdef list out = [None, None, None, None]
    cdef list cache = None
    cdef PyObject *c
    cdef PyObject *p
    cdef PyObject *attr
    cdef Py_ssize_t k, rows, cols
    c = PyDict_GetItem(d, "_large")
    # a list that only d holds (a shallow copy of the network would share it)
    if NND_REUSE_OUTPUTS and c != NULL and nnd_refcnt(c) == 1 and type(<object> c) is list:
        cache = <list> c
        PyDict_DelItem(d, "_large")
        if len(cache) != 4:
            cache = None
    if cache is not None:
        for k in range(4):
            p = PyList_GET_ITEM(cache, k)
            attr = PyDict_GetItem(d, _OUTPUT_NAMES[k])
            if attr == p and k == 3 and not sets_yhat:
                continue
            cols = H if k < 2 else O
            if _private_2d(p, 2 if attr == p else 1, n, cols):
                out[k] = <object> p
                if attr == p:
                    PyDict_DelItem(d, _OUTPUT_NAMES[k])
    for k in range(4):
        if out[k] is None:
            out[k] = _empty2(n, H if k < 2 else O)
    return tuple(out)


# ---------------------------------------------------------------------------
# Tiny-call drivers for the drop-in Neural_Network (network.py).
#
# They take the network's __dict__ and the user's X, y, and return None
# unless every input is already exactly what the kernels need (ndarray,
# float64, native byte order, aligned, C-contiguous, matching shapes) and the
# call is below PARALLEL_MIN_WORK; network.py then takes its general path, which
# validates with full error messages and converts.  When they do run they
# keep the GIL (a ~100 ns kernel is cheaper than releasing it) and reuse the
# network's scratch buffers, publishing them as the pending z2/a2/z3/yHat
# that network._Cached copies out on first access.
# ---------------------------------------------------------------------------

cdef inline double *_p(cnp.ndarray a) noexcept:
    return <double *> cnp.PyArray_DATA(a)


cdef inline bint _ok2(object a, Py_ssize_t rows, Py_ssize_t cols) noexcept:
    # rows < 0: any row count
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
    # A layer size the tiny path can trust: an exact int in 1 .. 2^31 - 1;
    # anything else (bool, numpy ints, floats, huge ints) gives -1 and
    # leaves it to network.py's checks.
    cdef int overflow = 0
    cdef long x
    if type(v) is not int:
        return -1
    x = PyLong_AsLongAndOverflow(v, &overflow)
    if overflow or x < 1 or x > 0x7fffffff:
        return -1
    return <Py_ssize_t> x


cdef inline bint _buffer(object a, Py_ssize_t rows, Py_ssize_t cols) noexcept:
    # a scratch array the kernels may write: (rows, cols) float64, C-contiguous,
    # aligned, writeable, native byte order
    cdef cnp.ndarray arr
    if type(a) is not cnp.ndarray:
        return False
    arr = <cnp.ndarray> a
    return (cnp.PyArray_NDIM(arr) == 2 and cnp.PyArray_TYPE(arr) == cnp.NPY_DOUBLE
            and cnp.PyArray_DIM(arr, 0) == rows and cnp.PyArray_DIM(arr, 1) == cols
            and (cnp.PyArray_FLAGS(arr) & cnp.NPY_ARRAY_CARRAY) == cnp.NPY_ARRAY_CARRAY
            and cnp.PyArray_ISNOTSWAPPED(arr))


cdef inline bint _fits(object s, Py_ssize_t N, Py_ssize_t H, Py_ssize_t O) noexcept:
    # Whether s is a scratch tuple for N rows of the current H and O: layer
    # sizes can change between calls, and a stale buffer would be overrun.
    cdef tuple t
    if type(s) is not tuple or len(<tuple> s) != 4:
        return False
    t = <tuple> s
    return (_buffer(t[0], N, H) and _buffer(t[1], N, H) and _buffer(t[2], N, O)
            and _buffer(t[3], N, O))


cdef tuple _tiny_setup(dict d, object X, object y, Net *n):
    """Check inputs and fill n; return the scratch tuple, or None to decline.

    Reads the network's sizes, _W1, _W2, _Lambda (None or a float >= 0, as
    the Lambda property stores it) and _scratch from d, trusting none of them.
    """
    cdef Py_ssize_t I, H, O, N
    cdef object W1 = d.get("_W1"), W2 = d.get("_W2"), Lambda = d.get("_Lambda")
    cdef double lam = 0.0
    cdef object scratch
    cdef tuple s
    I = _size(d.get("inputLayerSize"))
    H = _size(d.get("hiddenLayerSize"))
    O = _size(d.get("outputLayerSize"))
    if I < 1 or H < 1 or O < 1:
        return None
    if Lambda is not None:
        if type(Lambda) is not float:
            return None
        lam = <double> Lambda
        if not (0.0 <= lam <= 1.7976931348623157e308):    # NaN, inf, negative
            return None
    if not _ok2(X, -1, I) or not _ok2(W1, I, H) or not _ok2(W2, H, O):
        return None
    N = cnp.PyArray_DIM(<cnp.ndarray> X, 0)
    if N < 1 or N * H * (I + O) >= PARALLEL_MIN_WORK:
        return None
    if y is not None and not _ok2(y, N, O):
        return None
    scratch = d.get("_scratch")
    if _fits(scratch, N, H, O):
        s = <tuple> scratch
    else:
        s = (_empty2(N, H), _empty2(N, H), _empty2(N, O), _empty2(N, O))
        d["_scratch"] = s
    n.nex, n.nin, n.nhid, n.nout = N, I, H, O
    n.scale = 1.0 if Lambda is None else 1.0 / N
    n.lam = lam
    n.X, n.W1, n.W2 = _p(X), _p(W1), _p(W2)
    if y is not None:
        n.y = _p(y)
    n.z2, n.a2, n.z3, n.yhat = _p(s[0]), _p(s[1]), _p(s[2]), _p(s[3])
    return s


cdef inline void _publish(dict d, tuple s, bint with_yhat):
    cdef object pending
    # the last large call's outputs stop being the attributes: let them go
    d.pop("_large", None)
    if with_yhat:
        d.pop("yHat", None)
        d["_pending"] = s
    else:
        # forward does not set yHat: keep the last cost call's value alive
        pending = d.get("_pending")
        if "yHat" not in d and pending is not None and pending[3] is not None:
            d["yHat"] = (<cnp.ndarray> pending[3]).copy()
        d["_pending"] = (s[0], s[1], s[2], None)
    d.pop("z2", None)
    d.pop("a2", None)
    d.pop("z3", None)


def forward_tiny(dict d, X):
    """Neural_Network.forward for tiny, already-valid calls; None to decline.

    d: the network's __dict__; X (N, I).  Returns a new yHat (N, O).
    """
    cdef Net n
    cdef tuple s = _tiny_setup(d, X, None, &n)
    cdef cnp.ndarray yhat
    if s is None:
        return None
    yhat = _empty2(n.nex, n.nout)
    n.yhat = _p(yhat)
    _run_forward(&n, 1)
    _publish(d, s, False)
    return yhat


def cost_tiny(dict d, X, y):
    """Neural_Network.costFunction for tiny, already-valid calls; None to decline.

    d: the network's __dict__; X (N, I), y (N, O).  Returns J (O,).
    """
    cdef Net n
    cdef tuple s = _tiny_setup(d, X, y, &n)
    cdef cnp.ndarray J
    if s is None:
        return None
    J = _empty1(n.nout)
    if _run_cost(&n, _p(J), 1):
        raise MemoryError("nndfast: could not allocate the cost's per-chunk sums")
    _publish(d, s, True)
    return J


def cost_and_gradient_tiny(dict d, X, y):
    """Backprop for tiny, already-valid calls; None to decline.

    d: the network's __dict__; X (N, I), y (N, O).  Returns
    (J (O,), dJdW1 (I, H), dJdW2 (H, O)).
    """
    cdef Net n
    cdef tuple s = _tiny_setup(d, X, y, &n)
    cdef cnp.ndarray J, g1, g2
    if s is None:
        return None
    J = _empty1(n.nout)
    g1 = _empty2(n.nin, n.nhid)
    g2 = _empty2(n.nhid, n.nout)
    if _run_grad(&n, _p(g1), _p(g2), _p(J), 1):
        raise MemoryError("nndfast: could not allocate the gradient's per-chunk sums")
    _publish(d, s, True)
    return J, g1, g2


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
