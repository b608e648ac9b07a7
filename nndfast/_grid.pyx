# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Kernel of the brute-force grid search (laid out by the plan, nndfast/_plan.py).

The grid has m axes in *plan order* (_plan.py chooses it): axes 0..m-2 are the
outer axes and axis m-1 is the innermost one.  A point is an outer prefix p
(a multi-index over the outer axes, last outer axis fastest) plus a value
index k of the innermost axis.

Separable evaluation, per outer prefix:
- the outer axes' values are written into private copies of W1 and W2;
- hidden units whose W1 column no outer axis touches are computed once per
  chunk; the others once per prefix;
- innermost axis W1[i,h]: A[e,k] = sigmoid(z2[e,h] without the i-term +
  X[e,i]*v[k]) is computed only when that partial z2 changes (once per chunk
  if no outer axis touches column h), then the row of costs over k needs only
  the output layer: sigmoid(base3[e,o] + A[e,k]*W2[h,o]);
- innermost axis W2[h,o]: the row needs one sigmoid per example,
  sigmoid(base3[e,o] + a2[e,h]*v[k]), plus the other outputs' constant cost.
- Precomputed exponentials: with z3 = base + s[k]*w (s = A[e,:] or the axis
  values, w = W2[h,o] or a2[e,h]), exp(-z3) = exp(-base) * exp(-s[k]*w).
  When s and w do not move with an outer axis, the table E = exp(-s*w) is
  built once per chunk (and tile) and each row costs one multiply per pair
  and a division per four pairs (K.row_e), no exp.  Otherwise, or when some
  |z| could exceed NND_GRID_EMAX, the row uses the polynomial sigmoid (K.row).
  The choice depends only on the plan and the prefix's own values.
- Hidden tables: with innermost W1[i,h], A's refresh uses F[e,k] =
  exp(-X[e,i]*v[k]) (per tile) and exp(-zb[e]) (per refresh): K.hidden_e,
  no exp per value.  Same range rule as E.
- Fused blocks (nblock > 1, _chunk_fused): the last nblock axes, touching
  distinct terms a2[e,h]*W2[h,o] of z3, form one row over their product;
  exp(-z3) = exp(-base) * prod of one table per block axis.
- Example tiles: a row's sum runs over tiles of g.etile examples (all of
  them when their tables fit), each tile's tables built once per batch of
  prefixes (see _chunk), so no scratch grows with the number of examples.
- Part 7 (reg): each row becomes row*scale + penalties (K.penalty).
The row loops are the SIMD functions of _grid_impl.h, dispatched in _grid.h.

Determinism: every cost is computed by the same instructions wherever it is
evaluated, and the best point is the minimum of (cost, user flat index) in a
strict total order (NaN first, as np.argmin), so the result does not depend
on how prefixes are split into chunks, blocks or threads.  Chunks are still a
fixed size (set by the plan) and partial results are combined in index order.
"""
from cython.parallel cimport prange, threadid
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, malloc, free
from libc.math cimport exp, fabs, NAN
from libc.string cimport memcpy

from nndfast._alloc cimport alloc_error
from nndfast._fastmath cimport nnd_sigmoid
from nndfast._openmp cimport GRID_TEAMS, team_clock, team_note_worker, team_record, team_threads
from nndfast._openmp import adaptive_teams   # noqa: F401  (tests/test_grid.py)

cdef extern from "_grid.h" nogil:
    ctypedef struct nnd_grid_kernels:
        void (*hidden)(int64_t N, int64_t nk, const double *zb, const double *x,
                       const double *v, double *A) noexcept nogil
        void (*row)(int64_t npairs, int64_t nk, const double **src, const double *b,
                    const double *w, const double *t, int init, double c,
                    double *row) noexcept nogil
        void (*exp_table)(int64_t npairs, int64_t nk, const double **src, const double *w,
                          double *E) noexcept nogil
        void (*row_e)(int64_t npairs, int64_t nk, const double **E, const double *B,
                      const double *t, int init, double c, double *row) noexcept nogil
        double (*row_min)(const double *row, int64_t n, int *has_nan) noexcept nogil
        void (*hidden_e)(int64_t N, int64_t nk, const double *Bz, const double *F,
                         double *A) noexcept nogil
        void (*outer)(int64_t np, int64_t na, int64_t nrest, const double *T,
                      const double *S, int64_t lds, double *R, int64_t ldr) noexcept nogil
        void (*penalty)(int64_t nk, double scale, double c, const double *pen,
                        double *row) noexcept nogil
        const char *isa
    nnd_grid_kernels nnd_grid_select() noexcept
    int nnd_grid_all_finite(const double *v, int64_t n) noexcept
    double NND_GRID_EMAX

# The SIMD loops for this CPU, chosen once at import (see _grid.h).
cdef nnd_grid_kernels K = nnd_grid_select()


def simd_isa():
    """Which build of the SIMD loops runs here: 'avx512', 'avx2' or 'base'."""
    return K.isa.decode()


cdef enum:
    # A team gets one thread per this many (evaluation, example, output)
    # terms of a call, at most: about 0.1 ms (fused rows) to 0.7 ms (shared
    # hidden units) of one thread's work, so waking a team pays off.
    GRID_TEAM_MIN_TERMS = 524288
    # A team that does not finish in under GRID_TEAM_GAIN_PCT % of the time
    # one thread would have taken counts as lost (_openmp_policy.h's
    # backoff).  100: a search's blocks run ~50 ms in small dynamic chunks,
    # so a team that gains less than it might (a core shared with another
    # process) still gains; only one that loses outright (a barrier held by
    # a thread that never got a core) is worse than one thread.
    GRID_TEAM_GAIN_PCT = 100


cdef struct Grid:
    Py_ssize_t N, I, H, O, m
    const double *X          # (N, I)
    const double *y          # (N, O)
    const double *W          # (I*H + H*O,) W1 then W2, weights off the axes
    const double *values     # axis values, concatenated in plan order
    const int64_t *vstart    # (m,) offset of each axis in values
    const int64_t *vlen      # (m,) number of values of each axis
    const int64_t *which     # (m,) index of each axis's weight in W
    const int64_t *ustride   # (m,) user flat-index stride of each axis
    const int64_t *ostride   # (m,) stride of each axis in out
    int64_t tile             # innermost values per row; the axis is split in tiles
    int64_t etile            # examples per example tile (a multiple of 4 below N)
    int64_t qbatch           # prefixes per batch of rows sharing a tile's tables
    double *out              # surface (or NULL): point -> out[sum idx*ostride - out_offset]
    int64_t out_offset
    bint rowout              # out holds the rows one after another (run_range's costs)
    int64_t nprefix          # points of the outer axes (prefixes)
    int64_t nblock           # trailing axes fused into one row (1: the innermost only)
    int64_t nfold            # 1: the block's first axis is folded into the row's scale
    bint reg                 # Part 7's cost: cost*scale + pen0 + penalties of the values
    double scale             # 1/n
    double pen0              # penalty of the weights off the axes
    const double *pen        # penalty of each axis value, laid out as values


cdef inline bint _better(double c, int64_t u, double bc, int64_t bu) noexcept nogil:
    # (c, u) before (bc, bu)?  np.argmin's order: the first NaN, else the
    # smallest cost, ties to the lowest flat index.  bu < 0 means "no best yet".
    # The C twin of nndfast._plan.better (the Python home of the order): the
    # nogil row loops cannot call into Python.
    if bu < 0:
        return True
    if bc != bc:
        return c != c and u < bu
    if c != c:
        return True
    return c < bc or (c == bc and u < bu)


cdef inline void _hidden_col(const Grid *g, const double *X, Py_ssize_t n,
                             const double *W, Py_ssize_t h, double *a2) noexcept nogil:
    # a2[:, h] = f(X @ W1[:, h]) for the n examples (rows) of X
    cdef Py_ssize_t e, i
    cdef double s
    for e in range(n):
        s = 0.0
        for i in range(g.I):
            s = s + X[e * g.I + i] * W[i * g.H + h]
        a2[e * g.H + h] = nnd_sigmoid(s)


cdef inline bint _zpart(const Grid *g, const double *X, Py_ssize_t n, const double *W,
                        Py_ssize_t ii, Py_ssize_t ih, double *zb,
                        const double *old) noexcept nogil:
    # zb[e] = z2[e, ih] without input ii's term, for the n examples of X;
    # True if it differs from old (old may be NULL: no comparison).
    cdef Py_ssize_t e, i
    cdef double s
    cdef bint moved = False
    for e in range(n):
        s = 0.0
        for i in range(g.I):
            if i != ii:
                s = s + X[e * g.I + i] * W[i * g.H + ih]
        zb[e] = s
        if old != NULL and s != old[e]:
            moved = True
    return moved


cdef inline void _next_index(const Grid *g, Py_ssize_t mo, int64_t *kidx) noexcept nogil:
    # advance kidx, a multi-index over plan axes mo..m-1 (last fastest)
    cdef Py_ssize_t b = g.m - 1
    while b >= mo:
        kidx[b - mo] = kidx[b - mo] + 1
        if kidx[b - mo] < g.vlen[b]:
            return
        kidx[b - mo] = 0
        b = b - 1


cdef inline double _prefix(const Grid *g, Py_ssize_t nouter, int64_t q, double *W,
                           int64_t *uoff, int64_t *ooff) noexcept nogil:
    # Outer prefix q (last outer axis fastest): its values into W, its user
    # and out offsets added to *uoff, *ooff.  Returns the Part 7 penalty of
    # the weights off the block (0 without Lambda), summed in a fixed order.
    cdef Py_ssize_t a
    cdef int64_t ia
    cdef double pc = g.pen0
    for a in range(nouter - 1, -1, -1):
        ia = q % g.vlen[a]
        q = q // g.vlen[a]
        W[g.which[a]] = g.values[g.vstart[a] + ia]
        uoff[0] = uoff[0] + ia * g.ustride[a]
        ooff[0] = ooff[0] + ia * g.ostride[a]
        if g.reg:
            pc = pc + g.pen[g.vstart[a] + ia]
    return pc


cdef inline void _row_best(const double *row, int64_t nk, const int64_t *ublk, int64_t uoff,
                           double *bc, int64_t *bu) noexcept nogil:
    # Fold a fused row into the best (cost, user flat): the block's plan order
    # is not the user's, so among equal minima (or NaNs) the lowest user
    # index is searched for, not the first k.
    cdef int has_nan
    cdef double cmin = K.row_min(row, nk, &has_nan)
    cdef int64_t k, u = -1
    if has_nan:
        for k in range(nk):
            if row[k] != row[k] and (u < 0 or uoff + ublk[k] < u):
                u = uoff + ublk[k]
        cmin = NAN
    elif bu[0] < 0 or cmin <= bc[0]:
        for k in range(nk):
            if row[k] == cmin and (u < 0 or uoff + ublk[k] < u):
                u = uoff + ublk[k]
    if u >= 0 and _better(cmin, u, bc[0], bu[0]):
        bc[0] = cmin
        bu[0] = u


cdef struct Scratch:
    # One thread's scratch, allocated before a search runs (_scratch_sizes)
    double *buf
    int64_t *ibuf
    unsigned char *flags
    const double **ptrs


cdef inline void _inner(const Grid *g, bint *inner_w2, Py_ssize_t *ii, Py_ssize_t *ih,
                        Py_ssize_t *io, bint *use_e) noexcept nogil:
    # The innermost axis's weight (W2[ih, io] or W1[ii, ih]) and whether its
    # exponential tables stay fixed across prefixes (use_e, see _chunk).
    cdef Py_ssize_t I = g.I, H = g.H, O = g.O, m = g.m, a
    cdef int64_t win = g.which[m - 1], wa
    inner_w2[0] = win >= I * H
    if inner_w2[0]:
        ih[0] = (win - I * H) // O
        io[0] = (win - I * H) % O
        ii[0] = -1
    else:
        ii[0] = win // H
        ih[0] = win % H
        io[0] = -1
    use_e[0] = True
    for a in range(m - 1):
        wa = g.which[a]
        if inner_w2[0] and wa < I * H and wa % H == ih[0]:
            use_e[0] = False     # a2[:, ih] moves with an outer axis
        if not inner_w2[0] and I * H + ih[0] * O <= wa < I * H + ih[0] * O + O:
            use_e[0] = False     # W2[ih, :] moves with an outer axis
    if (not inner_w2[0] and m >= 2 and g.which[m - 2] < I * H
            and g.which[m - 2] % H == ih[0]):
        use_e[0] = False         # A moves every prefix: a table would be rebuilt each time


cdef void _scratch_sizes(const Grid *g, int64_t *sz) noexcept nogil:
    # sz[0..3]: doubles, int64s, bytes and pointers of one thread's scratch.
    # Every term is bounded by the plan's tile, example tile and batch, never
    # by the number of examples alone (a fused plan is only chosen when its
    # own N-sized scratch is small, see _plan.fused_layout).
    cdef Py_ssize_t N = g.N, I = g.I, H = g.H, O = g.O, m = g.m
    cdef Py_ssize_t P = I * H + H * O, NP = N * O, b
    cdef int64_t tile, NE, nA, nE, QB = g.qbatch
    cdef int64_t KB = 1, KR = 1, nmax = 1, tsize = 0, nb = g.nblock
    cdef bint inner_w2, use_e
    cdef Py_ssize_t ii, ih, io
    if g.nblock > 1:
        for b in range(m - nb, m):
            KB = KB * g.vlen[b]
            nmax = max(nmax, g.vlen[b])
            tsize = tsize + NP * g.vlen[b]
        for b in range(m - nb + g.nfold, m):
            KR = KR * g.vlen[b]
        sz[0] = (P + N * H + 4 * NP + 2 * N + N * nmax + nb * (N + O) + nb + 2 * tsize
                 + 2 * NP * KR + 2 * KB + 1)
        sz[1] = 2 * KB + 2 * nb + 1
        sz[2] = H * O + H + 1
        sz[3] = 2 * NP + 1
        return
    _inner(g, &inner_w2, &ii, &ih, &io, &use_e)
    tile = min(g.tile, g.vlen[m - 1])
    NE = max(1, min(g.etile, N))
    nA = 0 if inner_w2 else NE * tile
    nE = 0 if not use_e else (NE * tile if inner_w2 else NE * O * tile)
    sz[0] = P + NE * H + 3 * NE * O + 7 * NE + 2 * nA + nE + QB * tile + 2 * QB + 1
    sz[1] = 2 * QB + 1
    sz[2] = H + 1
    sz[3] = 2 * NE * O + 1


cdef void _free_scratch(Scratch *scr, int n) noexcept nogil:
    cdef int i
    if scr == NULL:
        return
    for i in range(n):
        free(scr[i].buf)
        free(scr[i].ibuf)
        free(scr[i].flags)
        free(scr[i].ptrs)
    free(scr)


cdef void _chunk(const Grid *g, int64_t p0, int64_t p1, Scratch *S,
                 double *best_c, int64_t *best_u) noexcept nogil:
    # Evaluate rows [p0, p1); best (cost, user flat index) -> best_c, best_u.
    # Row p is tile t = p // nprefix of the innermost axis at outer prefix
    # q = p % nprefix.  The rows are taken tile by tile, in batches of up to
    # g.qbatch prefixes, and each batch example tile by example tile (g.etile
    # examples): a tile's tables for one example tile are built once and
    # serve every prefix of the batch, and no scratch grows with N.  Each
    # row's sum runs over the examples in order, in the same groups of pairs
    # whatever the batch, chunk or thread, so a cost never depends on them.
    cdef Py_ssize_t N = g.N, I = g.I, H = g.H, O = g.O, m = g.m
    cdef Py_ssize_t P = I * H + H * O
    cdef int64_t nk_all = g.vlen[m - 1]
    cdef int64_t tile = min(g.tile, nk_all)
    cdef int64_t NE = max(1, min(g.etile, N))
    cdef int64_t nET = (N + NE - 1) // NE if N > 0 else 1
    cdef bint multi = nET > 1
    # rows kept until the batch ends (several example tiles, or a surface
    # written by values); else one row buffer, still in L1 when it is read
    cdef bint keep = multi or (g.out != NULL and g.ostride[m - 1] != 1)
    cdef int64_t QB = g.qbatch
    cdef int64_t nk, t, kt0, qlo, qhi, qb0, nq, qi, et, e0, ne
    cdef int64_t last_et = -1, akey, last_akey = -1, last_fkey = -1, last_ekey = -1
    cdef const double *vin_all = g.values + g.vstart[m - 1]
    cdef const double *vin
    cdef const double *Xe
    cdef const double *ye
    cdef bint inner_w2, use_e
    cdef Py_ssize_t ii, ih, io
    cdef int64_t q, uoff, ooff, k, us_in = g.ustride[m - 1], os_in = g.ostride[m - 1]
    cdef Py_ssize_t a, e, h, o
    cdef double s, d, c, c0, cmin, bc = 0.0
    cdef int64_t bu = -1
    cdef int has_nan
    cdef bint fresh
    cdef double *dst
    cdef double *row
    cdef const double *penin = g.pen + g.vstart[m - 1] if g.reg else NULL
    # Precomputed-exponential path (K.row_e): usable when the exponentials'
    # inputs stay fixed across prefixes (use_e), they are in range (e_ok) and
    # the prefix's own z3 parts are too (checked per prefix and example tile).
    cdef bint e_ok = False
    cdef double emax = 0.0, bmax, vmax
    # Precomputed hidden exponentials (K.hidden_e), W1 inner only:
    # F[e, k] = exp(-X[e, ii] * v[k]) per tile, so a refresh of A needs no exp.
    cdef bint f_ok = False
    cdef double fmax = 0.0, zmax

    _inner(g, &inner_w2, &ii, &ih, &io, &use_e)

    # scratch: W | a2 (NE,H) | base3 (NE,O) | zb, zbc, xcol, acol, bcol, ycol, bz (NE)
    #          | wv (NE*O) | B (NE*O) | A, F (NE*tile each, W1 inner only)
    #          | E (NE*O*tile or NE*tile, if use_e) | acc (QB*tile) | qp, cq (QB)
    #          ints: qu, qo (QB); flags: touched (H); pointers: src, esrc (NE*O)
    cdef Py_ssize_t nA = 0 if inner_w2 else NE * tile
    cdef Py_ssize_t nE = 0 if not use_e else (NE * tile if inner_w2 else NE * O * tile)
    cdef double *W = S.buf
    cdef double *W2 = W + I * H
    cdef double *a2 = W + P
    cdef double *base3 = a2 + NE * H
    cdef double *zb = base3 + NE * O
    cdef double *zbc = zb + NE
    cdef double *xcol = zbc + NE
    cdef double *acol = xcol + NE
    cdef double *bcol = acol + NE
    cdef double *ycol = bcol + NE
    cdef double *bz = ycol + NE
    cdef double *wv = bz + NE
    cdef double *Bv = wv + NE * O
    cdef double *A = Bv + NE * O
    cdef double *F = A + nA
    cdef double *E = F + nA
    cdef double *acc = E + nE
    cdef double *qp = acc + QB * tile
    cdef double *cq = qp + QB
    cdef int64_t *qu = S.ibuf
    cdef int64_t *qo = qu + QB
    cdef unsigned char *touched = S.flags
    cdef const double **src = S.ptrs
    cdef const double **esrc = src + NE * O

    memcpy(W, g.W, P * sizeof(double))
    for h in range(H):
        touched[h] = 0
    for a in range(m - 1):
        if g.which[a] < I * H:
            touched[g.which[a] % H] = 1

    for t in range(p0 // g.nprefix, (p1 - 1) // g.nprefix + 1):
        # the prefixes q whose row t*nprefix + q lies in [p0, p1)
        qlo = max(p0 - t * g.nprefix, 0)
        qhi = min(p1 - t * g.nprefix, g.nprefix)
        kt0 = t * tile
        nk = min(tile, nk_all - kt0)
        vin = vin_all + kt0
        qb0 = qlo
        while qb0 < qhi:
            nq = min(QB, qhi - qb0)
            for et in range(nET):
                e0 = et * NE
                ne = min(NE, N - e0)
                Xe = g.X + e0 * I
                ye = g.y + e0 * O
                akey = t * nET + et
                if et != last_et:
                    # this example tile's columns: the ones no outer axis
                    # moves are computed here only
                    last_et = et
                    for h in range(H):
                        if inner_w2 or h != ih:
                            _hidden_col(g, Xe, ne, W, h, a2)
                    if not inner_w2:
                        for e in range(ne):
                            xcol[e] = Xe[e * I + ii]
                    else:
                        for e in range(ne):
                            ycol[e] = ye[e * O + io]
                for qi in range(nq):
                    q = qb0 + qi
                    uoff = kt0 * us_in
                    ooff = kt0 * os_in
                    c = _prefix(g, m - 1, q, W, &uoff, &ooff)
                    if et == 0:
                        qp[qi] = c
                        qu[qi] = uoff
                        qo[qi] = kt0 * g.nprefix + q * nk if g.rowout else ooff
                        cq[qi] = 0.0
                    row = acc + qi * tile if keep else acc
                    # -- hidden layer: only the columns that outer axes change
                    for h in range(H):
                        if touched[h] and (inner_w2 or h != ih):
                            _hidden_col(g, Xe, ne, W, h, a2)

                    if inner_w2:
                        # -- innermost W2[ih, io]: other outputs are a constant
                        # cost, summed over the example tiles in order
                        c = cq[qi]
                        for e in range(ne):
                            for o in range(O):
                                s = 0.0
                                for h in range(H):
                                    if o != io or h != ih:
                                        s = s + a2[e * H + h] * W2[h * O + o]
                                if o == io:
                                    bcol[e] = s
                                    acol[e] = a2[e * H + ih]
                                else:
                                    d = ye[e * O + o] - nnd_sigmoid(s)
                                    c = c + 0.5 * d * d
                        cq[qi] = c
                        # one example tile: the row starts at c, as one sum
                        # over the examples; several: at 0, c added last
                        c0 = 0.0 if multi else c
                        for e in range(ne):
                            src[e] = vin
                        if use_e and akey != last_ekey:
                            # E[e, k] = exp(-a2[e, ih] * v[k]): fixed while the
                            # tile and the example tile are
                            last_ekey = akey
                            vmax = 0.0
                            for k in range(nk):
                                vmax = max(vmax, fabs(vin[k]))
                            emax = 0.0
                            for e in range(ne):
                                emax = max(emax, fabs(acol[e]) * vmax)
                            e_ok = emax <= NND_GRID_EMAX
                            if e_ok:
                                K.exp_table(ne, nk, src, acol, E)
                        bmax = 0.0
                        if use_e and e_ok:
                            for e in range(ne):
                                bmax = max(bmax, fabs(bcol[e]))
                        if use_e and e_ok and bmax + emax <= NND_GRID_EMAX:
                            for e in range(ne):
                                Bv[e] = exp(-bcol[e])
                                esrc[e] = E + e * nk
                            K.row_e(ne, nk, esrc, Bv, ycol, et == 0, c0, row)
                        else:
                            K.row(ne, nk, src, bcol, acol, ycol, et == 0, c0, row)
                    else:
                        # -- innermost W1[ii, ih]: refresh A when its z2 part
                        # changed (or the tiles did)
                        if akey != last_akey or touched[ih]:
                            fresh = _zpart(g, Xe, ne, W, ii, ih, zb,
                                           NULL if akey != last_akey else zbc)
                            fresh = fresh or akey != last_akey
                            last_akey = akey
                            if fresh:
                                if akey != last_fkey:
                                    # F depends only on the tiles: rebuilt with them
                                    last_fkey = akey
                                    vmax = 0.0
                                    for k in range(nk):
                                        vmax = max(vmax, fabs(vin[k]))
                                    fmax = 0.0
                                    for e in range(ne):
                                        src[e] = vin
                                        fmax = max(fmax, fabs(xcol[e]) * vmax)
                                    f_ok = fmax <= NND_GRID_EMAX
                                    if f_ok:
                                        K.exp_table(ne, nk, src, xcol, F)
                                zmax = 0.0
                                for e in range(ne):
                                    zmax = max(zmax, fabs(zb[e]))
                                if f_ok and zmax + fmax <= NND_GRID_EMAX:
                                    for e in range(ne):
                                        bz[e] = exp(-zb[e])
                                    K.hidden_e(ne, nk, bz, F, A)
                                else:
                                    K.hidden(ne, nk, zb, xcol, vin, A)
                                memcpy(zbc, zb, ne * sizeof(double))
                                for e in range(ne):
                                    for o in range(O):
                                        src[e * O + o] = A + e * nk
                                        wv[e * O + o] = W2[ih * O + o]
                                if use_e:
                                    # E[(e,o), k] = exp(-A[e, k] * W2[ih, o]), 0 < A < 1
                                    emax = 0.0
                                    for o in range(O):
                                        emax = max(emax, fabs(W2[ih * O + o]))
                                    e_ok = emax <= NND_GRID_EMAX
                                    if e_ok:
                                        K.exp_table(ne * O, nk, src, wv, E)
                        for e in range(ne):
                            for o in range(O):
                                src[e * O + o] = A + e * nk
                                wv[e * O + o] = W2[ih * O + o]
                        bmax = 0.0
                        for e in range(ne):
                            for o in range(O):
                                s = 0.0
                                for h in range(H):
                                    if h != ih:
                                        s = s + a2[e * H + h] * W2[h * O + o]
                                base3[e * O + o] = s
                                bmax = max(bmax, fabs(s))
                        if use_e and e_ok and bmax + emax <= NND_GRID_EMAX:
                            for e in range(ne * O):
                                Bv[e] = exp(-base3[e])
                                esrc[e] = E + e * nk
                            K.row_e(ne * O, nk, esrc, Bv, ye, et == 0, 0.0, row)
                        else:
                            K.row(ne * O, nk, src, base3, wv, ye, et == 0, 0.0, row)

                    if et < nET - 1:
                        continue
                    # -- the row is complete: cost, best, surface ----------
                    if multi and inner_w2 and O > 1:
                        c = cq[qi]
                        for k in range(nk):
                            row[k] = c + row[k]
                    if g.reg:
                        K.penalty(nk, g.scale, qp[qi], penin + kt0, row)
                    cmin = K.row_min(row, nk, &has_nan)
                    k = -1
                    if has_nan:
                        k = 0
                        while row[k] == row[k]:
                            k = k + 1
                    elif bu < 0 or cmin <= bc:
                        k = 0
                        while row[k] != cmin:
                            k = k + 1
                    if k >= 0 and _better(row[k], qu[qi] + k * us_in, bc, bu):
                        bc = row[k]
                        bu = qu[qi] + k * us_in
                    if g.out != NULL and os_in == 1:
                        memcpy(g.out + (qo[qi] - g.out_offset), row, nk * sizeof(double))
            if g.out != NULL and os_in != 1:
                # the innermost axis is not the surface's last: write the
                # batch by values, so consecutive prefixes (adjacent in the
                # surface when the last outer axis is its last) fill whole
                # cache lines instead of one double per line
                for k in range(nk):
                    dst = g.out + (k * os_in - g.out_offset)
                    for qi in range(nq):
                        dst[qo[qi]] = acc[qi * tile + k]
            qb0 = qb0 + nq

    best_c[0] = bc
    best_u[0] = bu



cdef void _chunk_fused(const Grid *g, int64_t p0, int64_t p1, Scratch *S,
                       double *best_c, int64_t *best_u) noexcept nogil:
    # Rows [p0, p1) of a fused plan: row p is outer prefix p with all the
    # points of the block (the last nblock plan axes, last fastest).  The
    # block's axes touch distinct terms a2[e,h]*W2[h,o] of z3, so
    #   exp(-z3[j]) = exp(-base[j]) * prod_b T_b[j, k_b]      (j = e*O + o)
    # with one table T_b per block axis (a W1[i,h] axis: exp(-A*W2[h,o]); a
    # W2[h,o] axis: exp(-a2[e,h]*v), 1 off output o).  A table is rebuilt only
    # when its inputs change; R = the outer product of the tables after the
    # folded one is rebuilt with them, and each row is K.row_e over R, with
    # the folded axis's table multiplied into exp(-base).  Rows out of
    # NND_GRID_EMAX's range take a scalar path through the same z's.
    cdef Py_ssize_t N = g.N, I = g.I, H = g.H, O = g.O, m = g.m
    cdef Py_ssize_t P = I * H + H * O, NP = N * O
    cdef Py_ssize_t nb = g.nblock, nf = g.nfold, mo = m - nb
    cdef Py_ssize_t b, bb, e, h, o, j
    cdef int64_t k, kk, p, nv, KB = 1, KR = 1, na, nmax = 1, tsize = 0, wa, ld
    cdef int64_t uoff, ooff, ih, ii, io
    cdef double s, d, c, pc = 0.0, bc = 0.0, bmax, zsum, vmax
    cdef int64_t bu = -1
    cdef bint first = True, rdirty, dirty
    cdef const double *v
    cdef const double *cur
    cdef double *dst

    for b in range(mo, m):
        KB = KB * g.vlen[b]
        nmax = max(nmax, g.vlen[b])
        tsize = tsize + NP * g.vlen[b]
    for b in range(mo + nf, m):
        KR = KR * g.vlen[b]
    na = KB // KR

    # scratch: W | a2 (N,H) | base, Bv, Bf, wv (NP) | zb, xt (N) | A (N*nmax)
    #          | inp (nb*(N+O)) | zmaxb (nb) | T, Z (NP*n_b per block axis)
    #          | R0, R1 (NP*KR) | row, penblk (KB)
    cdef double *buf = S.buf
    cdef int64_t *ibuf = S.ibuf
    cdef unsigned char *flags = S.flags
    cdef const double **src = S.ptrs
    cdef double *W = buf
    cdef double *W2 = W + I * H
    cdef double *a2 = W + P
    cdef double *base = a2 + N * H
    cdef double *Bv = base + NP
    cdef double *Bf = Bv + NP
    cdef double *wv = Bf + NP
    cdef double *zb = wv + NP
    cdef double *xt = zb + N
    cdef double *A = xt + N
    cdef double *inp = A + N * nmax
    cdef double *zmaxb = inp + nb * (N + O)
    cdef double *T = zmaxb + nb
    cdef double *Z = T + tsize
    cdef double *R0 = Z + tsize
    cdef double *R1 = R0 + NP * KR
    cdef double *row = R1 + NP * KR
    cdef double *penblk = row + KB
    cdef int64_t *ublk = ibuf
    cdef int64_t *oblk = ibuf + KB
    cdef int64_t *toff = oblk + KB          # (nb) offset of T_b / Z_b
    cdef int64_t *kidx = toff + nb          # (nb) a block point's indices
    cdef unsigned char *excl = flags        # (H*O) term (h,o) belongs to the block
    cdef unsigned char *touched = flags + H * O
    cdef const double **esrc = src + NP

    memcpy(W, g.W, P * sizeof(double))
    for j in range(H * O + H):
        flags[j] = 0
    for b in range(mo):
        if g.which[b] < I * H:
            touched[g.which[b] % H] = 1
    tsize = 0
    for b in range(mo, m):
        toff[b - mo] = tsize
        tsize = tsize + NP * g.vlen[b]
        wa = g.which[b]
        if wa < I * H:
            for o in range(O):
                excl[(wa % H) * O + o] = 1
        else:
            excl[wa - I * H] = 1
    # block point k -> user / out offsets and the values' penalty
    for b in range(nb):
        kidx[b] = 0
    for k in range(KB):
        ublk[k] = 0
        oblk[k] = 0
        s = 0.0
        for b in range(mo, m):
            ublk[k] = ublk[k] + kidx[b - mo] * g.ustride[b]
            oblk[k] = oblk[k] + kidx[b - mo] * g.ostride[b]
            if g.reg:
                s = s + g.pen[g.vstart[b] + kidx[b - mo]]
        penblk[k] = s
        _next_index(g, mo, kidx)

    for p in range(p0, p1):
        uoff = 0
        ooff = 0
        pc = _prefix(g, mo, p, W, &uoff, &ooff)
        for h in range(H):
            if first or touched[h]:
                _hidden_col(g, g.X, N, W, h, a2)

        # -- per-axis tables, rebuilt only when their inputs moved --------
        rdirty = first
        for b in range(mo, m):
            bb = b - mo
            wa = g.which[b]
            nv = g.vlen[b]
            v = g.values + g.vstart[b]
            dirty = first
            if wa < I * H:
                ii = wa // H
                ih = wa % H
                if _zpart(g, g.X, N, W, ii, ih, zb, inp + bb * (N + O)):
                    dirty = True
                for o in range(O):
                    if W2[ih * O + o] != inp[bb * (N + O) + N + o]:
                        dirty = True
                if dirty:
                    memcpy(inp + bb * (N + O), zb, N * sizeof(double))
                    memcpy(inp + bb * (N + O) + N, W2 + ih * O, O * sizeof(double))
                    for e in range(N):
                        xt[e] = g.X[e * I + ii]
                    K.hidden(N, nv, zb, xt, v, A)
                    zmaxb[bb] = 0.0
                    for o in range(O):
                        zmaxb[bb] = max(zmaxb[bb], fabs(W2[ih * O + o]))
                    for e in range(N):
                        for o in range(O):
                            src[e * O + o] = A + e * nv
                            wv[e * O + o] = W2[ih * O + o]
                            for k in range(nv):
                                Z[toff[bb] + (e * O + o) * nv + k] = A[e * nv + k] * wv[e * O + o]
                    if zmaxb[bb] <= NND_GRID_EMAX:
                        K.exp_table(NP, nv, src, wv, T + toff[bb])
            else:
                ih = (wa - I * H) // O
                io = (wa - I * H) % O
                for e in range(N):
                    if a2[e * H + ih] != inp[bb * (N + O) + e]:
                        dirty = True
                if dirty:
                    vmax = 0.0
                    for k in range(nv):
                        vmax = max(vmax, fabs(v[k]))
                    zmaxb[bb] = 0.0
                    for e in range(N):
                        inp[bb * (N + O) + e] = a2[e * H + ih]
                        zmaxb[bb] = max(zmaxb[bb], fabs(a2[e * H + ih]) * vmax)
                        for o in range(O):
                            j = e * O + o
                            for k in range(nv):
                                Z[toff[bb] + j * nv + k] = (v[k] * a2[e * H + ih]
                                                            if o == io else 0.0)
                                T[toff[bb] + j * nv + k] = 1.0
                            if o == io and zmaxb[bb] <= NND_GRID_EMAX:
                                src[0] = v
                                K.exp_table(1, nv, src, a2 + e * H + ih, T + toff[bb] + j * nv)
            if dirty and bb >= nf:
                rdirty = True

        # -- R = the outer product of the tables after the folded one -----
        if rdirty:
            cur = T + toff[nb - 1]
            ld = g.vlen[m - 1]
            kk = ld
            dst = R0
            for b in range(m - 2, mo + nf - 1, -1):
                K.outer(NP, g.vlen[b], kk, T + toff[b - mo], cur, ld, dst, KR)
                kk = kk * g.vlen[b]
                cur = dst
                ld = KR
                dst = R1 if dst == R0 else R0
            for j in range(NP):
                esrc[j] = cur + j * ld

        # -- z3 without the block's terms ----------------------------------
        bmax = 0.0
        for e in range(N):
            for o in range(O):
                s = 0.0
                for h in range(H):
                    if not excl[h * O + o]:
                        s = s + a2[e * H + h] * W2[h * O + o]
                base[e * O + o] = s
                bmax = max(bmax, fabs(s))
        zsum = bmax
        for bb in range(nb):
            zsum = zsum + zmaxb[bb]
        if zsum <= NND_GRID_EMAX:
            for j in range(NP):
                Bv[j] = exp(-base[j])
            if nf:
                for kk in range(na):
                    for j in range(NP):
                        Bf[j] = Bv[j] * T[toff[0] + j * na + kk]
                    K.row_e(NP, KR, esrc, Bf, g.y, 1, 0.0, row + kk * KR)
            else:
                K.row_e(NP, KR, esrc, Bv, g.y, 1, 0.0, row)
        else:
            # out of the exponentials' range: the polynomial sigmoid, per point
            for bb in range(nb):
                kidx[bb] = 0
            for k in range(KB):
                c = 0.0
                for j in range(NP):
                    s = base[j]
                    for bb in range(nb):
                        s = s + Z[toff[bb] + j * g.vlen[mo + bb] + kidx[bb]]
                    d = g.y[j] - nnd_sigmoid(s)
                    c = c + 0.5 * d * d
                row[k] = c
                _next_index(g, mo, kidx)
        first = False
        if g.reg:
            K.penalty(KB, g.scale, pc, penblk, row)

        _row_best(row, KB, ublk, uoff, &bc, &bu)
        if g.out != NULL:
            dst = g.out + (ooff - g.out_offset)
            for k in range(KB):
                dst[oblk[k]] = row[k]

    best_c[0] = bc
    best_u[0] = bu


def all_finite(const double[::1] v):
    """True if no value of the 1-D float64 array v is NaN or +-inf.

    One read of v and no temporary (np.isfinite(v).all() writes a byte per
    value first): the axis check of a 10^8-value search, see
    nndfast._validate.parse_axes.
    """
    cdef int ok = 1
    if v.shape[0] > 0:
        with nogil:
            ok = nnd_grid_all_finite(&v[0], v.shape[0])
    return ok != 0


def search(const double[:, ::1] X,        # IN  (N, I)
           const double[:, ::1] y,        # IN  (N, O)
           const double[::1] W,           # IN  (I*H + H*O,) W1.ravel() then W2.ravel()
           Py_ssize_t H,                  # IN  hidden layer size
           const double[::1] values,      # IN  axis values concatenated, plan order
           const int64_t[::1] vstart,     # IN  (m,) offsets into values
           const int64_t[::1] vlen,       # IN  (m,) lengths, all >= 1
           const int64_t[::1] which,      # IN  (m,) weight index in W, distinct
           const int64_t[::1] ustride,    # IN  (m,) user flat-index strides
           const int64_t[::1] ostride,    # IN  (m,) strides in out
           double[::1] out,               # OUT surface, or size 0 for none
           int64_t out_offset,            # IN  subtracted from every out index
           bint rowout,                   # IN  nblock == 1: out is rows in row order
           int64_t tile,                  # IN  innermost values per row, >= 1
           int64_t etile,                 # IN  examples per example tile, >= 1
           int64_t qbatch,                # IN  prefixes per batch, >= 1
           int64_t p0, int64_t p1,        # IN  rows [p0, p1), p0 < p1
           int64_t chunk,                 # IN  rows per chunk, >= 1
           int64_t nblock,                # IN  1, or trailing axes fused into a row
           int64_t nfold,                 # IN  0, or 1: fold the block's first axis
           bint reg,                      # IN  Part 7's cost (Lambda given)
           double scale,                  # IN  1/n, with reg
           double pen0,                   # IN  penalty of the weights off the axes
           const double[::1] pen,         # IN  penalty of each value, as values
           int num_threads):              # IN  >= 1
    """Evaluate rows [p0, p1) of the grid.

    nblock == 1: row p is tile p // nprefix (``tile`` values) of the
    innermost axis at outer prefix p % nprefix, where nprefix is the product
    of the outer axes' lengths (tile-major).  rowout: a row's values go to
    out[(points in the rows before it) - out_offset ...], as run_range
    returns them; else to the strides ostride.
    nblock > 1: row p is outer prefix p with every point of the last nblock
    axes (``tile`` = their product, ntiles = 1); those axes must touch
    distinct terms of z3 (at most one W1 axis per hidden unit h, and none
    with a W2[h, :] axis).
    nblock == 1: the rows of a chunk are taken tile by tile, up to qbatch
    prefixes at a time, and their sums over examples in example tiles of
    etile (a multiple of 4 when smaller than N): scratch per thread grows
    with tile, etile and qbatch, not with N.  A cost does not depend on
    them except through which tiles' sums are in NND_GRID_EMAX's range.
    reg: every cost is sum_o(0.5*sum_e (y-yHat)^2) * scale + pen0 + the pen
    of the point's values (Part 7's cost summed over the outputs).

    Returns (best_cost, best_flat): the minimum cost over those points and
    its flat index in the user's grid (np.argmin order: first NaN, else the
    lowest index among equal minima).  Writes every cost into ``out`` unless
    ``out`` has size 0.  MemoryError, before any evaluation, if the threads'
    scratch cannot be allocated.
    """
    cdef Grid g
    cdef int64_t nchunks = (p1 - p0 + chunk - 1) // chunk
    cdef int64_t c, lo, hi
    cdef int nt = num_threads
    cdef int64_t work
    cdef int64_t sz[4]
    cdef int i, nalloc = 0
    cdef bint ok = False
    cdef Scratch *scr = NULL
    cdef int64_t master_chunks = 0
    cdef int64_t *mine = &master_chunks     # through pointers: shared, not thread-private
    cdef double t0 = 0.0, master_done = 0.0
    cdef double *done = &master_done
    cdef double bc = 0.0
    cdef int64_t bu = -1
    cdef double *pc = <double *> malloc(nchunks * sizeof(double))
    cdef int64_t *pu = <int64_t *> malloc(nchunks * sizeof(int64_t))
    if pc == NULL or pu == NULL:
        free(pc)
        free(pu)
        raise alloc_error("per-chunk results", "nndfast.grid_search")
    g.N, g.I, g.H = X.shape[0], X.shape[1], H
    g.O, g.m = y.shape[1], vlen.shape[0]
    g.X, g.y, g.W, g.values = &X[0, 0], &y[0, 0], &W[0], &values[0]
    g.vstart, g.vlen, g.which = &vstart[0], &vlen[0], &which[0]
    g.ustride, g.ostride = &ustride[0], &ostride[0]
    g.out = &out[0] if out.shape[0] > 0 else NULL
    g.out_offset = out_offset
    g.rowout = rowout
    g.nprefix = 1
    for c in range(g.m - 1 if nblock == 1 else g.m - nblock):
        g.nprefix = g.nprefix * vlen[c]
    g.tile, g.etile, g.qbatch = tile, etile, qbatch
    g.nblock, g.nfold = nblock, nfold
    g.reg, g.scale, g.pen0 = reg, scale, pen0
    g.pen = &pen[0] if pen.shape[0] > 0 else NULL
    # Team size by work: a parallel region ends at a barrier, so a call lasts
    # as long as its slowest thread, and on busy cores (other processes,
    # numpy's spinning BLAS threads) a descheduled team thread holds it for
    # a time slice (~2-15 ms), longer than a small search's whole work.
    work = (p1 - p0) * (tile if nblock > 1 else min(tile, vlen[g.m - 1])) * g.N * g.O
    if nt > nchunks:
        nt = <int> nchunks
    if nt > work // GRID_TEAM_MIN_TERMS:
        nt = <int> max(1, work // GRID_TEAM_MIN_TERMS)
    # the process's team policy (_openmp_policy.h): one thread in a forked
    # child, while searches' teams are backed off, or beyond the idle cores
    nt = team_threads(GRID_TEAMS, max(nt, 1))
    # every thread's scratch before any work: a search that cannot have it
    # fails at once, not after part of its chunks
    _scratch_sizes(&g, sz)
    scr = <Scratch *> calloc(nt, sizeof(Scratch))
    if scr != NULL:
        ok = True
        for i in range(nt):
            nalloc = i + 1
            scr[i].buf = <double *> malloc(sz[0] * sizeof(double))
            scr[i].ibuf = <int64_t *> malloc(sz[1] * sizeof(int64_t))
            scr[i].flags = <unsigned char *> malloc(sz[2])
            scr[i].ptrs = <const double **> malloc(sz[3] * sizeof(double *))
            if (scr[i].buf == NULL or scr[i].ibuf == NULL or scr[i].flags == NULL
                    or scr[i].ptrs == NULL):
                ok = False
                break
    if not ok:
        _free_scratch(scr, nalloc)
        free(pc)
        free(pu)
        raise alloc_error(
            f"{nt} thread(s)' scratch of "
            f"{(sz[0] * 8 + sz[1] * 8 + sz[2] + sz[3] * 8) / 2**20:.3g} MiB each",
            "nndfast.grid_search")
    with nogil:
        if nt <= 1:
            for c in range(nchunks):
                lo = p0 + c * chunk
                hi = min(p1, lo + chunk)
                if nblock > 1:
                    _chunk_fused(&g, lo, hi, &scr[0], &pc[c], &pu[c])
                else:
                    _chunk(&g, lo, hi, &scr[0], &pc[c], &pu[c])
        else:
            # Fixed chunks handed out one at a time (dynamic): a thread the OS
            # deschedules delays the call by at most the chunk it holds while
            # the others take the rest; which thread runs a chunk never changes
            # its numbers (results per chunk, combined in order below).
            t0 = team_clock()
            for c in prange(nchunks, num_threads=nt, schedule='dynamic', chunksize=1):
                lo = p0 + c * chunk
                hi = min(p1, lo + chunk)
                if nblock > 1:
                    _chunk_fused(&g, lo, hi, &scr[threadid()], &pc[c], &pu[c])
                else:
                    _chunk(&g, lo, hi, &scr[threadid()], &pc[c], &pu[c])
                team_note_worker()
                if threadid() == 0:
                    mine[0] += 1
                    done[0] = team_clock()
        for c in range(nchunks):
            if _better(pc[c], pu[c], bc, bu):
                bc = pc[c]
                bu = pu[c]
    # Even so a thread that never got a core holds the final barrier: a team
    # that did not beat one thread backs the next searches off to one thread.
    if nt > 1:
        team_record(GRID_TEAMS, GRID_TEAM_GAIN_PCT, t0, master_done, master_chunks, nchunks)
    _free_scratch(scr, nt)
    free(pc)
    free(pu)
    return bc, bu
