/*
 * Per-chunk math of the network kernels (_network.pyx drives these).
 *
 * Two kernels, each compiled once per instruction set (baseline x86-64,
 * AVX2+FMA, AVX-512) from its *_impl.h and picked at import by
 * nnd_net_select() (_dispatch.h's feature bits):
 *  - narrow layers (1..NND_FLAT_MAX_H hidden units, every op, the tutorial's
 *    H = 3): copies with the widths as literals (_network_narrow_impl.h),
 *    since loops over 3 hidden units vectorize only when their length is a
 *    compile-time constant;
 *  - wider layers (any I, H, O): the fused kernel, nnd_net_fused
 *    (_network_impl.h): a chunk in tiles of rows, forward and backward on
 *    one tile while its hidden values are in cache, every inner loop over
 *    the tile's rows.
 * The narrow copies' sums over rows use `omp simd reduction`, so their order
 * depends on the vector width of the build that runs (i.e. on the CPU), but
 * never on the thread count; the fused kernel's order is fixed (8 lanes).
 */
#ifndef NNDFAST_NETWORK_H
#define NNDFAST_NETWORK_H

#include <stdint.h>
#include <stdlib.h>
#include "_fastmath.h"

/* A chunk's scratch, aligned to a 64-byte cache line.  Why: the kernels'
 * tile buffers are whole vectors apart, so with the scratch on a line
 * boundary no AVX-512 load or store straddles two lines; malloc gives 16
 * bytes, and which multiple of 16 depended on the heap's history.  Measured
 * (one thread, C driver of nnd_net_fused): the I = 8, H = 32 gradient at
 * n = 1e4 took 1.22x the time with the scratch 16 bytes off a line, the
 * I = 2, H = 16 gradient 1.10x.  The pointer malloc gave is kept just
 * below the aligned block, for nnd_scratch_free. */
#define NND_SCRATCH_ALIGN 64

static inline double *nnd_scratch_alloc(int64_t m) {
    size_t bytes = (size_t) m * sizeof(double) + NND_SCRATCH_ALIGN + sizeof(void *);
    char *raw = (char *) malloc(bytes);
    uintptr_t a;
    if (raw == NULL)
        return NULL;
    a = ((uintptr_t) (raw + sizeof(void *)) + NND_SCRATCH_ALIGN - 1) &
        ~(uintptr_t) (NND_SCRATCH_ALIGN - 1);
    ((void **) a)[-1] = raw;
    return (double *) a;
}

static inline void nnd_scratch_free(double *t) {
    if (t != NULL)
        free(((void **) t)[-1]);
}

/* The first 64-byte boundary in a stack buffer (declared NND_SCRATCH_ALIGN
 * bytes longer than it needs). */
static inline double *nnd_scratch_align(double *buf) {
    return (double *) (((uintptr_t) buf + NND_SCRATCH_ALIGN - 1) &
                       ~(uintptr_t) (NND_SCRATCH_ALIGN - 1));
}

/* Scratch doubles the narrow copies need for n rows. */
#define NND_FORWARD_SCRATCH(n, H, O) (2 * ((H) + (O)) * (n))
#define NND_GRAD_SCRATCH(n, H, O) (4 * ((H) + (O)) * (n))

/* Not inlined and not specialized for its call's constant arguments (GCC's
 * interprocedural constant propagation would clone it anyway). */
#if defined(__GNUC__) && !defined(__clang__)
#define NND_NOIPA __attribute__((noipa))
#else
#define NND_NOIPA NND_NOINLINE
#endif

/* Hidden layers up to this wide take the narrow copies (nnd_net_narrow). */
#define NND_FLAT_MAX_H 4

/* One call of the narrow copies (_network_narrow_impl.h): X (n, ni), y (n,
 * no) (the gradient's), W1, W2; the row-major outputs z2, a2 (n, nh), z3,
 * yhat (n, no); sp: NULL or the forward pass's primes (the gradient's
 * scratch t); t: NND_GRAD_SCRATCH doubles; g1, g2, J: the gradient's sums. */
typedef struct {
    const double *X, *y, *W1, *W2;
    double *z2, *a2, *z3, *yhat, *sp, *t, *g1, *g2, *J;
    int64_t n, ni, nh, no;
} nnd_narrow_args;

/* ---- The fused kernel for wider hidden layers (nh > NND_FLAT_MAX_H) ------
 * Its body is in _network_impl.h, compiled once per instruction set and
 * picked at import by nnd_net_select() (_dispatch.h's feature bits). */

enum { NND_NET_FORWARD = 0, NND_NET_COST = 1, NND_NET_GRAD = 2 };

/* The fused kernel's unit passes (I <= NND_NET_UNIT_NI, O = 1): one unit or
 * four forward, one unit or two backward. */
enum nnd_net_pass { NND_NET_FWD1, NND_NET_FWD4, NND_NET_BACK1, NND_NET_BACK2 };

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
#define NND_NET_FMA(a, b, c) ((a) * (b) + (c))
#include "_network_impl.h"
#include "_network_narrow_impl.h"
#undef NND_NET_ATTR
#undef NND_NET_ISA
#undef NND_NET_FMA
#if NND_DISPATCH_X86
/* the kernels' explicit multiply-adds (see nnd_net_unit4_fwd) */
#define NND_NET_FMA(a, b, c) __builtin_fma((a), (b), (c))
#define NND_NET_ISA _avx2
#define NND_NET_ATTR NND_ATTR_AVX2
#include "_network_impl.h"
#include "_network_narrow_impl.h"
#undef NND_NET_ATTR
#undef NND_NET_ISA
#define NND_NET_ISA _avx512
#define NND_NET_ATTR NND_ATTR_AVX512
#include "_network_impl.h"
#include "_network_narrow_impl.h"
#undef NND_NET_ATTR
#undef NND_NET_ISA
#undef NND_NET_FMA
#endif

typedef void (*nnd_net_fused_fn)(const double *, const double *, const double *,
                                 const double *, double *, double *, double *, double *,
                                 int64_t, int64_t, int64_t, int64_t, int, double *, double *);

typedef struct {
    nnd_net_fused_fn fused;
    void (*narrow)(int, const nnd_narrow_args *);
    void (*cost)(const double *, const double *, int64_t, int64_t, double *);
    const char *isa;
} nnd_net_kernels;

#define NND_NET_TABLE(S) \
    { nnd_net_fused##S, nnd_net_narrow##S, nnd_narrow_cost##S, #S + 1 }

/* The build for this CPU: AVX-512, else AVX2+FMA, else baseline. */
static nnd_net_kernels nnd_net_select(void) {
    NND_SELECT_BUILD(nnd_net_kernels, NND_NET_TABLE);
}

#endif /* NNDFAST_NETWORK_H */
