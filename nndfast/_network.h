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
 *  - wider layers (any I, H, O) take the fused kernel, nnd_net_fused
 *    (_network_impl.h): a chunk in tiles of rows, forward and backward on
 *    one tile while its hidden values are in cache, every inner loop over
 *    the tile's rows.
 * The narrow copies' inner loops vectorize under `#pragma omp simd` with
 * the branch-free sigmoid; wider SIMD is picked at load time by
 * NND_TARGET_CLONES there, and by nnd_net_select() for the fused kernel.
 *
 * The narrow copies' sums over rows use `omp simd reduction`, so their order
 * depends on the vector width of the clone that runs (i.e. on the CPU), but
 * never on the thread count; the fused kernel's order is fixed (8 lanes).
 */
#ifndef NNDFAST_NETWORK_H
#define NNDFAST_NETWORK_H

#include <stdint.h>
#include "_fastmath.h"

/* Scratch doubles the narrow copies need for n rows. */
#define NND_FORWARD_SCRATCH(n, H, O) (2 * ((H) + (O)) * (n))
#define NND_GRAD_SCRATCH(n, H, O) (4 * ((H) + (O)) * (n))

/* Forward pass of n rows for narrow hidden layers (every op; the
 * tutorial's H = 3), straight into the row-major outputs: z2 one input at a time
 * (separate passes: a fused row loop lets the
 * compiler contract the sum into another fused multiply-add), then one sigmoid pass over the chunk's n*nh contiguous z2 values, then z3
 * and one sigmoid pass over yhat.  NH (the hidden units) is a constant in
 * each copy, so the short per-row loops unroll and vectorize.  Each value is
 * formed by the same operations in the same order as in a transposed
 * layout, whose scratch and copy-out this skips (at 1e5 rows and
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

/* g[i * stride] = sum over rows of X[e, i] * d[e], for each of the ni inputs.
 * Not inlined, so that ni stays unknown to the compiler: where it knows
 * ni = 2 it fuses the two sums into one loop, which adds the rows in another
 * order than the tutorial-size path's replays expect. */
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
 * a transposed layout, each formed by the same loop over rows (so the same
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

/* ---- The fused kernel for wider hidden layers (nh > NND_FLAT_MAX_H) ------
 * Its body is in _network_impl.h, compiled once per instruction set and
 * picked at import by nnd_net_select() (_dispatch.h's feature bits). */

enum { NND_NET_FORWARD = 0, NND_NET_COST = 1, NND_NET_GRAD = 2 };

/* Most doubles of one tile's scratch (2 MiB).  Why this large: each hidden
 * unit pays fixed costs per tile (loop entry, the 8-lane sums' tree, the
 * unit's weights), which below about 128 rows per tile cost more than
 * reading the tile's z2/f(z2)/f'(z2) back from L2 or even L3 does; tiles of
 * a whole chunk are the fastest wherever they fit. */
#define NND_NET_TILE_DOUBLES 262144

/* Rows per tile for a chunk of n rows: the chunk rounded up to 8 rows (one
 * 8-lane step of nnd_net_dot), at most 256, halved while the tile's scratch
 * exceeds NND_NET_TILE_DOUBLES, at least 8.  A function of the layer sizes
 * and the chunk's rows alone, so the tiles, and the order of every sum,
 * never depend on the thread count. */
static inline int64_t nnd_net_tile(int64_t ni, int64_t nh, int64_t no, int64_t n) {
    int64_t T = 256;
    while (T > 8 && (ni + 3 * nh + 4 * no + 1) * T > NND_NET_TILE_DOUBLES) T /= 2;
    return T < ((n + 7) & ~(int64_t) 7) ? T : ((n + 7) & ~(int64_t) 7);
}

/* Inputs up to this many take nnd_net_fused's one-pass units (with one output). */
#define NND_NET_UNIT_NI 8

/* The fixed order in which 8 lanes of a sum over rows are combined. */
static inline double nnd_net_tree(const double *s) {
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* One hidden unit's pass over a tile (nnd_net_unit_fwd / _back): the
 * tile's transposed rows XT (ni, T), the unit's weights w1 = W1[:, h] and
 * v = W2[h, 0], its rows z2, f(z2), f'(z2) (zh, ah, ph), the tile's z3 and
 * delta3 (T,), and where its gradient sums go (g2 = &g2[h], g1 = &g1[0, h],
 * row stride nh).  Rows: m real, mp padded to a multiple of 8. */
typedef struct {
    const double *XT, *d3;
    double w1[NND_NET_UNIT_NI], v;
    double *zh, *ah, *ph, *z3, *g1, *g2;
    int64_t T, m, mp, nh;
    int grad, first;
} nnd_net_unit;

/* Scratch doubles nnd_net_fused needs for chunks of up to n rows. */
#define NND_NET_SCRATCH(ni, nh, no, n) \
    (((ni) + 3 * (nh) + 4 * (no) + 1) * nnd_net_tile((ni), (nh), (no), (n)))

#include "_dispatch.h"

#define NND_NET_FN(name) NND_CAT(name, NND_NET_ISA)
#define NND_NET_ISA _base
#define NND_NET_ATTR
#include "_network_impl.h"
#undef NND_NET_ATTR
#undef NND_NET_ISA
#if NND_DISPATCH_X86
#define NND_NET_ISA _avx2
#define NND_NET_ATTR NND_ATTR_AVX2
#include "_network_impl.h"
#undef NND_NET_ATTR
#undef NND_NET_ISA
#define NND_NET_ISA _avx512
#define NND_NET_ATTR NND_ATTR_AVX512
#include "_network_impl.h"
#undef NND_NET_ATTR
#undef NND_NET_ISA
#endif

typedef void (*nnd_net_fused_fn)(const double *, const double *, const double *,
                                 const double *, double *, double *, double *, double *,
                                 int64_t, int64_t, int64_t, int64_t, int, double *, double *);

typedef struct {
    nnd_net_fused_fn fused;
    const char *isa;
} nnd_net_kernels;

/* The build for this CPU: AVX-512, else AVX2+FMA, else baseline. */
static nnd_net_kernels nnd_net_select(void) {
    nnd_net_kernels k = {nnd_net_fused_base, "base"};
#if NND_DISPATCH_X86
    int level = nnd_cpu_level();
    if (level == NND_LEVEL_AVX512) {
        k.fused = nnd_net_fused_avx512;
        k.isa = "avx512";
    } else if (level == NND_LEVEL_AVX2) {
        k.fused = nnd_net_fused_avx2;
        k.isa = "avx2";
    }
#endif
    return k;
}

#endif /* NNDFAST_NETWORK_H */
