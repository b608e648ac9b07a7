/*
 * Per-chunk math of the network kernels (_network.pyx drives these).
 *
 * Why several shapes of the same loops: with the tutorial's shapes a row has
 * only 2 inputs and 3 hidden units, so loops over a row's units are too short
 * to vectorize unless their length is a compile-time constant.  So:
 *  - narrow layers (1..NND_FLAT_MAX_H hidden units, every op) get copies
 *    with the widths as constants (nnd_forward_flat, nnd_grad_flat); they
 *    write the row-major outputs directly, and every sigmoid pass runs over
 *    one contiguous run of the chunk's values;
 *  - wide layers go row by row for forward and cost (nnd_forward_rows), where
 *    a row's units are a long contiguous run;
 *  - backprop of the layers in between works column by column on transposed
 *    scratch (nnd_forward_chunk, nnd_grad_chunk), where every inner loop runs
 *    over rows.
 * Every path forms each value by the same operations in the same order, so
 * they agree bit for bit.  Inner loops vectorize under `#pragma omp simd`
 * with the branch-free sigmoid; wider SIMD is picked at load time by
 * NND_TARGET_CLONES.
 *
 * Sums over rows inside a chunk use `omp simd reduction`, so their order
 * depends on the vector width of the clone that runs (i.e. on the CPU), but
 * never on the thread count.
 */
#ifndef NNDFAST_NETWORK_H
#define NNDFAST_NETWORK_H

#include <stdint.h>
#include "_fastmath.h"

/* Scratch doubles nnd_forward_chunk / nnd_grad_chunk need for n rows. */
#define NND_FORWARD_SCRATCH(n, H, O) (2 * ((H) + (O)) * (n))
#define NND_GRAD_SCRATCH(n, H, O) (4 * ((H) + (O)) * (n))

/* dst (n, cols) row-major from src (cols, n): consecutive stores, one pass
 * (stores that stride across rows would touch every line `cols` times).
 * The narrow layers get a copy with `cols` a constant: only then does the
 * compiler vectorize the interleaving (and with `restrict`), where the
 * generic loop runs a scalar load and store per value, a third of a
 * tutorial-size forward pass's time. */
#define NND_UNTRANSPOSE_K(K)                                                    \
    for (e = 0; e < n; e++)                                                     \
        for (c = 0; c < (K); c++)                                               \
            dst[e * (K) + c] = src[c * n + e]
static inline void nnd_untranspose(const double *NND_RESTRICT src, double *NND_RESTRICT dst,
                                   int64_t n, int64_t cols)
{
    int64_t e, c;
    switch (cols) {
    case 1: memcpy(dst, src, (size_t) n * sizeof(double)); return;
    case 2: NND_UNTRANSPOSE_K(2); return;
    case 3: NND_UNTRANSPOSE_K(3); return;
    case 4: NND_UNTRANSPOSE_K(4); return;
    default: NND_UNTRANSPOSE_K(cols); return;
    }
}

/* Forward pass of n rows for narrow hidden layers (every op; the
 * tutorial's H = 3), straight into the row-major outputs: z2 one input at a time
 * (separate passes, as in nnd_forward_chunk: a fused row loop lets the
 * compiler contract the sum into another fused multiply-add), then one sigmoid pass over the chunk's n*nh contiguous z2 values, then z3
 * and one sigmoid pass over yhat.  NH (the hidden units) is a constant in
 * each copy, so the short per-row loops unroll and vectorize.  Each value is
 * formed by the same operations in the same order as in nnd_forward_chunk,
 * whose transposed scratch and copy-out this skips (at 1e5 rows and
 * H = 3 that took half the time). */
#define NND_FORWARD_FLAT(NI, NH, NO)                                            \
    for (e = 0; e < n; e++)                                                     \
        for (h = 0; h < (NH); h++) z2[e * (NH) + h] = X[e * (NI)] * W1[h];      \
    for (i = 1; i < (NI); i++)                                                  \
        for (e = 0; e < n; e++)                                                 \
            for (h = 0; h < (NH); h++)                                          \
                z2[e * (NH) + h] += X[e * (NI) + i] * W1[i * (NH) + h];         \
    if (sp != NULL) {                                                           \
        _Pragma("omp simd")                                                     \
        for (k = 0; k < n * (NH); k++)                                          \
            a2[k] = nnd_sigmoid_and_prime(z2[k], &sp[k]);                       \
    } else {                                                                    \
        _Pragma("omp simd")                                                     \
        for (k = 0; k < n * (NH); k++) a2[k] = nnd_sigmoid(z2[k]);              \
    }                                                                           \
    for (o = 0; o < (NO); o++) {                                                \
        double w = W2[o];                                                       \
        _Pragma("omp simd")                                                     \
        for (e = 0; e < n; e++) z3[e * (NO) + o] = a2[e * (NH)] * w;            \
        for (h = 1; h < (NH); h++) {                                            \
            w = W2[h * (NO) + o];                                               \
            _Pragma("omp simd")                                                 \
            for (e = 0; e < n; e++) z3[e * (NO) + o] += a2[e * (NH) + h] * w;   \
        }                                                                       \
    }                                                                           \
    if (sp != NULL) {                                                           \
        _Pragma("omp simd")                                                     \
        for (k = 0; k < n * (NO); k++)                                          \
            yhat[k] = nnd_sigmoid_and_prime(z3[k], &sp[n * (NH) + k]);          \
    } else {                                                                    \
        _Pragma("omp simd")                                                     \
        for (k = 0; k < n * (NO); k++) yhat[k] = nnd_sigmoid(z3[k]);            \
    }

/* sp: NULL, or (nh + no) * n doubles that get sigmoid'(z2) and sigmoid'(z3),
 * row-major like z2 and z3, for nnd_grad_flat. */

/* Hidden layers up to this wide take nnd_forward_flat and nnd_grad_flat. */
#define NND_FLAT_MAX_H 4

/* Runs BODY(NI, NH, NO) with the hidden width nh (1..NND_FLAT_MAX_H, which
 * callers guarantee) as a constant; the tutorial's 2 inputs and 1 output get
 * their own copies, where the row loops are fixed-length and z3, yhat plain
 * contiguous runs (a fifth faster than the copies with ni and no unknown). */
#define NND_NARROW_COPIES(BODY)                                                 \
    do {                                                                        \
        if (ni == 2 && no == 1) {                                               \
            switch (nh) {                                                       \
            case 1: BODY(2, 1, 1); return;                                      \
            case 2: BODY(2, 2, 1); return;                                      \
            case 3: BODY(2, 3, 1); return;                                      \
            case 4: BODY(2, 4, 1); return;                                      \
            }                                                                   \
        }                                                                       \
        switch (nh) {                                                           \
        case 1: BODY(ni, 1, no); return;                                        \
        case 2: BODY(ni, 2, no); return;                                        \
        case 3: BODY(ni, 3, no); return;                                        \
        case 4: BODY(ni, 4, no); return;                                        \
        }                                                                       \
    } while (0)
NND_TARGET_CLONES
static void nnd_forward_flat(const double *NND_RESTRICT X, const double *NND_RESTRICT W1,
                             const double *NND_RESTRICT W2, double *NND_RESTRICT z2,
                             double *NND_RESTRICT a2, double *NND_RESTRICT z3,
                             double *NND_RESTRICT yhat, int64_t n, int64_t ni, int64_t nh,
                             int64_t no, double *NND_RESTRICT sp)
{
    int64_t e, i, h, o, k;
    NND_NARROW_COPIES(NND_FORWARD_FLAT);
}

/* Forward pass of n rows.  X (n, ni), z2/a2 (n, nh), z3/yhat (n, no) point at
 * the chunk's first row.  t: NND_FORWARD_SCRATCH doubles; on return it holds
 * z2, a2, z3, yhat transposed, in that order (nnd_grad_chunk reuses them).
 * sp: NULL, or (nh + no) * n doubles that get sigmoid'(z2) and sigmoid'(z3),
 * transposed, from the same exponentials (else backprop takes a second
 * exponential per unit). */
NND_TARGET_CLONES
static void nnd_forward_chunk(const double *X, const double *W1, const double *W2,
                              double *z2, double *a2, double *z3, double *yhat,
                              int64_t n, int64_t ni, int64_t nh, int64_t no, double *t,
                              double *sp)
{
    double *z2t = t, *a2t = t + nh * n, *z3t = t + 2 * nh * n, *yt = z3t + no * n;
    int64_t e, i, h, o;
    for (h = 0; h < nh; h++) {
        double *zh = z2t + h * n, *ah = a2t + h * n;
        double w = W1[h];
#pragma omp simd
        for (e = 0; e < n; e++) zh[e] = X[e * ni] * w;
        for (i = 1; i < ni; i++) {
            w = W1[i * nh + h];
#pragma omp simd
            for (e = 0; e < n; e++) zh[e] += X[e * ni + i] * w;
        }
        if (sp != NULL) {
            double *ph = sp + h * n;
#pragma omp simd
            for (e = 0; e < n; e++) ah[e] = nnd_sigmoid_and_prime(zh[e], &ph[e]);
        } else {
#pragma omp simd
            for (e = 0; e < n; e++) ah[e] = nnd_sigmoid(zh[e]);
        }
    }
    nnd_untranspose(z2t, z2, n, nh);
    nnd_untranspose(a2t, a2, n, nh);
    for (o = 0; o < no; o++) {
        double *zo = z3t + o * n, *yo = yt + o * n;
        double w = W2[o];
#pragma omp simd
        for (e = 0; e < n; e++) zo[e] = a2t[e] * w;
        for (h = 1; h < nh; h++) {
            const double *ah = a2t + h * n;
            w = W2[h * no + o];
#pragma omp simd
            for (e = 0; e < n; e++) zo[e] += ah[e] * w;
        }
        if (sp != NULL) {
            double *po = sp + (nh + o) * n;
#pragma omp simd
            for (e = 0; e < n; e++) yo[e] = nnd_sigmoid_and_prime(zo[e], &po[e]);
        } else {
#pragma omp simd
            for (e = 0; e < n; e++) yo[e] = nnd_sigmoid(zo[e]);
        }
    }
    nnd_untranspose(z3t, z3, n, no);
    nnd_untranspose(yt, yhat, n, no);
}

/* Forward pass of n rows for wide hidden layers (the large calls' path for
 * forward and cost, see _network.pyx's _chunk).  Same arguments, same
 * numbers (each value is formed by the same operations in the same order)
 * and the same yhat-transposed result in t as nnd_forward_chunk, but worked
 * row by row: a row's nh hidden units are one contiguous run that
 * vectorizes and goes straight into z2/a2.  nnd_forward_chunk's column
 * passes instead store z2/a2 one strided element at a time, and with many
 * hidden units a chunk's rows no longer fit in L1, so every such store
 * misses; that, not the arithmetic, was the cost of wide layers.  z3 is
 * summed over hidden units in order, NND_TILE rows at a time while their a2
 * rows are still in L1.  t's z2/a2 parts are left unwritten. */
#define NND_TILE 8
NND_TARGET_CLONES
static void nnd_forward_rows(const double *X, const double *W1, const double *W2,
                             double *z2, double *a2, double *z3, double *yhat,
                             int64_t n, int64_t ni, int64_t nh, int64_t no, double *t)
{
    double *z3t = t + 2 * nh * n, *yt = z3t + no * n;
    double acc[NND_TILE];
    int64_t e0, e, i, h, o, r, m;
    for (e0 = 0; e0 < n; e0 += NND_TILE) {
        m = n - e0 < NND_TILE ? n - e0 : NND_TILE;
        for (e = e0; e < e0 + m; e++) {
            const double *x = X + e * ni;
            double *zr = z2 + e * nh, *ar = a2 + e * nh;
            double xi = x[0];
#pragma omp simd
            for (h = 0; h < nh; h++) zr[h] = xi * W1[h];
            for (i = 1; i < ni; i++) {
                const double *w = W1 + i * nh;
                xi = x[i];
#pragma omp simd
                for (h = 0; h < nh; h++) zr[h] += xi * w[h];
            }
#pragma omp simd
            for (h = 0; h < nh; h++) ar[h] = nnd_sigmoid(zr[h]);
        }
        for (o = 0; o < no; o++) {
            const double *ar = a2 + e0 * nh;
            double w = W2[o];
            for (r = 0; r < m; r++) acc[r] = ar[r * nh] * w;
            for (h = 1; h < nh; h++) {
                w = W2[h * no + o];
                for (r = 0; r < m; r++) acc[r] += ar[r * nh + h] * w;
            }
            for (r = 0; r < m; r++) z3t[o * n + e0 + r] = acc[r];
        }
    }
    for (o = 0; o < no; o++) {
        const double *zo = z3t + o * n;
        double *yo = yt + o * n;
#pragma omp simd
        for (e = 0; e < n; e++) yo[e] = nnd_sigmoid(zo[e]);
    }
    nnd_untranspose(z3t, z3, n, no);
    nnd_untranspose(yt, yhat, n, no);
}

/* J of n rows: J[o] = sum 0.5*(y - yhat)^2.  y and yhat (n, no), row-major
 * (the outputs every forward path writes). */
NND_TARGET_CLONES
static void nnd_cost_chunk(const double *y, const double *yhat, int64_t n, int64_t no,
                           double *J)
{
    int64_t e, o;
    for (o = 0; o < no; o++) {
        double s = 0.0;
#pragma omp simd reduction(+:s)
        for (e = 0; e < n; e++) {
            double d = y[e * no + o] - yhat[e * no + o];
            s += 0.5 * d * d;
        }
        J[o] = s;
    }
}

/* Backprop of n rows after nnd_forward_chunk filled t's first part and,
 * as sp, t + 3 * (nh + no) * n.
 * Writes this chunk's sums: g1 (ni, nh) = X^T delta2, g2 (nh, no) = a2^T delta3,
 * J (no,).  t: NND_GRAD_SCRATCH doubles. */
NND_TARGET_CLONES
static void nnd_grad_chunk(const double *X, const double *y, const double *W2,
                           int64_t n, int64_t ni, int64_t nh, int64_t no, double *t,
                           double *g1, double *g2, double *J)
{
    const double *a2t = t + nh * n, *yt = t + (2 * nh + no) * n;
    double *d2t = t + 2 * (nh + no) * n, *d3t = d2t + nh * n;
    const double *sp2t = t + 3 * (nh + no) * n, *sp3t = sp2t + nh * n;
    int64_t e, i, h, o;
    for (o = 0; o < no; o++) {
        const double *po = sp3t + o * n, *yo = yt + o * n;
        double *d3 = d3t + o * n;
        double s = 0.0;
#pragma omp simd reduction(+:s)
        for (e = 0; e < n; e++) {
            double d = y[e * no + o] - yo[e];
            s += 0.5 * d * d;
            d3[e] = -d * po[e];     /* delta3 */
        }
        J[o] = s;
    }
    for (h = 0; h < nh; h++) {
        const double *ah = a2t + h * n, *ph = sp2t + h * n;
        double *d2 = d2t + h * n;
        for (o = 0; o < no; o++) {
            const double *d3 = d3t + o * n;
            double s = 0.0;
#pragma omp simd reduction(+:s)
            for (e = 0; e < n; e++) s += ah[e] * d3[e];
            g2[h * no + o] = s;
        }
        double w = W2[h * no];
#pragma omp simd
        for (e = 0; e < n; e++) d2[e] = d3t[e] * w;
        for (o = 1; o < no; o++) {
            const double *d3 = d3t + o * n;
            w = W2[h * no + o];
#pragma omp simd
            for (e = 0; e < n; e++) d2[e] += d3[e] * w;
        }
#pragma omp simd
        for (e = 0; e < n; e++) d2[e] *= ph[e];   /* delta2 */
        for (i = 0; i < ni; i++) {
            double s = 0.0;
#pragma omp simd reduction(+:s)
            for (e = 0; e < n; e++) s += X[e * ni + i] * d2[e];
            g1[i * nh + h] = s;
        }
    }
}

/* g[i * stride] = sum over rows of X[e, i] * d[e], for each of the ni inputs.
 * Not inlined, so that ni stays unknown to the compiler: where it knows
 * ni = 2 it fuses the two sums into one loop, which adds the rows in another
 * order than nnd_grad_chunk (and the tutorial-size path) does. */
NND_TARGET_CLONES NND_NOINLINE
static void nnd_input_sums(const double *X, const double *d, int64_t n, int64_t ni,
                           double *g, int64_t stride)
{
    int64_t e, i;
    for (i = 0; i < ni; i++) {
        double s = 0.0;
#pragma omp simd reduction(+:s)
        for (e = 0; e < n; e++) s += X[e * ni + i] * d[e];
        g[i * stride] = s;
    }
}

/* Backprop of n rows for narrow hidden layers, after nnd_forward_flat wrote
 * a2 and yhat (row-major, the outputs) and the primes sp = t.  Same sums as
 * nnd_grad_chunk, each formed by the same loop over rows (so the same
 * per-lane partial sums), reading the row-major arrays with a constant
 * stride instead of transposed copies.  t: NND_GRAD_SCRATCH doubles. */
#define NND_GRAD_FLAT(NI, NH, NO)                                               \
    for (o = 0; o < (NO); o++) {                                                \
        double s = 0.0, *d3 = d3t + o * n;                                      \
        _Pragma("omp simd reduction(+:s)")                                      \
        for (e = 0; e < n; e++) {                                               \
            double d = y[e * (NO) + o] - yhat[e * (NO) + o];                    \
            s += 0.5 * d * d;                                                   \
            d3[e] = -d * sp3[e * (NO) + o];     /* delta3 */                    \
        }                                                                       \
        J[o] = s;                                                               \
    }                                                                           \
    for (h = 0; h < (NH); h++) {                                                \
        double w;                                                               \
        for (o = 0; o < (NO); o++) {                                            \
            const double *d3 = d3t + o * n;                                     \
            double s = 0.0;                                                     \
            _Pragma("omp simd reduction(+:s)")                                  \
            for (e = 0; e < n; e++) s += a2[e * (NH) + h] * d3[e];              \
            g2[h * (NO) + o] = s;                                               \
        }                                                                       \
        w = W2[h * (NO)];                                                       \
        _Pragma("omp simd")                                                     \
        for (e = 0; e < n; e++) d2[e] = d3t[e] * w;                             \
        for (o = 1; o < (NO); o++) {                                            \
            const double *d3 = d3t + o * n;                                     \
            w = W2[h * (NO) + o];                                               \
            _Pragma("omp simd")                                                 \
            for (e = 0; e < n; e++) d2[e] += d3[e] * w;                         \
        }                                                                       \
        _Pragma("omp simd")                                                     \
        for (e = 0; e < n; e++) d2[e] *= sp2[e * (NH) + h];   /* delta2 */      \
        nnd_input_sums(X, d2, n, ni, g1 + h, (NH));                             \
    }

NND_TARGET_CLONES
static void nnd_grad_flat(const double *NND_RESTRICT X, const double *NND_RESTRICT y,
                          const double *NND_RESTRICT W2, const double *NND_RESTRICT a2,
                          const double *NND_RESTRICT yhat, int64_t n, int64_t ni, int64_t nh,
                          int64_t no, double *NND_RESTRICT t, double *NND_RESTRICT g1,
                          double *NND_RESTRICT g2, double *NND_RESTRICT J)
{
    const double *sp2 = t, *sp3 = t + nh * n;
    double *d3t = t + (nh + no) * n, *d2 = d3t + no * n;
    int64_t e, i, h, o;
    NND_NARROW_COPIES(NND_GRAD_FLAT);
}

#endif /* NNDFAST_NETWORK_H */
