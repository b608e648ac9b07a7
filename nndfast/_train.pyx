# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Kernels for training: batch and stochastic gradient descent, and BFGS.

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
  ones) or, for BFGS, LINE_SEARCH_FAILED.
"""
from libc.math cimport fabs, sqrt, isfinite
from libc.string cimport memcpy

from nndfast._network cimport Net, _run_grad

cdef enum:
    RAN_OUT = 0
    CONVERGED = 1
    DIVERGED = 2
    LINE_SEARCH_FAILED = 3
    NO_MEMORY = -1

STATUS_RAN_OUT = RAN_OUT
STATUS_CONVERGED = CONVERGED
STATUS_DIVERGED = DIVERGED
STATUS_LINE_SEARCH_FAILED = LINE_SEARCH_FAILED


def work_size(Py_ssize_t n, Py_ssize_t I, Py_ssize_t H, Py_ssize_t O):
    """Doubles of scratch the drivers need for n examples of an I-H-O network."""
    cdef Py_ssize_t P = I * H + H * O
    return n * (2 * H + 2 * O) + 8 * P + 2 * O


cdef struct Work:
    Net net          # full-data network; W1/W2 point at the trial parameters
    Py_ssize_t P, IH, O
    double *prev     # (P,) parameters before the last step
    double *ge       # (P,) one example's gradient
    double *Je       # (O,) one example's cost
    double *v1       # (P,) BFGS vectors
    double *v2
    double *v3
    double *v4
    double *v5


cdef int _setup(Work *w, const double *X, const double *y, Py_ssize_t n,
                Py_ssize_t I, Py_ssize_t H, Py_ssize_t O, double *work,
                object Lambda) except -1:
    # Lambda: None (Parts 2-6) or a float >= 0 (Part 7), checked by train.py.
    w.P = I * H + H * O
    w.IH = I * H
    w.O = O
    w.net.X, w.net.y = X, y
    w.net.nex, w.net.nin, w.net.nhid, w.net.nout = n, I, H, O
    # Part 7's cost is a mean over the n examples plus Lambda/2 * sum W^2;
    # _run_grad applies it (see Net in _network.pxd).
    if Lambda is None:
        w.net.scale, w.net.lam = 1.0, 0.0
    else:
        w.net.scale, w.net.lam = 1.0 / n, <double> Lambda
    w.net.z2 = work
    w.net.a2 = work + n * H
    w.net.z3 = work + 2 * n * H
    w.net.yhat = work + 2 * n * H + n * O
    work = work + n * (2 * H + 2 * O)
    w.prev = work
    w.ge = work + w.P
    w.v1 = work + 2 * w.P
    w.v2 = work + 3 * w.P
    w.v3 = work + 4 * w.P
    w.v4 = work + 5 * w.P
    w.v5 = work + 6 * w.P
    # 7P .. 7P + O: Je; 7P + O .. 8P + 2O spare
    w.Je = work + 7 * w.P
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


cdef inline double _dot(const double *a, const double *b, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t k
    cdef double s = 0.0
    for k in range(m):
        s += a[k] * b[k]
    return s


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
    if rc:
        raise MemoryError("nndfast: could not allocate the gradient's per-chunk sums")


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
    cdef Py_ssize_t n_iter = costs.shape[0], it = 0, k, P, O
    cdef int status = RAN_OUT, rc = 0
    cdef double *p = &params[0]
    cdef double *g = &grad[0]
    _setup(&w, &X[0, 0], &y[0, 0], X.shape[0], X.shape[1], H, y.shape[1], &work[0], Lambda)
    P, O = w.P, w.O
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
    if rc:
        raise MemoryError("nndfast: could not allocate the gradient's per-chunk sums")
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
    cdef Py_ssize_t ep = 0, j, e, k, P, O
    cdef Py_ssize_t evals = 0
    cdef int status = RAN_OUT, rc = 0
    cdef double *p = &params[0]
    cdef double *g = &grad[0]
    _setup(&w, &X[0, 0], &y[0, 0], n, I, H, y.shape[1], &work[0], Lambda)
    P, O = w.P, w.O
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
    if rc:
        raise MemoryError("nndfast: could not allocate the gradient's per-chunk sums")
    return ep, status, evals


# ---------------------------------------------------------------------------
# BFGS
# ---------------------------------------------------------------------------

cdef struct Point:
    double *x       # (P,)
    double *g       # (P,)
    double *J       # (O,)
    double f        # sum(J)
    double d        # g . direction


cdef inline int _eval(Work *w, const double *x0, const double *dirn, double alpha,
                      Point *pt, int num_threads, Py_ssize_t *nfev) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(w.P):
        pt.x[k] = x0[k] + alpha * dirn[k]
    nfev[0] += 1
    if _grad_at(w, pt.x, pt.g, pt.J, num_threads):
        return -1
    pt.f = _sum(pt.J, w.O)
    pt.d = _dot(pt.g, dirn, w.P)
    if not (isfinite(pt.f) and isfinite(pt.d)):
        pt.f = 1.0 / 0.0       # treat as "too far": shrink the step
        pt.d = 0.0
    return 0


cdef double _interpolate(double alo, double flo, double dlo,
                         double ahi, double fhi, double dhi) noexcept nogil:
    # Minimizer of the cubic through (alo, flo, dlo), (ahi, fhi, dhi)
    # (Nocedal & Wright eq. 3.59), kept inside the interval's middle 80%;
    # bisection where the cubic has no usable minimizer.
    cdef double lo = min(alo, ahi), hi = max(alo, ahi), width = hi - lo
    cdef double d1, d2sq, d2, a
    if isfinite(fhi):
        d1 = dlo + dhi - 3.0 * (flo - fhi) / (alo - ahi)
        d2sq = d1 * d1 - dlo * dhi
        if d2sq >= 0.0:
            d2 = sqrt(d2sq)
            if ahi < alo:
                d2 = -d2
            a = ahi - (ahi - alo) * (dhi + d2 - d1) / (dhi - dlo + 2.0 * d2)
            if isfinite(a) and lo + 0.1 * width <= a <= hi - 0.1 * width:
                return a
    return 0.5 * (alo + ahi)


cdef int _line_search(Work *w, const double *x0, double f0, double d0,
                      const double *dirn, double alpha1, Point *trial,
                      double *alpha_out, int num_threads, Py_ssize_t *nfev) noexcept nogil:
    # Strong Wolfe line search (Nocedal & Wright, Algorithms 3.5 and 3.6),
    # c1 = 1e-4, c2 = 0.9.  Returns 0 with *trial holding the accepted point
    # (always the last one evaluated), 1 if no step was found, -1 on
    # allocation failure.
    cdef double c1 = 1e-4, c2 = 0.9
    cdef double a_prev = 0.0, f_prev = f0, d_prev = d0, a = alpha1
    cdef double alo, ahi, flo, fhi, dlo, dhi, aj
    cdef int i, j
    cdef bint zoom = False
    for i in range(30):
        if _eval(w, x0, dirn, a, trial, num_threads, nfev):
            return -1
        if trial.f > f0 + c1 * a * d0 or (i > 0 and trial.f >= f_prev):
            alo, flo, dlo = a_prev, f_prev, d_prev
            ahi, fhi, dhi = a, trial.f, trial.d
            zoom = True
            break
        if fabs(trial.d) <= -c2 * d0:
            alpha_out[0] = a
            return 0
        if trial.d >= 0.0:
            alo, flo, dlo = a, trial.f, trial.d
            ahi, fhi, dhi = a_prev, f_prev, d_prev
            zoom = True
            break
        a_prev, f_prev, d_prev = a, trial.f, trial.d
        a = 2.0 * a
    if not zoom:
        return 1
    for j in range(40):
        if fabs(ahi - alo) <= 1e-16 * fabs(alo):
            break
        aj = _interpolate(alo, flo, dlo, ahi, fhi, dhi)
        if _eval(w, x0, dirn, aj, trial, num_threads, nfev):
            return -1
        if trial.f > f0 + c1 * aj * d0 or trial.f >= flo:
            ahi, fhi, dhi = aj, trial.f, trial.d
        else:
            if fabs(trial.d) <= -c2 * d0:
                alpha_out[0] = aj
                return 0
            if trial.d * (ahi - alo) >= 0.0:
                ahi, fhi, dhi = alo, flo, dlo
            alo, flo, dlo = aj, trial.f, trial.d
    return 1


def bfgs(const double[:, ::1] X,      # IN  (n, I), n >= 1
         const double[:, ::1] y,      # IN  (n, O)
         Py_ssize_t H,
         double[::1] params,          # INOUT (P,) start -> minimizer
         double[::1] grad,            # INOUT (P,) gradient at params
         double[::1] J,               # INOUT (O,) cost at params
         double[:, ::1] Hinv,         # INOUT (P, P) inverse-Hessian estimate
         double[::1] state,           # INOUT (2,) [previous sum(J), resuming]
         double[::1] work,            # SCRATCH
         double gtol,
         double[:, ::1] costs,        # OUT (n_iter, O): cost after each iteration
         int num_threads,
         Lambda=None):                # IN  None, or Part 7's Lambda (float >= 0)
    """Minimize sum(J) over the parameters with BFGS, up to costs.shape[0]
    iterations per call.

    The method of scipy.optimize.minimize(method='BFGS'): inverse-Hessian
    update starting from the identity, strong Wolfe line search, stop when
    max |gradient| <= gtol.  A first call with state[1] == 0 starts the run
    (sets Hinv, evaluates grad and J); later calls with the arrays it left
    continue it exactly, so a long run can return to Python in segments.
    Returns (iterations, status, function-and-gradient evaluations); status
    RAN_OUT means this call's iterations are used up.
    """
    cdef Work w
    cdef Py_ssize_t maxiter = costs.shape[0], nit = 0, nfev = 0, P, O, a, b
    cdef int status = RAN_OUT, rc = 0
    cdef double *x = &params[0]
    cdef double *g = &grad[0]
    cdef double *Hm = &Hinv[0, 0]
    cdef double *dirn
    cdef double *s
    cdef double *yk
    cdef double *Hy
    cdef double f, old_f, d0, alpha1, alpha = 0.0, ys, yHy, coef, gn
    cdef Point t
    _setup(&w, &X[0, 0], &y[0, 0], X.shape[0], X.shape[1], H, y.shape[1], &work[0], Lambda)
    P, O = w.P, w.O
    dirn, s, yk, Hy = w.v1, w.v2, w.v3, w.prev
    t.x, t.g, t.J = w.v4, w.v5, w.Je      # the line search's trial point
    with nogil:
        if state[1] == 0.0:
            for a in range(P):
                for b in range(P):
                    Hm[a * P + b] = 1.0 if a == b else 0.0
            nfev = 1
            rc = _grad_at(&w, x, g, &J[0], num_threads)
            f = _sum(&J[0], O)
            old_f = f + sqrt(_dot(g, g, P)) / 2.0
        else:
            f = _sum(&J[0], O)
            old_f = state[0]
        gn = _max_abs(g, P)
        if rc == 0 and not (isfinite(f) and isfinite(gn)):
            status = DIVERGED
        while rc == 0 and status == RAN_OUT:
            if gn <= gtol:
                status = CONVERGED
                break
            if nit >= maxiter:
                break
            for a in range(P):
                coef = 0.0
                for b in range(P):
                    coef = coef + Hm[a * P + b] * g[b]
                dirn[a] = -coef
            d0 = _dot(g, dirn, P)
            if not (d0 < 0.0):
                status = LINE_SEARCH_FAILED
                break
            # scipy's first trial step: where a quadratic through the last
            # decrease would have its minimum, capped at the Newton step
            alpha1 = 1.01 * 2.0 * (f - old_f) / d0
            if not (alpha1 > 0.0) or alpha1 > 1.0:
                alpha1 = 1.0
            rc = _line_search(&w, x, f, d0, dirn, alpha1, &t, &alpha, num_threads, &nfev)
            if rc:
                if rc == 1:
                    status = LINE_SEARCH_FAILED
                    rc = 0
                break
            for a in range(P):
                s[a] = t.x[a] - x[a]
                yk[a] = t.g[a] - g[a]
            memcpy(x, t.x, P * sizeof(double))
            memcpy(g, t.g, P * sizeof(double))
            memcpy(&J[0], t.J, O * sizeof(double))
            old_f = f
            f = t.f
            for a in range(O):
                costs[nit, a] = J[a]
            nit += 1
            gn = _max_abs(g, P)
            ys = _dot(yk, s, P)
            if ys <= 0.0:
                continue    # curvature condition failed: keep H (cannot happen under Wolfe)
            # H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T, rho = 1/(y.s)
            for a in range(P):
                coef = 0.0
                for b in range(P):
                    coef = coef + Hm[a * P + b] * yk[b]
                Hy[a] = coef
            yHy = _dot(yk, Hy, P)
            coef = (ys + yHy) / (ys * ys)
            for a in range(P):
                for b in range(P):
                    Hm[a * P + b] = Hm[a * P + b] + coef * s[a] * s[b] \
                        - (Hy[a] * s[b] + s[a] * Hy[b]) / ys
    state[0] = old_f
    state[1] = 1.0
    if rc:
        raise MemoryError("nndfast: could not allocate the gradient's per-chunk sums")
    return nit, status, nfev
