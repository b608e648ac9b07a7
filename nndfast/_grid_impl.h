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

/* Costs of one row when the innermost axis is W1[i,h]:
 *   row[k] = sum_e sum_o 0.5 * (y[e,o] - sigmoid(base3[e,o] + A[e,k] * w[o]))^2
 * base3[e,o] is z3[e,o] without hidden unit h; w[o] = W2[h,o]. */
NND_GRID_ATTR
static void NND_GRID_FN(nnd_grid_row_w1)(int64_t N, int64_t O, int64_t nk, const double *A,
                            const double *base3, const double *w, const double *y,
                            double *row) {
    int64_t e, o, k;
    for (k = 0; k < nk; k++) row[k] = 0.0;
    for (e = 0; e < N; e++) {
        const double *Ae = A + e * nk;
        for (o = 0; o < O; o++) {
            const double b = base3[e * O + o], wo = w[o], t = y[e * O + o];
#pragma omp simd
            for (k = 0; k < nk; k++) {
                double d = t - nnd_sigmoid(b + Ae[k] * wo);
                row[k] += 0.5 * d * d;
            }
        }
    }
}

/* Costs of one row when the innermost axis is W2[h,o]:
 *   row[k] = c + sum_e 0.5 * (t[e] - sigmoid(b[e] + a[e] * v[k]))^2
 * b[e] is z3[e,o] without hidden unit h, a[e] = a2[e,h], t[e] = y[e,o], and
 * c is the (constant) cost of the other outputs. */
NND_GRID_ATTR
static void NND_GRID_FN(nnd_grid_row_w2)(int64_t N, int64_t nk, const double *a, const double *b,
                            const double *t, const double *v, double c, double *row) {
    int64_t e, k;
    for (k = 0; k < nk; k++) row[k] = c;
    for (e = 0; e < N; e++) {
        const double be = b[e], ae = a[e], te = t[e];
#pragma omp simd
        for (k = 0; k < nk; k++) {
            double d = te - nnd_sigmoid(be + ae * v[k]);
            row[k] += 0.5 * d * d;
        }
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

