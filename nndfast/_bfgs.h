/*
 * scipy.optimize's BFGS, ported to C so that nndfast's trainer takes the
 * tutorial's steps.
 *
 * Why a port and not "a BFGS": the tutorial trains a 9-weight network on 3 or
 * 4 examples, whose cost has a flat valley of exact fits.  Two BFGS variants
 * that differ in any detail (first step, line search, safeguards) end at
 * different points of that valley, i.e. at different networks and plots.
 * This file is scipy 1.17's `minimize(fun, x0, jac=True, method='BFGS')`
 * decision for decision:
 *
 *   _minimize_bfgs          -> nnd_bfgs
 *   ScalarFunction+MemoizeJac (which points are evaluated and counted)
 *                           -> nnd_sf_*
 *   _line_search_wolfe12    -> nnd_line_search (wolfe1, then wolfe2)
 *   line_search_wolfe1 / scalar_search_wolfe1 / DCSRCH / dcstep
 *                           -> nnd_wolfe1, nnd_dcsrch_iterate, nnd_dcstep
 *   line_search_wolfe2 / scalar_search_wolfe2 / _zoom / _cubicmin / _quadmin
 *                           -> nnd_wolfe2, nnd_zoom, nnd_cubicmin, nnd_quadmin
 *
 * Trial points are formed as scipy forms them (xk + alpha*pk, elementwise,
 * never fused into an FMA), comparisons keep Python's NaN semantics (pymin,
 * pymax, clip), and _cubicmin/_quadmin give up where numpy's
 * errstate(divide/over/invalid='raise') would raise.  What cannot be
 * bit-identical: BLAS's summation order in np.dot, so the directions and the
 * inverse-Hessian update (done here in O(P^2), not as scipy's two matrix
 * products) agree with scipy's to rounding, not bit for bit.
 *
 * The objective and the per-iteration callback are function pointers, so the
 * same algorithm runs over the compiled network (nogil) or over Python
 * methods (the callbacks take the GIL themselves).
 */
#ifndef NNDFAST_BFGS_H
#define NNDFAST_BFGS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* numpy never fuses a*b + c; neither may we, or trial points drift from scipy's
 * on targets whose baseline has FMA (GCC contracts by default in GNU C). */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

/* f and g (n,) at x.  Returns 0, or nonzero to abort the run (an exception). */
typedef int (*nnd_fg_t)(void *ctx, const double *x, double *f, double *g);
/* scipy's callback after iteration k (1-based) at x with cost f.  Returns 0 to
 * go on, 1 to halt (the callback raised StopIteration), -1 to abort. */
typedef int (*nnd_cb_t)(void *ctx, int64_t k, const double *x, double f);

enum { NND_BFGS_OK = 0, NND_BFGS_ABORTED = -1 };

typedef struct {
    /* in */
    int64_t n;            /* number of parameters */
    int64_t maxiter;
    double gtol, xrtol, c1, c2;
    nnd_fg_t fg;
    nnd_cb_t cb;          /* may be NULL */
    void *ctx;
    /* out */
    int64_t nit, nfev, njev;
    int64_t rhok_events;  /* times y.s == 0 made scipy assume rhok = 1000 */
    int warnflag;         /* scipy's: 0 success, 1 maxiter, 2 precision loss, 3 NaN */
    int halted;           /* the callback asked to stop (scipy: status 99) */
    double fun;
} nnd_bfgs_run;

/* Scratch doubles nnd_bfgs needs for n parameters. */
#define NND_BFGS_WORK(n) (9 * (n))

/* -- Python's comparison semantics --------------------------------------- */

/* min(a, b) / max(a, b) as Python's builtins: the first argument wins unless
 * the second compares strictly smaller/larger (so a NaN first stays). */
static inline double nnd_pymin(double a, double b) { return b < a ? b : a; }
static inline double nnd_pymax(double a, double b) { return b > a ? b : a; }
/* np.clip(x, lo, hi): NaN propagates. */
static inline double nnd_clip(double x, double lo, double hi)
{
    if (isnan(x)) return x;
    return x < lo ? lo : (x > hi ? hi : x);
}
/* np.sign */
static inline double nnd_sign(double x)
{
    if (isnan(x)) return x;
    return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
}

/* One arithmetic result under np.errstate(divide/over/invalid='raise'): set
 * *bad if it came out non-finite from operands that were not (division by
 * zero, overflow, or an invalid operation such as inf - inf). */
static inline double nnd_chk(double r, double a, double b, int *bad)
{
    if ((isnan(r) && !isnan(a) && !isnan(b)) || (isinf(r) && isfinite(a) && isfinite(b)))
        *bad = 1;
    return r;
}

static inline double nnd_dot(const double *a, const double *b, int64_t n)
{
    double s = 0.0;
    int64_t i;
    for (i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* -- ScalarFunction + MemoizeJac ------------------------------------------
 * scipy evaluates fun and grad through a cache of the last point: asking for
 * f or g at the point it already holds costs nothing and is not counted.
 * nfev counts f requests that reached the function, ngev g requests. */

typedef struct {
    nnd_fg_t fg;
    void *ctx;
    int64_t n;
    double *x;       /* the point of the last request (n,) */
    double *g;       /* the gradient there, once computed (n,) */
    double f;
    int f_upd, g_upd;
    int have;        /* fg has run at x (MemoizeJac's cache) */
    int64_t nfev, ngev;
} nnd_sf;

/* ScalarFunction._update_x when x differs (np.array_equal: NaN never equal). */
static inline void nnd_sf_set(nnd_sf *s, const double *x)
{
    int64_t i;
    for (i = 0; i < s->n; i++)
        if (!(x[i] == s->x[i])) break;
    if (i == s->n) return;
    if (x != s->x) memcpy(s->x, x, (size_t)s->n * sizeof(double));
    s->f_upd = s->g_upd = 0;
    s->have = 0;
}

static inline int nnd_sf_compute(nnd_sf *s)
{
    if (!s->have) {
        if (s->fg(s->ctx, s->x, &s->f, s->g)) return -1;
        s->have = 1;
    }
    return 0;
}

static inline int nnd_sf_update_fun(nnd_sf *s)
{
    if (!s->f_upd) {
        if (nnd_sf_compute(s)) return -1;
        s->nfev++;
        s->f_upd = 1;
    }
    return 0;
}

static inline int nnd_sf_update_grad(nnd_sf *s)
{
    if (!s->g_upd) {
        if (nnd_sf_compute(s)) return -1;
        s->ngev++;
        s->g_upd = 1;
    }
    return 0;
}

static inline int nnd_sf_fun(nnd_sf *s, const double *x, double *f)
{
    nnd_sf_set(s, x);
    if (nnd_sf_update_fun(s)) return -1;
    *f = s->f;
    return 0;
}

/* The gradient at x is left in s->g. */
static inline int nnd_sf_grad(nnd_sf *s, const double *x)
{
    nnd_sf_set(s, x);
    return nnd_sf_update_grad(s);
}

/* -- phi(alpha) = f(xk + alpha*pk) and derphi(alpha) = g(xk + alpha*pk).pk */

typedef struct {
    nnd_sf *sf;
    const double *xk, *pk;
    double *xt;       /* scratch for the trial point (n,) */
    int err;          /* the objective aborted */
} nnd_line;

static inline void nnd_point(nnd_line *L, double alpha)
{
    int64_t i, n = L->sf->n;
    for (i = 0; i < n; i++) L->xt[i] = L->xk[i] + alpha * L->pk[i];
}

static inline double nnd_phi(nnd_line *L, double alpha)
{
    double f = 0.0;
    nnd_point(L, alpha);
    if (nnd_sf_fun(L->sf, L->xt, &f)) L->err = 1;
    return f;
}

static inline double nnd_derphi(nnd_line *L, double alpha)
{
    nnd_point(L, alpha);
    if (nnd_sf_grad(L->sf, L->xt)) {
        L->err = 1;
        return 0.0;
    }
    return nnd_dot(L->sf->g, L->pk, L->sf->n);
}

/* -- MINPACK-2 dcstep (scipy/optimize/_dcsrch.py) ------------------------- */

static void nnd_dcstep(double *stx, double *fx, double *dx, double *sty, double *fy,
                       double *dy, double *stp, double fp, double dp, int *brackt,
                       double stpmin, double stpmax)
{
    double sgnd = nnd_sign(dp) * nnd_sign(*dx);
    double theta, s, gamma, p, q, r, stpc, stpq, stpf;

    if (fp > *fx) {
        theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        s = nnd_pymax(nnd_pymax(fabs(theta), fabs(*dx)), fabs(dp));
        gamma = s * sqrt(pow(theta / s, 2) - (*dx / s) * (dp / s));
        if (*stp < *stx) gamma *= -1;
        p = (gamma - *dx) + theta;
        q = ((gamma - *dx) + gamma) + dp;
        r = p / q;
        stpc = *stx + r * (*stp - *stx);
        stpq = *stx + ((*dx / ((*fx - fp) / (*stp - *stx) + *dx)) / 2.0) * (*stp - *stx);
        if (fabs(stpc - *stx) <= fabs(stpq - *stx))
            stpf = stpc;
        else
            stpf = stpc + (stpq - stpc) / 2.0;
        *brackt = 1;
    } else if (sgnd < 0.0) {
        theta = 3 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        s = nnd_pymax(nnd_pymax(fabs(theta), fabs(*dx)), fabs(dp));
        gamma = s * sqrt(pow(theta / s, 2) - (*dx / s) * (dp / s));
        if (*stp > *stx) gamma *= -1;
        p = (gamma - dp) + theta;
        q = ((gamma - dp) + gamma) + *dx;
        r = p / q;
        stpc = *stp + r * (*stx - *stp);
        stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        if (fabs(stpc - *stp) > fabs(stpq - *stp))
            stpf = stpc;
        else
            stpf = stpq;
        *brackt = 1;
    } else if (fabs(dp) < fabs(*dx)) {
        theta = 3 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        s = nnd_pymax(nnd_pymax(fabs(theta), fabs(*dx)), fabs(dp));
        gamma = s * sqrt(nnd_pymax(0.0, pow(theta / s, 2) - (*dx / s) * (dp / s)));
        if (*stp > *stx) gamma = -gamma;
        p = (gamma - dp) + theta;
        q = (gamma + (*dx - dp)) + gamma;
        r = p / q;
        if (r < 0 && gamma != 0)
            stpc = *stp + r * (*stx - *stp);
        else if (*stp > *stx)
            stpc = stpmax;
        else
            stpc = stpmin;
        stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        if (*brackt) {
            if (fabs(stpc - *stp) < fabs(stpq - *stp))
                stpf = stpc;
            else
                stpf = stpq;
            if (*stp > *stx)
                stpf = nnd_pymin(*stp + 0.66 * (*sty - *stp), stpf);
            else
                stpf = nnd_pymax(*stp + 0.66 * (*sty - *stp), stpf);
        } else {
            if (fabs(stpc - *stp) > fabs(stpq - *stp))
                stpf = stpc;
            else
                stpf = stpq;
            stpf = nnd_clip(stpf, stpmin, stpmax);
        }
    } else {
        if (*brackt) {
            theta = 3.0 * (fp - *fy) / (*sty - *stp) + *dy + dp;
            s = nnd_pymax(nnd_pymax(fabs(theta), fabs(*dy)), fabs(dp));
            gamma = s * sqrt(pow(theta / s, 2) - (*dy / s) * (dp / s));
            if (*stp > *sty) gamma = -gamma;
            p = (gamma - dp) + theta;
            q = ((gamma - dp) + gamma) + *dy;
            r = p / q;
            stpc = *stp + r * (*sty - *stp);
            stpf = stpc;
        } else if (*stp > *stx) {
            stpf = stpmax;
        } else {
            stpf = stpmin;
        }
    }

    if (fp > *fx) {
        *sty = *stp;
        *fy = fp;
        *dy = dp;
    } else {
        if (sgnd < 0) {
            *sty = *stx;
            *fy = *fx;
            *dy = *dx;
        }
        *stx = *stp;
        *fx = fp;
        *dx = dp;
    }
    *stp = stpf;
}

/* -- MINPACK-2 dcsrch (scipy's DCSRCH._iterate) --------------------------- */

enum { NND_TASK_START, NND_TASK_FG, NND_TASK_CONV, NND_TASK_WARN, NND_TASK_ERROR };

typedef struct {
    double ftol, gtol, xtol, stpmin, stpmax;
    int brackt, stage;
    double ginit, gtest, gx, gy, finit, fx, fy, stx, sty, stmin, stmax, width, width1;
} nnd_dcsrch;

/* One call of DCSRCH._iterate: updates *stp; returns the new task. */
static int nnd_dcsrch_iterate(nnd_dcsrch *d, double *stp, double f, double g, int task)
{
    const double p5 = 0.5, p66 = 0.66, xtrapl = 1.1, xtrapu = 4.0;
    double ftest, fm, fxm, fym, gm, gxm, gym;
    int warn = 0;

    if (task == NND_TASK_START) {
        int error = 0;
        if (*stp < d->stpmin) error = 1;
        if (*stp > d->stpmax) error = 1;
        if (g >= 0) error = 1;
        if (d->ftol < 0) error = 1;
        if (d->gtol < 0) error = 1;
        if (d->xtol < 0) error = 1;
        if (d->stpmin < 0) error = 1;
        if (d->stpmax < d->stpmin) error = 1;
        if (error) return NND_TASK_ERROR;
        d->brackt = 0;
        d->stage = 1;
        d->finit = f;
        d->ginit = g;
        d->gtest = d->ftol * d->ginit;
        d->width = d->stpmax - d->stpmin;
        d->width1 = d->width / p5;
        d->stx = 0.0;
        d->fx = d->finit;
        d->gx = d->ginit;
        d->sty = 0.0;
        d->fy = d->finit;
        d->gy = d->ginit;
        d->stmin = 0;
        d->stmax = *stp + xtrapu * *stp;
        return NND_TASK_FG;
    }

    ftest = d->finit + *stp * d->gtest;
    if (d->stage == 1 && f <= ftest && g >= 0) d->stage = 2;

    if (d->brackt && (*stp <= d->stmin || *stp >= d->stmax)) warn = 1;
    if (d->brackt && d->stmax - d->stmin <= d->xtol * d->stmax) warn = 1;
    if (*stp == d->stpmax && f <= ftest && g <= d->gtest) warn = 1;
    if (*stp == d->stpmin && (f > ftest || g >= d->gtest)) warn = 1;
    /* scipy sets task in that order, so convergence overrides a warning */
    if (f <= ftest && fabs(g) <= d->gtol * -d->ginit) return NND_TASK_CONV;
    if (warn) return NND_TASK_WARN;

    if (d->stage == 1 && f <= d->fx && f > ftest) {
        fm = f - *stp * d->gtest;
        fxm = d->fx - d->stx * d->gtest;
        fym = d->fy - d->sty * d->gtest;
        gm = g - d->gtest;
        gxm = d->gx - d->gtest;
        gym = d->gy - d->gtest;
        nnd_dcstep(&d->stx, &fxm, &gxm, &d->sty, &fym, &gym, stp, fm, gm, &d->brackt,
                   d->stmin, d->stmax);
        d->fx = fxm + d->stx * d->gtest;
        d->fy = fym + d->sty * d->gtest;
        d->gx = gxm + d->gtest;
        d->gy = gym + d->gtest;
    } else {
        nnd_dcstep(&d->stx, &d->fx, &d->gx, &d->sty, &d->fy, &d->gy, stp, f, g, &d->brackt,
                   d->stmin, d->stmax);
    }

    if (d->brackt) {
        if (fabs(d->sty - d->stx) >= p66 * d->width1)
            *stp = d->stx + p5 * (d->sty - d->stx);
        d->width1 = d->width;
        d->width = fabs(d->sty - d->stx);
    }
    if (d->brackt) {
        d->stmin = nnd_pymin(d->stx, d->sty);
        d->stmax = nnd_pymax(d->stx, d->sty);
    } else {
        d->stmin = *stp + xtrapl * (*stp - d->stx);
        d->stmax = *stp + xtrapu * (*stp - d->stx);
    }
    *stp = nnd_clip(*stp, d->stpmin, d->stpmax);
    if ((d->brackt && (*stp <= d->stmin || *stp >= d->stmax))
        || (d->brackt && d->stmax - d->stmin <= d->xtol * d->stmax))
        *stp = d->stx;
    return NND_TASK_FG;
}

/* scalar_search_wolfe1's first trial step, and scalar_search_wolfe2's before
 * its amax cap (the same formula; wolfe1 takes min(1, .) then resets < 0). */
static inline double nnd_alpha1(double phi0, double old_phi0, double derphi0)
{
    double alpha1 = 1.0;
    if (derphi0 != 0) alpha1 = nnd_pymin(1.0, 1.01 * 2 * (phi0 - old_phi0) / derphi0);
    if (alpha1 < 0) alpha1 = 1.0;
    return alpha1;
}

/* line_search_wolfe1 with scalar_search_wolfe1 and DCSRCH.__call__.
 * Returns 1 with *stp_out, *phi_out on success, 0 if no step (scipy's None). */
static int nnd_wolfe1(nnd_line *L, double phi0, double old_phi0, double derphi0,
                      double c1, double c2, double amax, double amin, double xtol,
                      double *stp_out, double *phi_out)
{
    nnd_dcsrch d;
    double alpha1 = nnd_alpha1(phi0, old_phi0, derphi0);
    double stp, phi1 = phi0, derphi1 = derphi0;
    int task = NND_TASK_START, i;

    d.ftol = c1;
    d.gtol = c2;
    d.xtol = xtol;
    d.stpmin = amin;
    d.stpmax = amax;
    for (i = 0; i < 100; i++) {
        stp = alpha1;
        task = nnd_dcsrch_iterate(&d, &stp, phi1, derphi1, task);
        if (!isfinite(stp)) return 0;
        if (task != NND_TASK_FG) break;
        alpha1 = stp;
        phi1 = nnd_phi(L, stp);
        if (L->err) return 0;
        derphi1 = nnd_derphi(L, stp);
        if (L->err) return 0;
    }
    if (i == 100 || task != NND_TASK_CONV) return 0;
    *stp_out = stp;
    *phi_out = phi1;
    return 1;
}

/* _cubicmin: minimizer of the cubic through (a, fa) with slope fpa, (b, fb)
 * and (c, fc); 0 (scipy's None) where numpy would raise or the result is not
 * finite.  The 2x2 np.dot is unchecked in numpy too. */
static int nnd_cubicmin(double a, double fa, double fpa, double b, double fb, double c,
                        double fc, double *xmin)
{
    int bad = 0;
    double C = fpa, db, dc, denom, t, d00, d01, d10, d11, v0, v1, A, B, radical, sq, num, den;
    db = nnd_chk(b - a, b, a, &bad);
    dc = nnd_chk(c - a, c, a, &bad);
    t = nnd_chk(db * dc, db, dc, &bad);
    t = nnd_chk(pow(t, 2), t, 2, &bad);
    denom = nnd_chk(t * nnd_chk(db - dc, db, dc, &bad), t, db - dc, &bad);
    d00 = nnd_chk(pow(dc, 2), dc, 2, &bad);
    d01 = -nnd_chk(pow(db, 2), db, 2, &bad);
    d10 = -nnd_chk(pow(dc, 3), dc, 3, &bad);
    d11 = nnd_chk(pow(db, 3), db, 3, &bad);
    t = nnd_chk(C * db, C, db, &bad);
    v0 = nnd_chk(fb - fa, fb, fa, &bad);
    v0 = nnd_chk(v0 - t, v0, t, &bad);
    t = nnd_chk(C * dc, C, dc, &bad);
    v1 = nnd_chk(fc - fa, fc, fa, &bad);
    v1 = nnd_chk(v1 - t, v1, t, &bad);
    A = d00 * v0 + d01 * v1;
    B = d10 * v0 + d11 * v1;
    A = nnd_chk(A / denom, A, denom, &bad);
    B = nnd_chk(B / denom, B, denom, &bad);
    t = nnd_chk(B * B, B, B, &bad);
    radical = nnd_chk(3 * A, 3, A, &bad);
    radical = nnd_chk(radical * C, radical, C, &bad);
    radical = nnd_chk(t - radical, t, radical, &bad);
    sq = nnd_chk(sqrt(radical), radical, 0, &bad);
    num = nnd_chk(-B + sq, -B, sq, &bad);
    den = nnd_chk(3 * A, 3, A, &bad);
    t = nnd_chk(num / den, num, den, &bad);
    t = nnd_chk(a + t, a, t, &bad);
    if (bad || !isfinite(t)) return 0;
    *xmin = t;
    return 1;
}

/* _quadmin: minimizer of the quadratic through (a, fa) with slope fpa and
 * (b, fb); 0 as _cubicmin. */
static int nnd_quadmin(double a, double fa, double fpa, double b, double fb, double *xmin)
{
    int bad = 0;
    double D = fa, C = fpa, db, B, t, u;
    t = nnd_chk(a * 1.0, a, 1.0, &bad);
    db = nnd_chk(b - t, b, t, &bad);
    t = nnd_chk(fb - D, fb, D, &bad);
    u = nnd_chk(C * db, C, db, &bad);
    t = nnd_chk(t - u, t, u, &bad);
    u = nnd_chk(db * db, db, db, &bad);
    B = nnd_chk(t / u, t, u, &bad);
    u = nnd_chk(2.0 * B, 2.0, B, &bad);
    t = nnd_chk(C / u, C, u, &bad);
    t = nnd_chk(a - t, a, t, &bad);
    if (bad || !isfinite(t)) return 0;
    *xmin = t;
    return 1;
}

/* _zoom (Nocedal & Wright Algorithm 3.6 as scipy writes it).  Returns 1 with
 * the step, its phi and derphi, or 0 (None). */
static int nnd_zoom(nnd_line *L, double a_lo, double a_hi, double phi_lo, double phi_hi,
                    double derphi_lo, double phi0, double derphi0, double c1, double c2,
                    double *a_star, double *val_star)
{
    const int maxiter = 10;
    const double delta1 = 0.2, delta2 = 0.1;
    double phi_rec = phi0, a_rec = 0, dalpha, a, b, a_j = 0, cchk = 0, qchk, phi_aj,
           derphi_aj;
    int i = 0, have_cubic;

    for (;;) {
        dalpha = a_hi - a_lo;
        if (dalpha < 0) {
            a = a_hi;
            b = a_lo;
        } else {
            a = a_lo;
            b = a_hi;
        }
        have_cubic = 0;
        if (i > 0) {
            cchk = delta1 * dalpha;
            have_cubic = nnd_cubicmin(a_lo, phi_lo, derphi_lo, a_hi, phi_hi, a_rec, phi_rec,
                                      &a_j);
        }
        if (i == 0 || !have_cubic || a_j > b - cchk || a_j < a + cchk) {
            qchk = delta2 * dalpha;
            if (!nnd_quadmin(a_lo, phi_lo, derphi_lo, a_hi, phi_hi, &a_j)
                || a_j > b - qchk || a_j < a + qchk)
                a_j = a_lo + 0.5 * dalpha;
        }

        phi_aj = nnd_phi(L, a_j);
        if (L->err) return 0;
        if (phi_aj > phi0 + c1 * a_j * derphi0 || phi_aj >= phi_lo) {
            phi_rec = phi_hi;
            a_rec = a_hi;
            a_hi = a_j;
            phi_hi = phi_aj;
        } else {
            derphi_aj = nnd_derphi(L, a_j);
            if (L->err) return 0;
            if (fabs(derphi_aj) <= -c2 * derphi0) {
                *a_star = a_j;
                *val_star = phi_aj;
                return 1;
            }
            if (derphi_aj * (a_hi - a_lo) >= 0) {
                phi_rec = phi_hi;
                a_rec = a_hi;
                a_hi = a_lo;
                phi_hi = phi_lo;
            } else {
                phi_rec = phi_lo;
                a_rec = a_lo;
            }
            a_lo = a_j;
            phi_lo = phi_aj;
            derphi_lo = derphi_aj;
        }
        i += 1;
        if (i > maxiter) return 0;
    }
}

/* line_search_wolfe2 / scalar_search_wolfe2 (maxiter 10, no extra condition).
 * Returns 0 if no step (scipy's None), else 1 with the step and its phi;
 * *have_grad is 0 when the step came from running out of iterations (scipy
 * then evaluates the gradient itself). */
static int nnd_wolfe2(nnd_line *L, double phi0, double old_phi0, double derphi0, double c1,
                      double c2, double amax, double *a_star, double *phi_star,
                      int *have_grad)
{
    double alpha0 = 0, alpha1, alpha2, phi_a0, phi_a1, derphi_a0, derphi_a1;
    int i;

    alpha1 = nnd_alpha1(phi0, old_phi0, derphi0);
    alpha1 = nnd_pymin(alpha1, amax);
    phi_a1 = nnd_phi(L, alpha1);
    if (L->err) return 0;
    phi_a0 = phi0;
    derphi_a0 = derphi0;
    *have_grad = 1;

    for (i = 0; i < 10; i++) {
        if (alpha1 == 0 || alpha0 > amax) return 0;
        if (phi_a1 > phi0 + c1 * alpha1 * derphi0 || (phi_a1 >= phi_a0 && i > 0))
            return nnd_zoom(L, alpha0, alpha1, phi_a0, phi_a1, derphi_a0, phi0, derphi0, c1,
                            c2, a_star, phi_star);
        derphi_a1 = nnd_derphi(L, alpha1);
        if (L->err) return 0;
        if (fabs(derphi_a1) <= -c2 * derphi0) {
            *a_star = alpha1;
            *phi_star = phi_a1;
            return 1;
        }
        if (derphi_a1 >= 0)
            return nnd_zoom(L, alpha1, alpha0, phi_a1, phi_a0, derphi_a1, phi0, derphi0, c1,
                            c2, a_star, phi_star);
        alpha2 = 2 * alpha1;
        alpha2 = nnd_pymin(alpha2, amax);
        alpha0 = alpha1;
        alpha1 = alpha2;
        phi_a0 = phi_a1;
        phi_a1 = nnd_phi(L, alpha1);
        if (L->err) return 0;
        derphi_a0 = derphi_a1;
    }
    *a_star = alpha1;
    *phi_star = phi_a1;
    *have_grad = 0;
    return 1;
}

/* _line_search_wolfe12 as _minimize_bfgs calls it (amin 1e-100, amax 1e100,
 * xtol 1e-14).  Returns 1 with alpha and the new f, 0 if both searches
 * failed (scipy's _LineSearchError). */
static int nnd_line_search(nnd_line *L, double c1, double c2, double old_fval,
                           double old_old_fval, double derphi0, double *alpha,
                           double *fnew, int *have_grad)
{
    *have_grad = 1;
    if (nnd_wolfe1(L, old_fval, old_old_fval, derphi0, c1, c2, 1e100, 1e-100, 1e-14, alpha,
                   fnew))
        return 1;
    if (L->err) return 0;
    return nnd_wolfe2(L, old_fval, old_old_fval, derphi0, c1, c2, 1e100, alpha, fnew,
                      have_grad);
}

/* _minimize_bfgs.  x (n,): x0 in, the last iterate out (also after an abort).
 * g (n,): the gradient there.  H (n, n): the inverse-Hessian estimate.
 * work: NND_BFGS_WORK(n) doubles.  Returns NND_BFGS_OK, or NND_BFGS_ABORTED if
 * the objective or the callback aborted (r's counts are then partial). */
static int nnd_bfgs(nnd_bfgs_run *r, double *x, double *g, double *H, double *work)
{
    const int64_t n = r->n;
    nnd_sf sf;
    nnd_line L;
    double *p = work, *s = work + 2 * n, *yk = work + 3 * n, *u = work + 4 * n,
           *v = work + 5 * n, *xt = work + 6 * n;
    double old_fval, old_old_fval, gnorm, alpha = 0, fnew = 0, derphi0, rhok_inv, rhok,
           c, coef, pn, xn, t;
    int64_t i, j, k = 0;
    int have_grad, cbr, aborted = 0;

    sf.fg = r->fg;
    sf.ctx = r->ctx;
    sf.n = n;
    sf.x = work + 7 * n;
    sf.g = work + 8 * n;
    memcpy(sf.x, x, (size_t)n * sizeof(double));
    sf.f_upd = sf.g_upd = sf.have = 0;
    sf.nfev = sf.ngev = 0;
    r->halted = 0;
    r->warnflag = 0;
    r->rhok_events = 0;

    /* ScalarFunction.__init__ evaluates f and g at x0, then BFGS asks again */
    if (nnd_sf_update_fun(&sf) || nnd_sf_update_grad(&sf)
        || nnd_sf_fun(&sf, x, &old_fval) || nnd_sf_grad(&sf, x)) {
        aborted = 1;
        goto done;
    }
    memcpy(g, sf.g, (size_t)n * sizeof(double));
    for (i = 0; i < n * n; i++) H[i] = 0.0;
    for (i = 0; i < n; i++) H[i * n + i] = 1.0;
    /* "Sets the initial step guess to dx ~ 1" */
    old_old_fval = old_fval + sqrt(nnd_dot(g, g, n)) / 2;

    gnorm = 0.0;
    for (i = 0; i < n; i++) {
        if (isnan(g[i])) { gnorm = g[i]; break; }      /* np.amax propagates NaN */
        if (fabs(g[i]) > gnorm) gnorm = fabs(g[i]);
    }

    L.sf = &sf;
    L.xk = x;
    L.pk = p;
    L.xt = xt;
    L.err = 0;
    while (gnorm > r->gtol && k < r->maxiter) {
        for (i = 0; i < n; i++) p[i] = -nnd_dot(H + i * n, g, n);
        derphi0 = nnd_dot(g, p, n);
        if (!nnd_line_search(&L, r->c1, r->c2, old_fval, old_old_fval, derphi0, &alpha,
                             &fnew, &have_grad)) {
            if (L.err) { aborted = 1; goto done; }
            r->warnflag = 2;
            break;
        }
        old_old_fval = old_fval;
        old_fval = fnew;

        for (i = 0; i < n; i++) {
            s[i] = alpha * p[i];
            x[i] = x[i] + s[i];
        }
        if (!have_grad && nnd_sf_grad(&sf, x)) { aborted = 1; goto done; }
        for (i = 0; i < n; i++) {
            yk[i] = sf.g[i] - g[i];
            g[i] = sf.g[i];
        }
        k += 1;
        if (r->cb != NULL) {
            cbr = r->cb(r->ctx, k, x, old_fval);
            if (cbr < 0) { aborted = 1; goto done; }
            if (cbr > 0) { r->halted = 1; break; }
        }
        gnorm = 0.0;
        for (i = 0; i < n; i++) {
            if (isnan(g[i])) { gnorm = g[i]; break; }
            if (fabs(g[i]) > gnorm) gnorm = fabs(g[i]);
        }
        if (gnorm <= r->gtol) break;

        pn = sqrt(nnd_dot(p, p, n));
        xn = sqrt(nnd_dot(x, x, n));
        if (alpha * pn <= r->xrtol * (r->xrtol + xn)) break;

        if (!isfinite(old_fval)) {
            r->warnflag = 2;
            break;
        }

        rhok_inv = nnd_dot(yk, s, n);
        if (rhok_inv == 0.) {
            rhok = 1000.0;
            r->rhok_events++;
        } else {
            rhok = 1. / rhok_inv;
        }
        /* (I - rho s y^T) H (I - rho y s^T) + rho s s^T, expanded:
         * H - rho s (H^T y)^T - rho (H y) s^T + (rho^2 y^T H y + rho) s s^T */
        for (i = 0; i < n; i++) {
            u[i] = nnd_dot(H + i * n, yk, n);        /* H y */
            v[i] = 0.0;
        }
        for (i = 0; i < n; i++)                      /* H^T y */
            for (j = 0; j < n; j++) v[j] += yk[i] * H[i * n + j];
        c = nnd_dot(yk, u, n);
        coef = rhok * rhok * c + rhok;
        for (i = 0; i < n; i++) {
            t = s[i];
            for (j = 0; j < n; j++)
                H[i * n + j] += coef * t * s[j] - rhok * (t * v[j] + u[i] * s[j]);
        }
    }

    r->fun = old_fval;
    if (r->warnflag != 2) {
        if (k >= r->maxiter) {
            r->warnflag = 1;
        } else {
            int nan = isnan(gnorm) || isnan(old_fval);
            for (i = 0; i < n && !nan; i++) nan = isnan(x[i]);
            if (nan) r->warnflag = 3;
        }
    }
done:
    r->nit = k;
    r->nfev = sf.nfev;
    r->njev = sf.ngev;
    return aborted ? NND_BFGS_ABORTED : NND_BFGS_OK;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#endif /* NNDFAST_BFGS_H */
