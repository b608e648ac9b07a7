/*
 * SIMD inner loops of the grid search (_grid.pyx).
 *
 * Each loop runs over the values of the innermost grid axis, k = 0..nk-1,
 * with k innermost and contiguous so that `#pragma omp simd` turns it into
 * vector code; nnd_sigmoid (_fastmath.h) is branch-free, so it vectorizes too.
 *
 * Runtime dispatch: the bodies in _grid_impl.h are compiled three times,
 * baseline x86-64 / AVX2+FMA / AVX-512, and nnd_grid_select() picks one by
 * feature bits (__builtin_cpu_supports), once, at import.  It is explicit
 * rather than target_clones("arch=..."), which dispatches on the CPU model
 * and can run the baseline clone on a newer model that has the features;
 * feature bits cannot miss like that, and the table can say which build
 * runs (_grid.simd_isa(), printed by bench/grid_table.py).  Never
 * -march=native.
 *
 * Every value row[k] is computed by the same instructions whatever chunk or
 * thread it lands in (a row is always the same tile of the innermost axis),
 * so the search is bitwise reproducible for any thread count.
 */
#ifndef NNDFAST_GRID_H
#define NNDFAST_GRID_H

#include <math.h>
#include <stdint.h>

#include "_dispatch.h"
#include "_fastmath.h"

/* Largest |z| the precomputed-exponential path (nnd_grid_row_e) accepts. */
#define NND_GRID_EMAX 170.0

#define NND_GRID_ISA _base
#define NND_GRID_FN(name) NND_CAT(name, NND_GRID_ISA)
#define NND_GRID_ATTR
#include "_grid_impl.h"
#undef NND_GRID_ATTR
#undef NND_GRID_ISA

#if NND_DISPATCH_X86
#define NND_GRID_ISA _avx2
#define NND_GRID_ATTR NND_ATTR_AVX2
#include "_grid_impl.h"
#undef NND_GRID_ATTR
#undef NND_GRID_ISA
#define NND_GRID_ISA _avx512
#define NND_GRID_ATTR NND_ATTR_AVX512
#include "_grid_impl.h"
#undef NND_GRID_ATTR
#undef NND_GRID_ISA
#endif

typedef struct {
    void (*hidden)(int64_t, int64_t, const double *, const double *, const double *,
                   double *);
    void (*row)(int64_t, int64_t, const double *const *, const double *, const double *,
                const double *, int, double, double *);
    void (*exp_table)(int64_t, int64_t, const double *const *, const double *, double *);
    void (*row_e)(int64_t, int64_t, const double *const *, const double *, const double *,
                  int, double, double *);
    double (*row_min)(const double *, int64_t, int *);
    void (*hidden_e)(int64_t, int64_t, const double *, const double *, double *);
    void (*outer)(int64_t, int64_t, int64_t, const double *, const double *, int64_t,
                  double *, int64_t);
    void (*penalty)(int64_t, double, double, const double *, double *);
    const char *isa;
} nnd_grid_kernels;

#define NND_GRID_TABLE(S) \
    { nnd_grid_hidden##S, nnd_grid_row##S, nnd_grid_exp_table##S, nnd_grid_row_e##S, \
      nnd_grid_row_min##S, nnd_grid_hidden_e##S, nnd_grid_outer##S, nnd_grid_penalty##S, \
      #S + 1 }

/* 1 if no v[k] is NaN or +-inf.  x - x is 0 for a finite x and NaN
 * otherwise, and an OR of unordered compares needs no fast-math to
 * vectorize; the loop is bound by memory (an axis of 10^8 values is 0.8 GB),
 * so the baseline build serves every CPU.  Blocks of 4096 so a bad value
 * early in a long axis is found without reading the rest. */
static int nnd_grid_all_finite(const double *v, int64_t n) {
    int64_t k0, k, k1;
    for (k0 = 0; k0 < n; k0 += 4096) {
        int bad = 0;
        k1 = n - k0 < 4096 ? n : k0 + 4096;
#pragma omp simd reduction(|:bad)
        for (k = k0; k < k1; k++) {
            double d = v[k] - v[k];
            bad |= (d != d);
        }
        if (bad)
            return 0;
    }
    return 1;
}

/* The loops for this CPU: AVX-512, else AVX2+FMA, else baseline
 * (nnd_cpu_level, shared with the network kernels). */
static nnd_grid_kernels nnd_grid_select(void) {
    NND_SELECT_BUILD(nnd_grid_kernels, NND_GRID_TABLE);
}

#endif /* NNDFAST_GRID_H */
