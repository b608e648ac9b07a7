/*
 * Body of the fused network kernel (any I, H, O); _network.h includes this
 * file once per instruction set, with NND_NET_FN (name suffix) and
 * NND_NET_ATTR (target attribute) defined.  Do not include it directly.
 *
 * One call runs one chunk of rows (_network.pyx's CHUNK) in tiles of
 * nnd_net_tile() rows.  Per tile, everything happens while the tile's
 * hidden-layer values are still in cache: X's rows transposed (XT, so every
 * inner loop runs over the tile's rows, contiguous, whatever I is), z2 and
 * the sigmoid one hidden unit at a time, z3 summed as the units come, yhat,
 * then for the cost and the gradient the tile's share of J, delta3, dJdW2,
 * delta2 and dJdW1.  Nothing n x H is stored unless the caller keeps z2/a2.
 *
 * Every value is formed by the same operations in the same order whichever
 * op runs and whether the outputs are kept: z2 = x0*w0, then + xi*wi in input
 * order; z3 = a0*v0, then + ah*vh in unit order.  So a kept z2 read later
 * (network.py's Lazy) is the z2 that produced the yhat of the call.
 *
 * Sums over rows (nnd_net_dot) run in 8 fixed lanes combined by a fixed
 * tree, so their order is the same at every vector width; a chunk's sum is
 * its tiles' sums added in tile order.  The tile size depends only on I, H,
 * O and the chunk's rows, so the bits never depend on the thread count.
 */

/* sum over r < m of a[r] * b[r]: lane l takes the rows r = l (mod 8). */
NND_NET_ATTR
NND_INLINE double NND_NET_FN(nnd_net_dot)(const double *NND_RESTRICT a,
                                          const double *NND_RESTRICT b, int64_t m) {
    double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    int64_t r, l, m8 = m & ~(int64_t) 7;
    for (r = 0; r < m8; r += 8) {
#pragma omp simd
        for (l = 0; l < 8; l++) s[l] += a[r + l] * b[r + l];
    }
    for (l = 0; l < m - m8; l++) s[l] += a[m8 + l] * b[m8 + l];
    return nnd_net_tree(s);
}

/* XT[i*T + r] = Xe[r*NI + i] for r < m: rows of 8 at a time, every input
 * of the 8 rows, so each store is a run of 8 contiguous doubles.  NI is a
 * literal where it pays (the loads become shuffles); a row-major loop
 * stored one double per cache line and cost 0.54-0.95 ns per value on the
 * AVX-512 clone, 6-13% of a forward at I 8, H 32 or I 2, H 16. */
NND_NET_ATTR
NND_INLINE void NND_NET_FN(nnd_net_transpose_n)(const int64_t NI, const double *NND_RESTRICT Xe,
                                                double *NND_RESTRICT XT, int64_t m, int64_t T) {
    int64_t r0 = 0, i;
    int r;
    for (; r0 + 8 <= m; r0 += 8)
        for (i = 0; i < NI; i++)
            for (r = 0; r < 8; r++) XT[i * T + r0 + r] = Xe[(r0 + r) * NI + i];
    for (; r0 < m; r0++)
        for (i = 0; i < NI; i++) XT[i * T + r0] = Xe[r0 * NI + i];
}

NND_NET_ATTR
static void NND_NET_FN(nnd_net_transpose)(const double *NND_RESTRICT Xe, double *NND_RESTRICT XT,
                                          int64_t m, int64_t ni, int64_t T) {
    switch (ni) {
    case 1: memcpy(XT, Xe, (size_t) m * sizeof *XT); return;
    case 2: NND_NET_FN(nnd_net_transpose_n)(2, Xe, XT, m, T); return;
    case 4: NND_NET_FN(nnd_net_transpose_n)(4, Xe, XT, m, T); return;
    case 8: NND_NET_FN(nnd_net_transpose_n)(8, Xe, XT, m, T); return;
    default: NND_NET_FN(nnd_net_transpose_n)(ni, Xe, XT, m, T);
    }
}

/* Forward of hidden unit h on the tile in one pass over its rows, for NI
 * inputs (a literal in every call, so the input loop unrolls and the row
 * loop vectorizes) and one output: z2, f(z2) (and f' for the gradient), and
 * unit h's term of z3.  The same operations in the same order as the
 * pass-per-input loops of nnd_net_fused. */
NND_NET_ATTR
NND_INLINE void NND_NET_FN(nnd_net_unit_fwd)(const int NI, const nnd_net_unit *u) {
    const double *NND_RESTRICT XT = u->XT, *NND_RESTRICT w1 = u->w1;
    double *NND_RESTRICT zh = u->zh, *NND_RESTRICT ah = u->ah, *NND_RESTRICT ph = u->ph;
    double *NND_RESTRICT z3 = u->z3;
    const double v = u->v;
    const int64_t T = u->T, mp = u->mp;
    const int first = u->first;
    int64_t r;
    int i;
    if (u->grad) {
#pragma omp simd
        for (r = 0; r < mp; r++) {
            double z = XT[r] * w1[0];
            nnd_sigmoid_pair p;
            for (i = 1; i < NI; i++) z = NND_NET_FMA(XT[i * T + r], w1[i], z);
            p = nnd_sigmoid_both(z);
            zh[r] = z;
            ah[r] = p.value;
            ph[r] = p.prime;
            z3[r] = first ? p.value * v : NND_NET_FMA(p.value, v, z3[r]);
        }
    } else {
#pragma omp simd
        for (r = 0; r < mp; r++) {
            double z = XT[r] * w1[0], a;
            for (i = 1; i < NI; i++) z = NND_NET_FMA(XT[i * T + r], w1[i], z);
            a = nnd_sigmoid(z);
            zh[r] = z;
            ah[r] = a;
            z3[r] = first ? a * v : NND_NET_FMA(a, v, z3[r]);
        }
    }
}

/* Forward of four hidden units (u[0..3], consecutive) in one pass: each of
 * XT's rows is loaded once for the four.  Every value by nnd_net_unit_fwd's
 * operations in its order (explicit fused multiply-adds, so the compiler's
 * contraction cannot make a group's bits differ from a single unit's), z3's
 * terms added in unit order. */
NND_NET_ATTR
NND_INLINE void NND_NET_FN(nnd_net_unit4_fwd)(const int NI, const nnd_net_unit *u) {
    const double *NND_RESTRICT XT = u[0].XT;
    double *NND_RESTRICT z3 = u[0].z3;
    const int64_t T = u[0].T, mp = u[0].mp;
    const int first = u[0].first;
    const double *w0 = u[0].w1, *w1 = u[1].w1, *w2 = u[2].w1, *w3 = u[3].w1;
    const double v0 = u[0].v, v1 = u[1].v, v2 = u[2].v, v3 = u[3].v;
    double *NND_RESTRICT zh0 = u[0].zh, *NND_RESTRICT zh1 = u[1].zh;
    double *NND_RESTRICT zh2 = u[2].zh, *NND_RESTRICT zh3 = u[3].zh;
    double *NND_RESTRICT ah0 = u[0].ah, *NND_RESTRICT ah1 = u[1].ah;
    double *NND_RESTRICT ah2 = u[2].ah, *NND_RESTRICT ah3 = u[3].ah;
    double *NND_RESTRICT ph0 = u[0].ph, *NND_RESTRICT ph1 = u[1].ph;
    double *NND_RESTRICT ph2 = u[2].ph, *NND_RESTRICT ph3 = u[3].ph;
    int64_t r;
    int i;
    if (u[0].grad) {
#pragma omp simd
        for (r = 0; r < mp; r++) {
            double x = XT[r], a0 = x * w0[0], a1 = x * w1[0], a2 = x * w2[0], a3 = x * w3[0], acc;
            nnd_sigmoid_pair p0, p1, p2, p3;
            for (i = 1; i < NI; i++) {
                x = XT[i * T + r];
                a0 = NND_NET_FMA(x, w0[i], a0), a1 = NND_NET_FMA(x, w1[i], a1);
                a2 = NND_NET_FMA(x, w2[i], a2), a3 = NND_NET_FMA(x, w3[i], a3);
            }
            p0 = nnd_sigmoid_both(a0), p1 = nnd_sigmoid_both(a1);
            p2 = nnd_sigmoid_both(a2), p3 = nnd_sigmoid_both(a3);
            zh0[r] = a0, zh1[r] = a1, zh2[r] = a2, zh3[r] = a3;
            ah0[r] = p0.value, ah1[r] = p1.value, ah2[r] = p2.value, ah3[r] = p3.value;
            ph0[r] = p0.prime, ph1[r] = p1.prime, ph2[r] = p2.prime, ph3[r] = p3.prime;
            acc = first ? p0.value * v0 : NND_NET_FMA(p0.value, v0, z3[r]);
            acc = NND_NET_FMA(p1.value, v1, acc);
            acc = NND_NET_FMA(p2.value, v2, acc);
            z3[r] = NND_NET_FMA(p3.value, v3, acc);
        }
    } else {
#pragma omp simd
        for (r = 0; r < mp; r++) {
            double x = XT[r], a0 = x * w0[0], a1 = x * w1[0], a2 = x * w2[0], a3 = x * w3[0], acc;
            for (i = 1; i < NI; i++) {
                x = XT[i * T + r];
                a0 = NND_NET_FMA(x, w0[i], a0), a1 = NND_NET_FMA(x, w1[i], a1);
                a2 = NND_NET_FMA(x, w2[i], a2), a3 = NND_NET_FMA(x, w3[i], a3);
            }
            zh0[r] = a0, zh1[r] = a1, zh2[r] = a2, zh3[r] = a3;
            a0 = nnd_sigmoid(a0), a1 = nnd_sigmoid(a1), a2 = nnd_sigmoid(a2), a3 = nnd_sigmoid(a3);
            ah0[r] = a0, ah1[r] = a1, ah2[r] = a2, ah3[r] = a3;
            acc = first ? a0 * v0 : NND_NET_FMA(a0, v0, z3[r]);
            acc = NND_NET_FMA(a1, v1, acc);
            acc = NND_NET_FMA(a2, v2, acc);
            z3[r] = NND_NET_FMA(a3, v3, acc);
        }
    }
}

/* Backward of hidden unit h on the tile in one pass over its rows, NI
 * inputs (a literal) and one output: unit h's dJdW2 term into *g2 and its
 * dJdW1 column into g1[i * nh], in nnd_net_dot's 8 lanes and tree. */
NND_NET_ATTR
NND_INLINE void NND_NET_FN(nnd_net_unit_back)(const int NI, const nnd_net_unit *u) {
    const double *NND_RESTRICT XT = u->XT, *NND_RESTRICT ah = u->ah, *NND_RESTRICT ph = u->ph;
    const double *NND_RESTRICT d3 = u->d3;
    double *NND_RESTRICT g1 = u->g1;
    const double v = u->v;
    const int64_t T = u->T, m = u->m, m8 = u->m & ~(int64_t) 7;
    double s2[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    double s1[NND_NET_UNIT_NI][8];
    int64_t r, l;
    int i;
    for (i = 0; i < NI; i++)
        for (l = 0; l < 8; l++) s1[i][l] = 0.0;
    /* row R into lane L; one body for the 8-row steps and the last rows (a
     * loop of variable length over both measured 15-30% slower) */
#define NND_NET_BACK1_ROW(R, L)                                                       \
    do {                                                                              \
        double d = d3[R], d2;                                                         \
        s2[L] = NND_NET_FMA(ah[R], d, s2[L]);                                         \
        d2 = (d * v) * ph[R];                                                         \
        for (i = 0; i < NI; i++) s1[i][L] = NND_NET_FMA(XT[i * T + (R)], d2, s1[i][L]); \
    } while (0)
    for (r = 0; r < m8; r += 8) {
#pragma omp simd
        for (l = 0; l < 8; l++) NND_NET_BACK1_ROW(r + l, l);
    }
    for (l = 0; l < m - m8; l++) NND_NET_BACK1_ROW(m8 + l, l);
#undef NND_NET_BACK1_ROW
    *u->g2 = u->first ? nnd_net_tree(s2) : *u->g2 + nnd_net_tree(s2);
    for (i = 0; i < NI; i++)
        g1[i * u->nh] = u->first ? nnd_net_tree(s1[i]) : g1[i * u->nh] + nnd_net_tree(s1[i]);
}

/* Backward of two hidden units (u[0], u[1]) in one pass over the tile's rows:
 * XT and delta3 loaded once for both; each unit's sums as nnd_net_unit_back
 * forms them. */
NND_NET_ATTR
NND_INLINE void NND_NET_FN(nnd_net_unit2_back)(const int NI, const nnd_net_unit *u) {
    const double *NND_RESTRICT XT = u[0].XT, *NND_RESTRICT d3 = u[0].d3;
    const double *NND_RESTRICT ah0 = u[0].ah, *NND_RESTRICT ph0 = u[0].ph;
    const double *NND_RESTRICT ah1 = u[1].ah, *NND_RESTRICT ph1 = u[1].ph;
    const double v0 = u[0].v, v1 = u[1].v;
    const int64_t T = u[0].T, m = u[0].m, m8 = u[0].m & ~(int64_t) 7, nh = u[0].nh;
    const int first = u[0].first;
    double s2a[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    double s2b[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    double s1a[NND_NET_UNIT_NI][8], s1b[NND_NET_UNIT_NI][8];
    int64_t r, l;
    int i;
    for (i = 0; i < NI; i++)
        for (l = 0; l < 8; l++) s1a[i][l] = 0.0, s1b[i][l] = 0.0;
    /* row R into lane L, as in nnd_net_unit_back */
#define NND_NET_BACK2_ROW(R, L)                                                       \
    do {                                                                              \
        double d = d3[R], da, db;                                                     \
        s2a[L] = NND_NET_FMA(ah0[R], d, s2a[L]);                                      \
        s2b[L] = NND_NET_FMA(ah1[R], d, s2b[L]);                                      \
        da = (d * v0) * ph0[R];                                                       \
        db = (d * v1) * ph1[R];                                                       \
        for (i = 0; i < NI; i++) {                                                    \
            double x = XT[i * T + (R)];                                               \
            s1a[i][L] = NND_NET_FMA(x, da, s1a[i][L]);                                \
            s1b[i][L] = NND_NET_FMA(x, db, s1b[i][L]);                                \
        }                                                                             \
    } while (0)
    for (r = 0; r < m8; r += 8) {
#pragma omp simd
        for (l = 0; l < 8; l++) NND_NET_BACK2_ROW(r + l, l);
    }
    for (l = 0; l < m - m8; l++) NND_NET_BACK2_ROW(m8 + l, l);
#undef NND_NET_BACK2_ROW
    *u[0].g2 = first ? nnd_net_tree(s2a) : *u[0].g2 + nnd_net_tree(s2a);
    *u[1].g2 = first ? nnd_net_tree(s2b) : *u[1].g2 + nnd_net_tree(s2b);
    for (i = 0; i < NI; i++) {
        u[0].g1[i * nh] = first ? nnd_net_tree(s1a[i]) : u[0].g1[i * nh] + nnd_net_tree(s1a[i]);
        u[1].g1[i * nh] = first ? nnd_net_tree(s1b[i]) : u[1].g1[i * nh] + nnd_net_tree(s1b[i]);
    }
}

/* The unit passes, by kind (enum nnd_net_pass in _network.h): */
#define NND_NET_PASS_NI(NI)                                                                \
    switch (kind) {                                                                        \
    case NND_NET_FWD1: NND_NET_FN(nnd_net_unit_fwd)(NI, u); return;                         \
    case NND_NET_FWD4: NND_NET_FN(nnd_net_unit4_fwd)(NI, u); return;                        \
    case NND_NET_BACK1: NND_NET_FN(nnd_net_unit_back)(NI, u); return;                       \
    default: NND_NET_FN(nnd_net_unit2_back)(NI, u); return;                                 \
    }

/* One unit pass of the given kind over u[0..], with ni (1..NND_NET_UNIT_NI)
 * a literal in each copy. */
NND_NET_ATTR
static void NND_NET_FN(nnd_net_pass)(int64_t ni, int kind, const nnd_net_unit *u) {
    switch (ni) {
    case 1: NND_NET_PASS_NI(1)
    case 2: NND_NET_PASS_NI(2)
    case 3: NND_NET_PASS_NI(3)
    case 4: NND_NET_PASS_NI(4)
    case 5: NND_NET_PASS_NI(5)
    case 6: NND_NET_PASS_NI(6)
    case 7: NND_NET_PASS_NI(7)
    default: NND_NET_PASS_NI(8)
    }
}
#undef NND_NET_PASS_NI

/* dst[r] = sum over k < K of src[k * T + r] * c[k * cs], r < mp: the first
 * product, then the others added in k order. */
NND_NET_ATTR
static void NND_NET_FN(nnd_net_combine)(const double *NND_RESTRICT src, int64_t T,
                                        const double *NND_RESTRICT c, int64_t cs, int64_t K,
                                        int64_t mp, double *NND_RESTRICT dst) {
    int64_t k, r;
    double w = c[0];
#pragma omp simd
    for (r = 0; r < mp; r++) dst[r] = src[r] * w;
    for (k = 1; k < K; k++) {
        const double *sk = src + k * T;
        w = c[k * cs];
#pragma omp simd
        for (r = 0; r < mp; r++) dst[r] += sk[r] * w;
    }
}

/* a[r] = f(z[r]) for r < len, and f'(z[r]) into p unless p is NULL. */
NND_NET_ATTR
static void NND_NET_FN(nnd_net_activate)(const double *NND_RESTRICT z, int64_t len,
                                         double *NND_RESTRICT a, double *NND_RESTRICT p) {
    int64_t r;
    if (p != NULL) {
#pragma omp simd
        for (r = 0; r < len; r++) a[r] = nnd_sigmoid_and_prime(z[r], &p[r]);
    } else {
#pragma omp simd
        for (r = 0; r < len; r++) a[r] = nnd_sigmoid(z[r]);
    }
}

/* dst (m, cols) row-major from src (cols, T): the tile's rows, back out. */
NND_NET_ATTR
static void NND_NET_FN(nnd_net_untile)(const double *NND_RESTRICT src, double *NND_RESTRICT dst,
                                       int64_t m, int64_t cols, int64_t T) {
    int64_t r, c;
    if (cols == 1) {
        memcpy(dst, src, (size_t) m * sizeof(double));
        return;
    }
    for (r = 0; r < m; r++)
        for (c = 0; c < cols; c++) dst[r * cols + c] = src[c * T + r];
}

/* op (NND_NET_FORWARD, _COST or _GRAD) on n rows (n <= one chunk).
 * X (n, ni), y (n, no) (unread for forward); W1 (ni, nh), W2 (nh, no).
 * z2, a2 (n, nh) and z3 (n, no): all kept or all NULL; yhat (n, no) or NULL.
 * t: NND_NET_SCRATCH(ni, nh, no, n) doubles.  sums (written, not added to):
 * cost J (no,); gradient g1 (ni, nh) = X^T delta2, g2 (nh, no) = a2^T delta3,
 * J (no,), packed in that order. */
NND_NET_ATTR
static void NND_NET_FN(nnd_net_fused)(const double *NND_RESTRICT X, const double *NND_RESTRICT y,
                                      const double *NND_RESTRICT W1,
                                      const double *NND_RESTRICT W2, double *NND_RESTRICT z2,
                                      double *NND_RESTRICT a2, double *NND_RESTRICT z3,
                                      double *NND_RESTRICT yhat, int64_t n, int64_t ni,
                                      int64_t nh, int64_t no, int op, double *NND_RESTRICT t,
                                      double *NND_RESTRICT sums) {
    const int64_t T = nnd_net_tile(ni, nh, no, n);
    const int keep = z2 != NULL, grad = op == NND_NET_GRAD;
    /* one pass per hidden unit (nnd_net_unit_*), else a pass per input */
    const int unit = no == 1 && ni <= NND_NET_UNIT_NI;
    double *XT = t, *z2t = XT + ni * T, *a2t = z2t + nh * T, *sp2t = a2t + nh * T;
    double *z3t = sp2t + nh * T, *yt = z3t + no * T, *sp3t = yt + no * T;
    double *d3t = sp3t + no * T, *d2 = d3t + no * T;
    double *g1 = sums, *g2 = sums + ni * nh, *J = grad ? g2 + nh * no : sums;
    int64_t e0, m, mp, r, i, h, o;
    for (e0 = 0; e0 < n; e0 += T) {
        const double *Xe = X + e0 * ni;
        const int first = e0 == 0;
        m = n - e0 < T ? n - e0 : T;
        mp = (m + 7) & ~(int64_t) 7;    /* the vector loops' length; rows past m unread */
        NND_NET_FN(nnd_net_transpose)(Xe, XT, m, ni, T);
        for (i = 0; i < ni; i++)
            for (r = m; r < mp; r++) XT[i * T + r] = 0.0;
        /* forward: one hidden unit at a time over the tile's rows */
        for (h = 0; h < nh; h++) {
            if (unit && h + 4 <= nh) {
                /* four units per pass; the same bits as one at a time */
                nnd_net_unit g[4];
                int k;
                for (k = 0; k < 4; k++) {
                    for (i = 0; i < ni; i++) g[k].w1[i] = W1[i * nh + h + k];
                    g[k].XT = XT, g[k].T = T, g[k].v = W2[h + k], g[k].mp = mp;
                    g[k].grad = grad, g[k].first = h == 0;
                    g[k].zh = keep ? z2t + (h + k) * T : z2t + k * T;
                    g[k].ah = keep || grad ? a2t + (h + k) * T : a2t + k * T;
                    g[k].ph = sp2t + (h + k) * T, g[k].z3 = z3t;
                }
                NND_NET_FN(nnd_net_pass)(ni, NND_NET_FWD4, g);
                h += 3;
                continue;
            }
            /* rows the call reads again get their own; the rest reuse one in L1 */
            double *zh = keep ? z2t + h * T : z2t, *ph = sp2t + h * T;
            double *ah = keep || grad ? a2t + h * T : a2t;
            double w;
            if (unit) {
                nnd_net_unit u;
                for (i = 0; i < ni; i++) u.w1[i] = W1[i * nh + h];
                u.XT = XT, u.T = T, u.v = W2[h], u.mp = mp, u.grad = grad, u.first = h == 0;
                u.zh = zh, u.ah = ah, u.ph = ph, u.z3 = z3t;
                NND_NET_FN(nnd_net_pass)(ni, NND_NET_FWD1, &u);
                continue;
            }
            NND_NET_FN(nnd_net_combine)(XT, T, W1 + h, nh, ni, mp, zh);
            NND_NET_FN(nnd_net_activate)(zh, mp, ah, grad ? ph : NULL);
            for (o = 0; o < no; o++) {
                double *zo = z3t + o * T;
                w = W2[h * no + o];
                if (h == 0) {
#pragma omp simd
                    for (r = 0; r < mp; r++) zo[r] = ah[r] * w;
                } else {
#pragma omp simd
                    for (r = 0; r < mp; r++) zo[r] += ah[r] * w;
                }
            }
        }
        NND_NET_FN(nnd_net_activate)(z3t, no * T, yt, grad ? sp3t : NULL);
        if (keep) {
            NND_NET_FN(nnd_net_untile)(z2t, z2 + e0 * nh, m, nh, T);
            NND_NET_FN(nnd_net_untile)(a2t, a2 + e0 * nh, m, nh, T);
            NND_NET_FN(nnd_net_untile)(z3t, z3 + e0 * no, m, no, T);
        }
        if (yhat != NULL)
            NND_NET_FN(nnd_net_untile)(yt, yhat + e0 * no, m, no, T);
        if (op == NND_NET_FORWARD)
            continue;
        /* cost: J = 0.5 * sum (y - yhat)^2; delta3 = -(y - yhat) f'(z3) */
        for (o = 0; o < no; o++) {
            double *d = d3t + o * T, s;
            const double *yo = yt + o * T, *po = sp3t + o * T;
            for (r = 0; r < m; r++) d[r] = y[(e0 + r) * no + o] - yo[r];
            for (r = m; r < mp; r++) d[r] = 0.0;
            s = 0.5 * NND_NET_FN(nnd_net_dot)(d, d, m);
            J[o] = first ? s : J[o] + s;
            if (grad) {
#pragma omp simd
                for (r = 0; r < mp; r++) d[r] = -d[r] * po[r];
            }
        }
        if (!grad)
            continue;
        /* backward, one hidden unit at a time */
        for (h = 0; h < nh; h++) {
            const double *ah = a2t + h * T, *ph = sp2t + h * T;
            double s;
            if (unit && h + 2 <= nh) {
                /* two units per pass; the same bits as one at a time */
                nnd_net_unit g[2];
                int k;
                for (k = 0; k < 2; k++) {
                    g[k].XT = XT, g[k].T = T, g[k].v = W2[h + k], g[k].m = m;
                    g[k].first = first, g[k].nh = nh, g[k].d3 = d3t;
                    g[k].ah = a2t + (h + k) * T, g[k].ph = sp2t + (h + k) * T;
                    g[k].g2 = g2 + h + k, g[k].g1 = g1 + h + k;
                }
                NND_NET_FN(nnd_net_pass)(ni, NND_NET_BACK2, g);
                h += 1;
                continue;
            }
            if (unit) {
                nnd_net_unit u;
                u.XT = XT, u.T = T, u.v = W2[h], u.m = m, u.first = first, u.nh = nh;
                u.ah = ah, u.ph = ph, u.d3 = d3t, u.g2 = g2 + h, u.g1 = g1 + h;
                NND_NET_FN(nnd_net_pass)(ni, NND_NET_BACK1, &u);
                continue;
            }
            for (o = 0; o < no; o++) {
                s = NND_NET_FN(nnd_net_dot)(ah, d3t + o * T, m);
                g2[h * no + o] = first ? s : g2[h * no + o] + s;
            }
            NND_NET_FN(nnd_net_combine)(d3t, T, W2 + h * no, 1, no, mp, d2);
#pragma omp simd
            for (r = 0; r < mp; r++) d2[r] *= ph[r];       /* delta2 */
            for (i = 0; i < ni; i++) {
                s = NND_NET_FN(nnd_net_dot)(XT + i * T, d2, m);
                g1[i * nh + h] = first ? s : g1[i * nh + h] + s;
            }
        }
    }
}
