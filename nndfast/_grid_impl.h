/*
 * Bodies of the grid search's SIMD loops; _grid.h includes this file once per
 * instruction set, with NND_GRID_FN (name suffix) and NND_GRID_ATTR (target
 * attribute) defined.  Do not include it directly.
 */
/* Hidden activations when the innermost axis is W1[i,h]:
 *   A[e*nk + k] = sigmoid(zb[e] + x[e] * v[k])
 * zb[e] is row e's z2[e,h] without the i-term, x[e] = X[e,i]. */
NND_GRID_ATTR
static void NND_GRID_FN(nnd_grid_hidden)(int64_t N, int64_t nk, const double *zb, const double *x,
                            const double *v, double *A) {
    int64_t e, k;
    for (e = 0; e < N; e++) {
        const double b = zb[e], xe = x[e];
        double *Ae = A + e * nk;
#pragma omp simd
        for (k = 0; k < nk; k++) Ae[k] = nnd_sigmoid(b + xe * v[k]);
    }
}

/* 1/d0 .. 1/d(G-1) from one division: R = 1/(d0 d1 d2 d3) (the missing
 * factors are 1), and 1/dj is R times the other factors.  Shared by the
 * three four-at-a-time loops below.  Returned by value: an array local in
 * their `omp simd` loops halves the grid's speed. */
#ifndef NND_GRID_RECIP4_T
#define NND_GRID_RECIP4_T
typedef struct { double r0, r1, r2, r3; } nnd_grid_recip4_t;
#endif
NND_GRID_ATTR
NND_INLINE nnd_grid_recip4_t NND_GRID_FN(nnd_grid_recip4)(const int G, double d0, double d1,
                                                          double d2, double d3) {
    nnd_grid_recip4_t r;
    double p01 = d0 * d1, p23 = d2 * d3;
    double R = 1.0 / (p01 * p23);
    r.r0 = G > 1 ? R * (d1 * p23) : R;
    r.r1 = R * (d0 * p23);
    r.r2 = R * (p01 * d3);
    r.r3 = R * (p01 * d2);
    return r;
}

/* Costs of one row, started at c (init) or added to what row holds (the
 * sums of the example tiles before this one):
 *   row[k] = (init ? c : row[k]) + sum_j 0.5 * (t[j] - sigmoid(b[j] + src[j][k] * w[j]))^2,  j < np
 * A "pair" j is one (example, output) whose z3 moves with the innermost axis:
 * - innermost W1[i,h]: every (e,o); src = A[e,:] (hidden unit h's
 *   activations), b = z3[e,o] without unit h, w = W2[h,o], t = y[e,o];
 * - innermost W2[h,o]: every e at output o; src = the axis values,
 *   b = z3[e,o] without unit h, w = a2[e,h], t = y[e,o]; c is the other
 *   outputs' cost.
 * Pairs are summed in order j = 0, 1, ..., so adding example tiles one after
 * the other, each a multiple of four pairs but the last, gives the bits of
 * one call over all of them.  The division is the bottleneck
 * (vdivpd), so pairs go in groups of up to four sharing one division:
 * 1/d_j = (prod_{i != j} d_i) / prod_i d_i, with every d_i = 1 + e^-|z| in
 * [1, 2], so the products neither overflow nor lose more than a few ulp. */
NND_GRID_ATTR
NND_INLINE void NND_GRID_FN(nnd_grid_group)(
        const int G, int64_t nk, const double *const *src, const double *b,
        const double *w, const double *t, double *row) {
    int64_t k;
    const double *s0 = src[0], *s1 = src[G > 1 ? 1 : 0];
    const double *s2 = src[G > 2 ? 2 : 0], *s3 = src[G > 3 ? 3 : 0];
    const double b0 = b[0], b1 = G > 1 ? b[1] : 0.0, b2 = G > 2 ? b[2] : 0.0,
                 b3 = G > 3 ? b[3] : 0.0;
    const double w0 = w[0], w1 = G > 1 ? w[1] : 0.0, w2 = G > 2 ? w[2] : 0.0,
                 w3 = G > 3 ? w[3] : 0.0;
    const double t0 = t[0], t1 = G > 1 ? t[1] : 0.0, t2 = G > 2 ? t[2] : 0.0,
                 t3 = G > 3 ? t[3] : 0.0;
#pragma omp simd
    for (k = 0; k < nk; k++) {
        double z0 = b0 + s0[k] * w0;
        double e0 = nnd_exp_neg(z0 < 0.0 ? z0 : -z0), d0 = 1.0 + e0;
        double z1 = 0.0, e1 = 0.0, d1 = 1.0, z2 = 0.0, e2 = 0.0, d2 = 1.0;
        double z3 = 0.0, e3 = 0.0, d3 = 1.0;
        if (G > 1) {
            z1 = b1 + s1[k] * w1;
            e1 = nnd_exp_neg(z1 < 0.0 ? z1 : -z1);
            d1 = 1.0 + e1;
        }
        if (G > 2) {
            z2 = b2 + s2[k] * w2;
            e2 = nnd_exp_neg(z2 < 0.0 ? z2 : -z2);
            d2 = 1.0 + e2;
        }
        if (G > 3) {
            z3 = b3 + s3[k] * w3;
            e3 = nnd_exp_neg(z3 < 0.0 ? z3 : -z3);
            d3 = 1.0 + e3;
        }
        nnd_grid_recip4_t r = NND_GRID_FN(nnd_grid_recip4)(G, d0, d1, d2, d3);
        double q = row[k], dd;
        dd = t0 - (z0 >= 0.0 ? r.r0 : e0 * r.r0);
        q += 0.5 * dd * dd;
        if (G > 1) {
            dd = t1 - (z1 >= 0.0 ? r.r1 : e1 * r.r1);
            q += 0.5 * dd * dd;
        }
        if (G > 2) {
            dd = t2 - (z2 >= 0.0 ? r.r2 : e2 * r.r2);
            q += 0.5 * dd * dd;
        }
        if (G > 3) {
            dd = t3 - (z3 >= 0.0 ? r.r3 : e3 * r.r3);
            q += 0.5 * dd * dd;
        }
        row[k] = q;
    }
}

NND_GRID_ATTR
static void NND_GRID_FN(nnd_grid_row)(int64_t np, int64_t nk, const double *const *src,
                                      const double *b, const double *w, const double *t,
                                      int init, double c, double *row) {
    int64_t j, k;
    if (init)
        for (k = 0; k < nk; k++) row[k] = c;
    for (j = 0; j + 4 <= np; j += 4)
        NND_GRID_FN(nnd_grid_group)(4, nk, src + j, b + j, w + j, t + j, row);
    switch (np - j) {
        case 3: NND_GRID_FN(nnd_grid_group)(3, nk, src + j, b + j, w + j, t + j, row); break;
        case 2: NND_GRID_FN(nnd_grid_group)(2, nk, src + j, b + j, w + j, t + j, row); break;
        case 1: NND_GRID_FN(nnd_grid_group)(1, nk, src + j, b + j, w + j, t + j, row); break;
        default: break;
    }
}

/* E[j*nk + k] = exp(-src[j][k] * w[j]) for j < np, every |src*w| <= NND_GRID_EMAX:
 * nnd_exp_mid, which takes either sign there, so no reciprocal is needed (a
 * division per entry would cost more than the exp). */
NND_GRID_ATTR
static void NND_GRID_FN(nnd_grid_exp_table)(int64_t np, int64_t nk, const double *const *src,
                                            const double *w, double *E) {
    int64_t j, k;
    for (j = 0; j < np; j++) {
        const double *s = src[j];
        const double wj = w[j];
        double *Ej = E + j * nk;
#pragma omp simd
        for (k = 0; k < nk; k++) Ej[k] = nnd_exp_mid(-(s[k] * wj));
    }
}

/* The same costs as nnd_grid_row (also started at c or added to row), from
 * precomputed exponentials:
 *   row[k] = (init ? c : row[k]) + sum_j 0.5 * (t[j] - 1 / (1 + B[j] * E[j][k]))^2
 * with B[j] = exp(-b[j]) and E[j][k] = exp(-src[j][k] * w[j]), so that
 * B[j] * E[j][k] = exp(-z).  No exp in the loop: one multiply per pair, and
 * one division per four pairs.  The caller guarantees |z| <= NND_GRID_EMAX,
 * so every 1 + B*E lies in [1, 1 + e^170] and a product of four is finite. */
NND_GRID_ATTR
NND_INLINE void NND_GRID_FN(nnd_grid_group_e)(
        const int G, int64_t nk, const double *const *E, const double *B, const double *t,
        double *row) {
    int64_t k;
    const double *E0 = E[0], *E1 = E[G > 1 ? 1 : 0];
    const double *E2 = E[G > 2 ? 2 : 0], *E3 = E[G > 3 ? 3 : 0];
    const double B0 = B[0], B1 = G > 1 ? B[1] : 0.0, B2 = G > 2 ? B[2] : 0.0,
                 B3 = G > 3 ? B[3] : 0.0;
    const double t0 = t[0], t1 = G > 1 ? t[1] : 0.0, t2 = G > 2 ? t[2] : 0.0,
                 t3 = G > 3 ? t[3] : 0.0;
#pragma omp simd
    for (k = 0; k < nk; k++) {
        double d0 = 1.0 + B0 * E0[k];
        double d1 = G > 1 ? 1.0 + B1 * E1[k] : 1.0;
        double d2 = G > 2 ? 1.0 + B2 * E2[k] : 1.0;
        double d3 = G > 3 ? 1.0 + B3 * E3[k] : 1.0;
        nnd_grid_recip4_t r = NND_GRID_FN(nnd_grid_recip4)(G, d0, d1, d2, d3);
        double q = row[k], dd;
        dd = t0 - r.r0;
        q += 0.5 * dd * dd;
        if (G > 1) {
            dd = t1 - r.r1;
            q += 0.5 * dd * dd;
        }
        if (G > 2) {
            dd = t2 - r.r2;
            q += 0.5 * dd * dd;
        }
        if (G > 3) {
            dd = t3 - r.r3;
            q += 0.5 * dd * dd;
        }
        row[k] = q;
    }
}

NND_GRID_ATTR
static void NND_GRID_FN(nnd_grid_row_e)(int64_t np, int64_t nk, const double *const *E,
                                        const double *B, const double *t, int init,
                                        double c, double *row) {
    int64_t j, k;
    if (init)
        for (k = 0; k < nk; k++) row[k] = c;
    for (j = 0; j + 4 <= np; j += 4)
        NND_GRID_FN(nnd_grid_group_e)(4, nk, E + j, B + j, t + j, row);
    switch (np - j) {
        case 3: NND_GRID_FN(nnd_grid_group_e)(3, nk, E + j, B + j, t + j, row); break;
        case 2: NND_GRID_FN(nnd_grid_group_e)(2, nk, E + j, B + j, t + j, row); break;
        case 1: NND_GRID_FN(nnd_grid_group_e)(1, nk, E + j, B + j, t + j, row); break;
        default: break;
    }
}

/* Minimum of row[0..n) ignoring NaN (+inf if none); *has_nan set if any NaN. */
NND_GRID_ATTR
static double NND_GRID_FN(nnd_grid_row_min)(const double *row, int64_t n, int *has_nan) {
    double m = INFINITY;
    int nan = 0;
    int64_t k;
#pragma omp simd reduction(min:m) reduction(|:nan)
    for (k = 0; k < n; k++) {
        double c = row[k];
        m = c < m ? c : m;
        nan |= (c != c);
    }
    *has_nan = nan;
    return m;
}


/* Hidden activations from precomputed exponentials (innermost axis W1[i,h]):
 *   A[e*nk + k] = 1 / (1 + Bz[e] * F[e*nk + k])
 * with Bz[e] = exp(-zb[e]) and F[e*nk + k] = exp(-x[e] * v[k]), so that the
 * product is exp(-z2[e,h]): no exp in the loop, and one division per four
 * examples (the nnd_grid_group_e trick).  The caller guarantees |z| <=
 * NND_GRID_EMAX for every factor and product. */
NND_GRID_ATTR
NND_INLINE void NND_GRID_FN(nnd_grid_hgroup_e)(
        const int G, int64_t nk, const double *Bz, const double *F, double *A) {
    int64_t k;
    const double *F0 = F, *F1 = F + (G > 1 ? nk : 0);
    const double *F2 = F + (G > 2 ? 2 * nk : 0), *F3 = F + (G > 3 ? 3 * nk : 0);
    double *A0 = A, *A1 = A + (G > 1 ? nk : 0), *A2 = A + (G > 2 ? 2 * nk : 0),
           *A3 = A + (G > 3 ? 3 * nk : 0);
    const double B0 = Bz[0], B1 = G > 1 ? Bz[1] : 0.0, B2 = G > 2 ? Bz[2] : 0.0,
                 B3 = G > 3 ? Bz[3] : 0.0;
#pragma omp simd
    for (k = 0; k < nk; k++) {
        double d0 = 1.0 + B0 * F0[k];
        double d1 = G > 1 ? 1.0 + B1 * F1[k] : 1.0;
        double d2 = G > 2 ? 1.0 + B2 * F2[k] : 1.0;
        double d3 = G > 3 ? 1.0 + B3 * F3[k] : 1.0;
        nnd_grid_recip4_t r = NND_GRID_FN(nnd_grid_recip4)(G, d0, d1, d2, d3);
        A0[k] = r.r0;
        if (G > 1) A1[k] = r.r1;
        if (G > 2) A2[k] = r.r2;
        if (G > 3) A3[k] = r.r3;
    }
}

NND_GRID_ATTR
static void NND_GRID_FN(nnd_grid_hidden_e)(int64_t N, int64_t nk, const double *Bz,
                                           const double *F, double *A) {
    int64_t e;
    for (e = 0; e + 4 <= N; e += 4)
        NND_GRID_FN(nnd_grid_hgroup_e)(4, nk, Bz + e, F + e * nk, A + e * nk);
    switch (N - e) {
        case 3: NND_GRID_FN(nnd_grid_hgroup_e)(3, nk, Bz + e, F + e * nk, A + e * nk); break;
        case 2: NND_GRID_FN(nnd_grid_hgroup_e)(2, nk, Bz + e, F + e * nk, A + e * nk); break;
        case 1: NND_GRID_FN(nnd_grid_hgroup_e)(1, nk, Bz + e, F + e * nk, A + e * nk); break;
        default: break;
    }
}

/* Outer product per pair, for the fused block's product table:
 *   R[j*ldr + a*nrest + r] = T[j*na + a] * S[j*lds + r]
 * for j < np, a < na, r < nrest. */
NND_GRID_ATTR
static void NND_GRID_FN(nnd_grid_outer)(int64_t np, int64_t na, int64_t nrest,
                                        const double *T, const double *S, int64_t lds,
                                        double *R, int64_t ldr) {
    int64_t j, a, r;
    for (j = 0; j < np; j++) {
        const double *Sj = S + j * lds;
        for (a = 0; a < na; a++) {
            const double ta = T[j * na + a];
            double *Ra = R + j * ldr + a * nrest;
#pragma omp simd
            for (r = 0; r < nrest; r++) Ra[r] = ta * Sj[r];
        }
    }
}

/* Part 7's surface: row[k] = row[k] * scale + (c + pen[k]). */
NND_GRID_ATTR
static void NND_GRID_FN(nnd_grid_penalty)(int64_t nk, double scale, double c,
                                          const double *pen, double *row) {
    int64_t k;
#pragma omp simd
    for (k = 0; k < nk; k++) row[k] = row[k] * scale + (c + pen[k]);
}
