# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""Kernels for training: batch and stochastic gradient descent, and BFGS.

BFGS is scipy's algorithm ported to C in _bfgs.h; this module gives it its
objective (the backprop kernel, or Python methods) and its callback.

Every loop here runs entirely in compiled code over the same forward/backprop
core as nndfast._network (`_run_grad`), so a descent step is bitwise the step
`W -= lr * NN.costFunctionPrime(X, y)` would take, and results are identical
for any thread count (the gradient's sums are formed in fixed chunks).

Conventions (see _network.pyx):
- train.py validates everything, makes arrays C-contiguous float64 and
  allocates every buffer; the kernels trust their input.
- The parameters live in one vector laid out like Neural_Network.getParams():
  W1.ravel() (I*H values) then W2.ravel() (H*O values).
- Lambda (the last argument of every driver) is None for the cost of Parts
  2-6 or a float >= 0 for Part 7's regularized cost; _setup turns it into the
  Net's scale and lam, so every driver here, descent and BFGS, honours it.
- `work` is scratch of work_size(n, I, H, O) doubles, reused across calls so
  a run in short segments (for callbacks and Ctrl-C) does not reallocate.
- Each driver returns a status: RAN_OUT (did every iteration asked for),
  CONVERGED (max |gradient| <= tol), DIVERGED (a step made the cost or a
  weight inf/NaN: the step is undone, so the parameters are the last finite
  ones).  BFGS returns scipy's warnflag instead.
"""
from cpython.exc cimport PyErr_CheckSignals
from cpython.ref cimport PyObject
from libc.math cimport fabs
from libc.stdint cimport int64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

import numpy as np

from nndfast._alloc cimport alloc_error, check_alloc
from nndfast._network cimport Net, _run_grad, _run_cost

cdef enum:
    RAN_OUT = 0
    CONVERGED = 1
    DIVERGED = 2
    NO_MEMORY = -1

STATUS_RAN_OUT = RAN_OUT
STATUS_CONVERGED = CONVERGED
STATUS_DIVERGED = DIVERGED


def work_size(Py_ssize_t n, Py_ssize_t I, Py_ssize_t H, Py_ssize_t O):
    """Doubles of scratch the drivers need for n examples of an I-H-O network."""
    cdef Py_ssize_t P = I * H + H * O
    return 3 * P + O


cdef struct Work:
    Net net          # full-data network; W1/W2 point at the trial parameters
    Py_ssize_t P, IH, O
    double *prev     # (P,) parameters before the last step
    double *ge       # (P,) one example's gradient
    double *Je       # (O,) one example's cost
    double *v1       # (P,) stochastic descent: the parameters at epoch start


cdef int _setup(Work *w, const double *X, const double *y, Py_ssize_t n,
                Py_ssize_t I, Py_ssize_t H, Py_ssize_t O, double *work,
                object Lambda) except -1:
    # Lambda: None (Parts 2-6) or a float >= 0 (Part 7), checked by train.py.
    w.P = I * H + H * O
    w.IH = I * H
    w.O = O
    w.net.X, w.net.y = X, y
    w.net.xkeep = NULL
    w.net.nex, w.net.nin, w.net.nhid, w.net.nout = n, I, H, O
    # Part 7's cost is a mean over the n examples plus Lambda/2 * sum W^2;
    # _run_grad applies it (see Net in _network.pxd).
    if Lambda is None:
        w.net.scale, w.net.lam = 1.0, 0.0
    else:
        w.net.scale, w.net.lam = 1.0 / n, <double> Lambda
    # z2, a2, z3 and yHat only feed the gradient: kept per chunk, never for
    # all n (memory traffic that would grow with n at every step)
    w.net.z2 = w.net.a2 = w.net.z3 = w.net.yhat = NULL
    w.prev = work
    w.ge = work + w.P
    w.v1 = work + 2 * w.P
    w.Je = work + 3 * w.P
    return 0


cdef inline int _grad_at(Work *w, const double *params, double *g, double *J,
                         int num_threads) noexcept nogil:
    w.net.W1 = params
    w.net.W2 = params + w.IH
    return _run_grad(&w.net, g, g + w.IH, J, num_threads)


cdef inline bint _all_finite(const double *a, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t k
    cdef double s = 0.0
    for k in range(m):
        s += a[k] * 0.0       # inf*0 and NaN*0 are NaN; 0 otherwise
    return s == 0.0


cdef inline double _max_abs(const double *a, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t k
    cdef double r = 0.0
    for k in range(m):
        if a[k] != a[k]:
            return a[k]               # NaN: never <= tol
        if fabs(a[k]) > r:
            r = fabs(a[k])
    return r


cdef inline double _sum(const double *a, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t k
    cdef double s = 0.0
    for k in range(m):
        s += a[k]
    return s


# ---------------------------------------------------------------------------
# Gradient descent
# ---------------------------------------------------------------------------

cdef int _evaluate_step(Work *w, double *p, const double *p_before, double *g, double *J,
                        double *cost_row, double tol, int num_threads,
                        int *status) noexcept nogil:
    # After a step from p_before to p, with g, J still the gradient and cost at
    # p_before: evaluate them at p.  If the cost or p is not finite, put p, g
    # and J back (status DIVERGED); else write J to cost_row and set status
    # CONVERGED if max |g| <= tol.  Returns -1 (p put back) on allocation
    # failure.
    cdef Py_ssize_t k, P = w.P, O = w.O
    memcpy(w.ge, g, P * sizeof(double))
    memcpy(w.Je, J, O * sizeof(double))
    if _grad_at(w, p, g, J, num_threads):
        memcpy(p, p_before, P * sizeof(double))
        return -1
    if not (_all_finite(p, P) and _all_finite(J, O)):
        memcpy(p, p_before, P * sizeof(double))
        memcpy(g, w.ge, P * sizeof(double))
        memcpy(J, w.Je, O * sizeof(double))
        status[0] = DIVERGED
        return 0
    for k in range(O):
        cost_row[k] = J[k]
    if _max_abs(g, P) <= tol:
        status[0] = CONVERGED
    return 0


def gradient(const double[:, ::1] X,     # IN  (n, I), n >= 1
             const double[:, ::1] y,     # IN  (n, O)
             Py_ssize_t H,
             const double[::1] params,   # IN  (P,)
             double[::1] grad,           # OUT (P,)
             double[::1] J,              # OUT (O,)
             double[::1] work,           # SCRATCH
             int num_threads,
             Lambda=None):               # IN  None, or Part 7's Lambda (float >= 0)
    """The cost J and its gradient (unrolled like params) at params."""
    cdef Work w
    cdef int rc
    _setup(&w, &X[0, 0], &y[0, 0], X.shape[0], X.shape[1], H, y.shape[1], &work[0], Lambda)
    with nogil:
        rc = _grad_at(&w, &params[0], &grad[0], &J[0], num_threads)
    check_alloc(rc, "the gradient's per-chunk sums")


def batch_descent(const double[:, ::1] X,     # IN  (n, I), n >= 1
                  const double[:, ::1] y,     # IN  (n, O)
                  Py_ssize_t H,               # IN  hidden layer size
                  double[::1] params,         # INOUT (P,)  W1.ravel() | W2.ravel()
                  double[::1] grad,           # INOUT (P,)  gradient at params
                  double[::1] J,              # INOUT (O,)  cost at params
                  double[::1] work,           # SCRATCH (work_size(n, I, H, O),)
                  double learning_rate,
                  double tol,
                  double[:, ::1] costs,       # OUT (n_iter, O): cost after each step
                  int num_threads,
                  Lambda=None):               # IN  None, or Part 7's Lambda (float >= 0)
    """Up to costs.shape[0] steps of params -= learning_rate * grad.

    On entry grad and J must hold the gradient and cost at params (from
    cost_and_gradient or a previous call); on return they hold them at the
    returned params.  Returns (steps taken, status, gradient evaluations).
    """
    cdef Work w
    cdef Py_ssize_t n_iter = costs.shape[0], it = 0, k, P
    cdef int status = RAN_OUT, rc = 0
    cdef double *p = &params[0]
    cdef double *g = &grad[0]
    _setup(&w, &X[0, 0], &y[0, 0], X.shape[0], X.shape[1], H, y.shape[1], &work[0], Lambda)
    P = w.P
    with nogil:
        while it < n_iter:
            memcpy(w.prev, p, P * sizeof(double))
            for k in range(P):
                p[k] = p[k] - learning_rate * g[k]
            rc = _evaluate_step(&w, p, w.prev, g, &J[0], &costs[it, 0], tol, num_threads,
                                &status)
            if rc or status == DIVERGED:
                break
            it += 1
            if status == CONVERGED:
                break
    check_alloc(rc, "the gradient's per-chunk sums")
    return it, status, it + (status == DIVERGED)


def stochastic_descent(const double[:, ::1] X,        # IN  (n, I), n >= 1
                       const double[:, ::1] y,        # IN  (n, O)
                       Py_ssize_t H,
                       double[::1] params,            # INOUT (P,)
                       double[::1] grad,              # INOUT (P,) full gradient at params
                       double[::1] J,                 # INOUT (O,) full cost at params
                       double[::1] work,              # SCRATCH
                       const Py_ssize_t[:, ::1] orders,  # IN  (n_epochs, n) visiting orders
                       double learning_rate,
                       double tol,
                       double[:, ::1] costs,          # OUT (n_epochs, O): cost after each epoch
                       int num_threads,
                       Lambda=None):          # IN  None, or Part 7's Lambda (float >= 0)
    """Up to orders.shape[0] epochs; in epoch t, for e in orders[t]:
    params -= learning_rate * (gradient on example e alone).  With Lambda,
    each step's gradient is Part 7's with n = 1 (example e's backprop plus
    Lambda * W); the per-epoch cost and tol test are on all n examples.

    After each epoch the full gradient and cost are evaluated (for the cost
    history and the tol test).  Returns (epochs, status, gradient evaluations).
    After a divergence grad and J are stale (the run is over).
    """
    cdef Work w
    cdef Net one
    cdef Py_ssize_t n_ep = orders.shape[0], n = X.shape[0], I = X.shape[1]
    cdef Py_ssize_t ep = 0, j, e, k, P
    cdef Py_ssize_t evals = 0
    cdef int status = RAN_OUT, rc = 0
    cdef double *p = &params[0]
    cdef double *g = &grad[0]
    _setup(&w, &X[0, 0], &y[0, 0], n, I, H, y.shape[1], &work[0], Lambda)
    P = w.P
    one = w.net
    one.nex = 1
    # Part 7's formula on the step's own examples: the mean over n = 1 is
    # that example's cost, and each step adds the full Lambda * W.
    one.scale = 1.0
    one.W1 = p
    one.W2 = p + w.IH
    with nogil:
        while ep < n_ep:
            memcpy(w.v1, p, P * sizeof(double))          # parameters at epoch start
            for j in range(n):
                e = orders[ep, j]
                one.X = &X[e, 0]
                one.y = &y[e, 0]
                rc = _run_grad(&one, w.ge, w.ge + w.IH, w.Je, 1)
                evals += 1
                if rc:
                    break
                memcpy(w.prev, p, P * sizeof(double))
                for k in range(P):
                    p[k] = p[k] - learning_rate * w.ge[k]
                if not _all_finite(p, P):
                    memcpy(p, w.prev, P * sizeof(double))
                    status = DIVERGED
                    break
            if rc or status == DIVERGED:
                break
            rc = _evaluate_step(&w, p, w.v1, g, &J[0], &costs[ep, 0], tol, num_threads,
                                &status)
            evals += 1
            if rc or status == DIVERGED:
                break
            ep += 1
            if status == CONVERGED:
                break
    check_alloc(rc, "the gradient's per-chunk sums")
    return ep, status, evals


# ---------------------------------------------------------------------------
# BFGS: scipy's algorithm (_bfgs.h) over the compiled network or Python methods
# ---------------------------------------------------------------------------

cdef extern from "_bfgs.h" nogil:
    ctypedef int (*nnd_fg_t)(void *ctx, const double *x, double *f, double *g) noexcept nogil
    ctypedef int (*nnd_cb_t)(void *ctx, int64_t k, const double *x, double f) noexcept nogil
    ctypedef struct nnd_bfgs_run:
        int64_t n, maxiter
        double gtol, xrtol, c1, c2
        nnd_fg_t fg
        nnd_cb_t cb
        void *ctx
        int64_t nit, nfev, njev, rhok_events
        int warnflag, halted
        double fun
    int64_t NND_BFGS_WORK(int64_t n)
    int nnd_bfgs(nnd_bfgs_run *r, double *x, double *g, double *H, double *work) noexcept


cdef struct Rows:
    # The trace of a run, grown as it goes (never sized by maxiter, which may
    # be astronomically large); n rows are complete, so after an exception
    # (Ctrl-C) they are the iterations that finished.
    double *cost                # (cap, O)
    double *test                # (cap, O), or NULL without a test set
    Py_ssize_t O, n, cap
    bint has_test


cdef int _reserve(Rows *r, Py_ssize_t k) noexcept nogil:
    """Room for k rows; -1 if the allocation failed (the rows kept are intact)."""
    cdef Py_ssize_t cap = r.cap
    cdef double *p
    if k <= cap:
        return 0
    cap = max(k, 2 * cap, 64)
    p = <double *> realloc(r.cost, cap * r.O * sizeof(double))
    if p == NULL:
        return -1
    r.cost = p
    if r.has_test:
        p = <double *> realloc(r.test, cap * r.O * sizeof(double))
        if p == NULL:
            return -1
        r.test = p
    r.cap = cap
    return 0


cdef class Trace:
    """The training cost (and test cost) after each BFGS iteration, filled
    by bfgs_network and read with costs() / test_costs(), even after the run
    raised (those rows are the iterations that completed)."""
    cdef Rows r

    def __cinit__(self, Py_ssize_t O, bint has_test):
        self.r.cost = NULL
        self.r.test = NULL
        self.r.O = O
        self.r.n = 0
        self.r.cap = 0
        self.r.has_test = has_test

    def __dealloc__(self):
        free(self.r.cost)
        free(self.r.test)

    def __len__(self):
        return self.r.n

    cdef object _copy(self, double *src):
        a = np.empty((self.r.n, self.r.O))
        cdef double[:, ::1] v = a
        if self.r.n:
            memcpy(&v[0, 0], src, self.r.n * self.r.O * sizeof(double))
        return a

    def costs(self):
        """(rows, O) array: the training cost after each iteration."""
        return self._copy(self.r.cost)

    def test_costs(self):
        """(rows, O) array: the test cost after each iteration (0 rows without a test set)."""
        if not self.r.has_test:
            return np.empty((0, self.r.O))
        return self._copy(self.r.test)


cdef struct Objective:
    # the compiled network (_net_fg) and its trace (_trace_cb)
    Work *w
    double *J                   # (O,) cost at the last evaluation
    int num_threads
    Py_ssize_t check_every      # evaluations between Ctrl-C checks
    Py_ssize_t evals
    Rows *rows                  # cost (and test cost) at each iterate, or NULL
    Work *test                  # test-set network, or NULL
    # Python methods (_py_fg, _py_cb)
    PyObject *fun               # fun(params) -> (float, (P,) float64 array)
    PyObject *callback          # callback(params) -> anything; StopIteration halts
    PyObject *errors            # list receiving the exception that aborted the run
    Py_ssize_t P


cdef int _abort(Objective *o, object exc) noexcept:
    (<object> o.errors).append(exc)
    return -1


cdef int _net_fg(void *ctx, const double *x, double *f, double *g) noexcept nogil:
    cdef Objective *o = <Objective *> ctx
    if _grad_at(o.w, x, g, o.J, o.num_threads):
        with gil:
            return _abort(o, alloc_error("the gradient's per-chunk sums"))
    f[0] = _sum(o.J, o.w.O)
    o.evals += 1
    if o.evals % o.check_every == 0:
        with gil:
            try:
                PyErr_CheckSignals()       # Ctrl-C lands between evaluations
            except BaseException as exc:
                return _abort(o, exc)
    return 0


cdef int _trace_cb(void *ctx, int64_t k, const double *x, double f) noexcept nogil:
    # The tutorial's callbackF appends costFunction at the new iterate.  scipy
    # accepts a step only right after evaluating it, so o.J is already that
    # cost; the test cost needs one forward pass.
    cdef Objective *o = <Objective *> ctx
    cdef Py_ssize_t O = o.w.O
    if _reserve(o.rows, k):
        with gil:
            return _abort(o, alloc_error(
                f"room to grow the trainer's cost history to {k} iterations"))
    memcpy(o.rows.cost + (k - 1) * O, o.J, O * sizeof(double))
    if o.test != NULL:
        o.test.net.W1 = x
        o.test.net.W2 = x + o.test.IH
        if _run_cost(&o.test.net, o.rows.test + (k - 1) * O, o.num_threads):
            with gil:
                return _abort(o, alloc_error("the cost's per-chunk sums"))
    o.rows.n = k                # only now is row k complete
    return 0


cdef int _py_fg(void *ctx, const double *x, double *f, double *g) noexcept nogil:
    cdef Objective *o = <Objective *> ctx
    cdef double[::1] gv
    with gil:
        try:
            fx, gx = (<object> o.fun)(_vector(x, o.P))
            gv = gx
            if gv.shape[0] != o.P:
                raise ValueError(f"the gradient must have {o.P} values, got {gv.shape[0]}")
            f[0] = fx
            memcpy(g, &gv[0], o.P * sizeof(double))
        except BaseException as exc:
            return _abort(o, exc)
    return 0


cdef int _py_cb(void *ctx, int64_t k, const double *x, double f) noexcept nogil:
    cdef Objective *o = <Objective *> ctx
    with gil:
        try:
            (<object> o.callback)(_vector(x, o.P))
        except StopIteration:
            return 1                       # scipy: halt, status 99
        except BaseException as exc:
            return _abort(o, exc)
    return 0


cdef object _vector(const double *x, Py_ssize_t P):
    a = np.empty(P)
    cdef double[::1] v = a
    memcpy(&v[0], x, P * sizeof(double))
    return a


cdef tuple _run_bfgs(nnd_bfgs_run *r, Objective *o, double[::1] params, double[::1] grad,
                     double[:, ::1] Hinv, double gtol, Py_ssize_t maxiter):
    cdef double[::1] work = np.empty(max(1, NND_BFGS_WORK(params.shape[0])))
    cdef int rc
    r.n = params.shape[0]
    r.maxiter = maxiter
    r.gtol = gtol
    r.xrtol = 0.0
    r.c1 = 1e-4
    r.c2 = 0.9
    r.ctx = o
    with nogil:
        rc = nnd_bfgs(r, &params[0], &grad[0], &Hinv[0, 0], &work[0])
    if rc != 0:
        raise (<object> o.errors)[0]
    return (r.nit, r.nfev, r.njev, r.warnflag, bool(r.halted), r.fun, r.rhok_events)


def bfgs_network(const double[:, ::1] X,       # IN  (n, I), n >= 1
                 const double[:, ::1] y,       # IN  (n, O)
                 Py_ssize_t H,
                 double[::1] params,           # INOUT (P,) start -> last iterate
                 double[::1] grad,             # OUT (P,) gradient there
                 double[:, ::1] Hinv,          # OUT (P, P) inverse-Hessian estimate
                 Trace trace,                  # OUT cost (and test cost) per iterate, or None
                 testX,                        # IN  (m, I) or None
                 testY,                        # IN  (m, O) or None
                 double gtol,
                 Py_ssize_t maxiter,
                 Py_ssize_t check_every,       # evaluations between Ctrl-C checks
                 callback,                     # None: fill trace; else callback(params)
                                               # (then trace, testX, testY are unused)
                 int num_threads,
                 Lambda=None):                 # IN  None, or Part 7's Lambda (float >= 0)
    """scipy's BFGS (minimize(method='BFGS', jac=True)) on the network's
    cost sum(J) over the parameters, evaluated by the backprop kernel.

    Returns (nit, nfev, njev, warnflag, halted, fun, rhok_events) with
    scipy's meanings.  Exceptions (Ctrl-C, the callback's) propagate with
    params at the last iterate.
    """
    cdef Work w, tw
    cdef Objective o
    cdef nnd_bfgs_run r
    cdef Py_ssize_t n = X.shape[0], I = X.shape[1], O = y.shape[1]
    cdef double[::1] work = np.empty(work_size(n, I, H, O))
    cdef double[::1] J = np.empty(O)
    cdef double[::1] test_work
    cdef const double[:, ::1] tX
    cdef const double[:, ::1] tY
    errors = []
    if callback is None and (trace is None or trace.r.O != O
                             or trace.r.has_test != (testX is not None)):
        # the one check here: a mismatched trace would be written out of bounds
        raise ValueError("bfgs_network: without a callback, trace must be a "
                         "Trace(outputLayerSize, has_test=testX is not None)")
    _setup(&w, &X[0, 0], &y[0, 0], n, I, H, O, &work[0], Lambda)
    o.w = &w
    o.J = &J[0]
    o.num_threads = num_threads
    o.check_every = max(1, check_every)
    o.evals = 0
    o.rows = &trace.r if callback is None else NULL
    o.test = NULL
    o.errors = <PyObject *> errors
    o.callback = <PyObject *> callback
    o.P = params.shape[0]
    if callback is None and testX is not None:
        tX, tY = testX, testY
        test_work = np.empty(work_size(tX.shape[0], I, H, O))
        _setup(&tw, &tX[0, 0], &tY[0, 0], tX.shape[0], I, H, O, &test_work[0], Lambda)
        o.test = &tw
    r.fg = _net_fg
    r.cb = _trace_cb
    if callback is not None:
        r.cb = _py_cb
    return _run_bfgs(&r, &o, params, grad, Hinv, gtol, maxiter)


def bfgs_python(fun,                           # fun(params) -> (float, (P,) float64)
                callback,                      # callback(params) or None
                double[::1] params,            # INOUT (P,) start -> last iterate
                double[::1] grad,              # OUT (P,)
                double[:, ::1] Hinv,           # OUT (P, P)
                double gtol,
                Py_ssize_t maxiter):
    """The same BFGS as bfgs_network over a Python objective: for networks
    and trainers whose methods are overridden.  Same return value."""
    cdef Objective o
    cdef nnd_bfgs_run r
    errors = []
    o.fun = <PyObject *> fun
    o.callback = <PyObject *> callback
    o.errors = <PyObject *> errors
    o.P = params.shape[0]
    r.fg = _py_fg
    r.cb = NULL
    if callback is not None:
        r.cb = _py_cb
    return _run_bfgs(&r, &o, params, grad, Hinv, gtol, maxiter)
