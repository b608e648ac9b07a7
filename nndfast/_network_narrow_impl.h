/*
 * Bodies of the narrow network copies (1..NND_FLAT_MAX_H hidden units, the
 * tutorial's H = 3); _network.h includes this file once per instruction
 * set, beside _network_impl.h, with NND_NET_FN and NND_NET_ATTR defined.
 * Do not include it directly.
 *
 * Why copies: with the tutorial's shapes a row has only 2 inputs and 3
 * hidden units, so loops over a row's units are too short to vectorize
 * unless their length is a compile-time constant.  The bodies are inline
 * functions whose NI, NH, NO arguments are literals in nnd_net_narrow's
 * switch; they write the row-major outputs directly, and every sigmoid
 * pass runs over one contiguous run of the chunk's values.  Sums over rows
 * use `omp simd reduction`, so their order follows the build's vector width
 * (the CPU), never the thread count.
 */

/* Forward pass of n rows straight into the row-major outputs: z2 one input
 * at a time (separate passes: a fused row loop lets the compiler contract
 * the sum into another fused multiply-add), one sigmoid pass over the
 * chunk's n*NH contiguous z2 values, then z3 and one sigmoid pass over yhat.
 * sp: NULL, or (NH + NO) * n doubles that get sigmoid'(z2) and
 * sigmoid'(z3), row-major like z2 and z3, for nnd_narrow_grad. */
NND_NET_ATTR
NND_INLINE void NND_NET_FN(nnd_narrow_forward)(
        const int64_t NI, const int64_t NH, const int64_t NO, const double *NND_RESTRICT X,
        const double *NND_RESTRICT W1, const double *NND_RESTRICT W2, double *NND_RESTRICT z2,
        double *NND_RESTRICT a2, double *NND_RESTRICT z3, double *NND_RESTRICT yhat,
        int64_t n, double *NND_RESTRICT sp) {
    int64_t e, i, h, o, k;
    for (e = 0; e < n; e++)
        for (h = 0; h < NH; h++) z2[e * NH + h] = X[e * NI] * W1[h];
    for (i = 1; i < NI; i++)
        for (e = 0; e < n; e++)
            for (h = 0; h < NH; h++) z2[e * NH + h] += X[e * NI + i] * W1[i * NH + h];
    if (sp != NULL) {
#pragma omp simd
        for (k = 0; k < n * NH; k++) a2[k] = nnd_sigmoid_and_prime(z2[k], &sp[k]);
    } else {
#pragma omp simd
        for (k = 0; k < n * NH; k++) a2[k] = nnd_sigmoid(z2[k]);
    }
    for (o = 0; o < NO; o++) {
        double w = W2[o];
#pragma omp simd
        for (e = 0; e < n; e++) z3[e * NO + o] = a2[e * NH] * w;
        for (h = 1; h < NH; h++) {
            w = W2[h * NO + o];
#pragma omp simd
            for (e = 0; e < n; e++) z3[e * NO + o] += a2[e * NH + h] * w;
        }
    }
    if (sp != NULL) {
#pragma omp simd
        for (k = 0; k < n * NO; k++) yhat[k] = nnd_sigmoid_and_prime(z3[k], &sp[n * NH + k]);
    } else {
#pragma omp simd
        for (k = 0; k < n * NO; k++) yhat[k] = nnd_sigmoid(z3[k]);
    }
}

/* J of n rows: J[o] = sum 0.5*(y - yhat)^2.  y and yhat (n, no), row-major. */
NND_NET_ATTR
static void NND_NET_FN(nnd_narrow_cost)(const double *y, const double *yhat, int64_t n,
                                        int64_t no, double *J) {
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
 * NND_NOIPA, so that ni stays unknown to the compiler: where it knows
 * ni = 2 it fuses the two sums into one loop, which adds the rows in another
 * order than the tutorial-size path's replays expect. */
NND_NET_ATTR NND_NOIPA
static void NND_NET_FN(nnd_narrow_input_sums)(const double *X, const double *d, int64_t n,
                                              int64_t ni, double *g, int64_t stride) {
    int64_t e, i;
    for (i = 0; i < ni; i++) {
        double s = 0.0;
#pragma omp simd reduction(+:s)
        for (e = 0; e < n; e++) s += X[e * ni + i] * d[e];
        g[i * stride] = s;
    }
}

/* Backprop of n rows after nnd_narrow_forward wrote a2 and yhat (row-major,
 * the outputs) and the primes sp = t: J (NO,), g1 (NI, NH) = X^T delta2 and
 * g2 (NH, NO) = a2^T delta3 of these rows.  t: NND_GRAD_SCRATCH doubles. */
NND_NET_ATTR
NND_INLINE void NND_NET_FN(nnd_narrow_grad)(
        const int64_t NI, const int64_t NH, const int64_t NO, const double *NND_RESTRICT X,
        const double *NND_RESTRICT y, const double *NND_RESTRICT W2,
        const double *NND_RESTRICT a2, const double *NND_RESTRICT yhat, int64_t n,
        double *NND_RESTRICT t, double *NND_RESTRICT g1, double *NND_RESTRICT g2,
        double *NND_RESTRICT J) {
    const double *sp2 = t, *sp3 = t + NH * n;
    double *d3t = t + (NH + NO) * n, *d2 = d3t + NO * n;
    int64_t e, h, o;
    for (o = 0; o < NO; o++) {
        double s = 0.0, *d3 = d3t + o * n;
#pragma omp simd reduction(+:s)
        for (e = 0; e < n; e++) {
            double d = y[e * NO + o] - yhat[e * NO + o];
            s += 0.5 * d * d;
            d3[e] = -d * sp3[e * NO + o];     /* delta3 */
        }
        J[o] = s;
    }
    for (h = 0; h < NH; h++) {
        double w;
        for (o = 0; o < NO; o++) {
            const double *d3 = d3t + o * n;
            double s = 0.0;
#pragma omp simd reduction(+:s)
            for (e = 0; e < n; e++) s += a2[e * NH + h] * d3[e];
            g2[h * NO + o] = s;
        }
        w = W2[h * NO];
#pragma omp simd
        for (e = 0; e < n; e++) d2[e] = d3t[e] * w;
        for (o = 1; o < NO; o++) {
            const double *d3 = d3t + o * n;
            w = W2[h * NO + o];
#pragma omp simd
            for (e = 0; e < n; e++) d2[e] += d3[e] * w;
        }
#pragma omp simd
        for (e = 0; e < n; e++) d2[e] *= sp2[e * NH + h];   /* delta2 */
        NND_NET_FN(nnd_narrow_input_sums)(X, d2, n, NI, g1 + h, NH);
    }
}

/* One body with the hidden width nh (1..NND_FLAT_MAX_H, which callers
 * guarantee) a literal; the tutorial's 2 inputs and 1 output get their own
 * copies, where the row loops are fixed-length and z3, yhat plain
 * contiguous runs (a fifth faster than the copies with ni and no unknown). */
NND_NET_ATTR
NND_INLINE void NND_NET_FN(nnd_narrow_body)(const int grad, const int64_t NI, const int64_t NH,
                                            const int64_t NO, const nnd_narrow_args *a) {
    if (grad)
        NND_NET_FN(nnd_narrow_grad)(NI, NH, NO, a->X, a->y, a->W2, a->a2, a->yhat, a->n, a->t,
                                    a->g1, a->g2, a->J);
    else
        NND_NET_FN(nnd_narrow_forward)(NI, NH, NO, a->X, a->W1, a->W2, a->z2, a->a2, a->z3,
                                       a->yhat, a->n, a->sp);
}

/* The forward pass (grad = 0) or the backprop after it (grad = 1) of a's
 * rows, with the layer widths literals where they pay. */
NND_NET_ATTR
static void NND_NET_FN(nnd_net_narrow)(int grad, const nnd_narrow_args *a) {
    const int64_t ni = a->ni, no = a->no;
    if (ni == 2 && no == 1) {
        switch (a->nh) {
        case 1: NND_NET_FN(nnd_narrow_body)(grad, 2, 1, 1, a); return;
        case 2: NND_NET_FN(nnd_narrow_body)(grad, 2, 2, 1, a); return;
        case 3: NND_NET_FN(nnd_narrow_body)(grad, 2, 3, 1, a); return;
        case 4: NND_NET_FN(nnd_narrow_body)(grad, 2, 4, 1, a); return;
        }
    }
    switch (a->nh) {
    case 1: NND_NET_FN(nnd_narrow_body)(grad, ni, 1, no, a); return;
    case 2: NND_NET_FN(nnd_narrow_body)(grad, ni, 2, no, a); return;
    case 3: NND_NET_FN(nnd_narrow_body)(grad, ni, 3, no, a); return;
    case 4: NND_NET_FN(nnd_narrow_body)(grad, ni, 4, no, a); return;
    }
}
