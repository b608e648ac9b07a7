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
The row loops are the SIMD functions of _grid_impl.h, dispatched in _grid.h.

Determinism: every cost is computed by the same instructions wherever it is
evaluated, and the best point is the minimum of (cost, user flat index) in a
strict total order (NaN first, as np.argmin), so the result does not depend
on how prefixes are split into chunks, blocks or threads.  Chunks are still a
fixed size (set by the plan) and partial results are combined in index order.
"""
from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free
from libc.math cimport exp, fabs
from libc.string cimport memcpy

from nndfast._fastmath cimport nnd_sigmoid

cdef extern from "_grid.h" nogil:
    ctypedef struct nnd_grid_kernels:
        void (*hidden)(int64_t N, int64_t nk, const double *zb, const double *x,
                       const double *v, double *A) noexcept nogil
        void (*row)(int64_t npairs, int64_t nk, const double **src, const double *b,
                    const double *w, const double *t, double c, double *row) noexcept nogil
        void (*exp_table)(int64_t npairs, int64_t nk, const double **src, const double *w,
                          double *E) noexcept nogil
        void (*row_e)(int64_t npairs, int64_t nk, const double **E, const double *B,
                      const double *t, double c, double *row) noexcept nogil
        double (*row_min)(const double *row, int64_t n, int *has_nan) noexcept nogil
        const char *isa
    nnd_grid_kernels nnd_grid_select() noexcept
    double NND_GRID_EMAX

# The SIMD loops for this CPU, chosen once at import (see _grid.h).
cdef nnd_grid_kernels K = nnd_grid_select()


def simd_isa():
    """Which build of the SIMD loops runs here: 'avx512', 'avx2' or 'base'."""
    return K.isa.decode()


cdef enum:
    # Below this many evaluations per call, a thread team costs more than it saves.
    PARALLEL_MIN_EVALS = 262144


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
    double *out              # surface (or NULL): point -> out[sum idx*ostride - out_offset]
    int64_t out_offset


cdef inline bint _better(double c, int64_t u, double bc, int64_t bu) noexcept nogil:
    # (c, u) before (bc, bu)?  np.argmin's order: the first NaN, else the
    # smallest cost, ties to the lowest flat index.  bu < 0 means "no best yet".
    if bu < 0:
        return True
    if bc != bc:
        return c != c and u < bu
    if c != c:
        return True
    return c < bc or (c == bc and u < bu)


cdef int _chunk(const Grid *g, int64_t p0, int64_t p1,
                double *best_c, int64_t *best_u) noexcept nogil:
    # Evaluate rows [p0, p1); best (cost, user flat index) -> best_c, best_u.
    # Row p is tile t = p % ntiles of the innermost axis at outer prefix
    # p // ntiles.  Returns -1 if scratch could not be allocated.
    cdef Py_ssize_t N = g.N, I = g.I, H = g.H, O = g.O, m = g.m
    cdef Py_ssize_t P = I * H + H * O
    cdef int64_t nk_all = g.vlen[m - 1]
    cdef int64_t tile = min(g.tile, nk_all)
    cdef int64_t ntiles = (nk_all + tile - 1) // tile
    cdef int64_t nk = tile, t, kt0, last_t = -1
    cdef const double *vin_all = g.values + g.vstart[m - 1]
    cdef const double *vin = vin_all
    cdef int64_t win = g.which[m - 1]
    cdef bint inner_w2 = win >= I * H
    cdef Py_ssize_t ii, ih, io
    cdef int64_t p, q, ia, uoff, ooff, k, us_in = g.ustride[m - 1], os_in = g.ostride[m - 1]
    cdef Py_ssize_t a, e, h, i, o
    cdef double s, d, c, cmin, bc = 0.0
    cdef int64_t bu = -1
    cdef int has_nan
    cdef bint first = True, fresh
    cdef double *dst
    # Precomputed-exponential path (K.row_e): usable when the exponentials'
    # inputs stay fixed across prefixes (use_e), they are in range (e_ok) and
    # the prefix's own z3 parts are too (checked per prefix).
    cdef bint use_e = True, e_ok = False
    cdef double emax = 0.0, bmax, vmax
    cdef int64_t wa

    if inner_w2:
        ih = (win - I * H) // O
        io = (win - I * H) % O
        ii = -1
    else:
        ii = win // H
        ih = win % H
        io = -1

    for a in range(m - 1):
        wa = g.which[a]
        if inner_w2 and wa < I * H and wa % H == ih:
            use_e = False        # a2[:, ih] moves with an outer axis
        if not inner_w2 and I * H + ih * O <= wa < I * H + ih * O + O:
            use_e = False        # W2[ih, :] moves with an outer axis
    if not inner_w2 and m >= 2 and g.which[m - 2] < I * H and g.which[m - 2] % H == ih:
        use_e = False            # A moves every prefix: a table would be rebuilt each time

    # scratch: W | a2 (N,H) | base3 (N,O) | zb, zbc, xcol, acol, bcol, ycol (N)
    #          | wv (N*O) | B (N*O) | row (nk) | A (N*nk, W1 inner only)
    #          | E (N*O*nk or N*nk, if use_e); src, esrc (N*O pointers each)
    cdef Py_ssize_t nA = 0 if inner_w2 else N * tile
    cdef Py_ssize_t nE = 0 if not use_e else (N * tile if inner_w2 else N * O * tile)
    cdef double *buf = <double *> malloc(
        (P + N * H + 3 * N * O + 6 * N + nk + nA + nE + 1) * sizeof(double))
    cdef unsigned char *touched = <unsigned char *> malloc(H + 1)
    cdef const double **src = <const double **> malloc((2 * N * O + 1) * sizeof(double *))
    if buf == NULL or touched == NULL or src == NULL:
        free(buf)
        free(touched)
        free(src)
        return -1
    cdef double *W = buf
    cdef double *W2 = W + I * H
    cdef double *a2 = W + P
    cdef double *base3 = a2 + N * H
    cdef double *zb = base3 + N * O
    cdef double *zbc = zb + N
    cdef double *xcol = zbc + N
    cdef double *acol = xcol + N
    cdef double *bcol = acol + N
    cdef double *ycol = bcol + N
    cdef double *wv = ycol + N
    cdef double *Bv = wv + N * O
    cdef double *row = Bv + N * O
    cdef double *A = row + nk
    cdef double *E = A + nA
    cdef const double **esrc = src + N * O

    memcpy(W, g.W, P * sizeof(double))
    for h in range(H):
        touched[h] = 0
    for a in range(m - 1):
        if g.which[a] < I * H:
            touched[g.which[a] % H] = 1
    if not inner_w2:
        for e in range(N):
            xcol[e] = g.X[e * I + ii]
    else:
        for e in range(N):
            ycol[e] = g.y[e * O + io]

    for p in range(p0, p1):
        # -- this row's tile, outer values into W, offsets ---------------
        t = p % ntiles
        q = p // ntiles
        kt0 = t * tile
        nk = min(tile, nk_all - kt0)
        vin = vin_all + kt0
        uoff = kt0 * us_in
        ooff = kt0 * os_in
        for a in range(m - 2, -1, -1):
            ia = q % g.vlen[a]
            q = q // g.vlen[a]
            W[g.which[a]] = g.values[g.vstart[a] + ia]
            uoff = uoff + ia * g.ustride[a]
            ooff = ooff + ia * g.ostride[a]

        # -- hidden layer: only the columns that outer axes change --------
        for h in range(H):
            if (first or touched[h]) and (inner_w2 or h != ih):
                for e in range(N):
                    s = 0.0
                    for i in range(I):
                        s = s + g.X[e * I + i] * W[i * H + h]
                    a2[e * H + h] = nnd_sigmoid(s)

        if inner_w2:
            # -- innermost W2[ih, io]: other outputs are a constant cost --
            c = 0.0
            for e in range(N):
                for o in range(O):
                    s = 0.0
                    for h in range(H):
                        if o != io or h != ih:
                            s = s + a2[e * H + h] * W2[h * O + o]
                    if o == io:
                        bcol[e] = s
                        acol[e] = a2[e * H + ih]
                    else:
                        d = g.y[e * O + o] - nnd_sigmoid(s)
                        c = c + 0.5 * d * d
            for e in range(N):
                src[e] = vin
            if use_e and t != last_t:
                # E[e, k] = exp(-a2[e, ih] * v[k]): fixed while the tile is
                last_t = t
                vmax = 0.0
                for k in range(nk):
                    vmax = max(vmax, fabs(vin[k]))
                emax = 0.0
                for e in range(N):
                    emax = max(emax, fabs(acol[e]) * vmax)
                e_ok = emax <= NND_GRID_EMAX
                if e_ok:
                    K.exp_table(N, nk, src, acol, E)
            bmax = 0.0
            if use_e and e_ok:
                for e in range(N):
                    bmax = max(bmax, fabs(bcol[e]))
            if use_e and e_ok and bmax + emax <= NND_GRID_EMAX:
                for e in range(N):
                    Bv[e] = exp(-bcol[e])
                    esrc[e] = E + e * nk
                K.row_e(N, nk, esrc, Bv, ycol, c, row)
            else:
                K.row(N, nk, src, bcol, acol, ycol, c, row)
        else:
            # -- innermost W1[ii, ih]: refresh A when its z2 part changed --
            for e in range(N):
                for o in range(O):
                    src[e * O + o] = A + e * nk
                    wv[e * O + o] = W2[ih * O + o]
            if first or touched[ih] or t != last_t:
                fresh = first or t != last_t
                last_t = t
                for e in range(N):
                    s = 0.0
                    for i in range(I):
                        if i != ii:
                            s = s + g.X[e * I + i] * W[i * H + ih]
                    zb[e] = s
                    if not first and s != zbc[e]:
                        fresh = True
                if fresh:
                    K.hidden(N, nk, zb, xcol, vin, A)
                    memcpy(zbc, zb, N * sizeof(double))
                    if use_e:
                        # E[(e,o), k] = exp(-A[e, k] * W2[ih, o]), 0 < A < 1
                        emax = 0.0
                        for o in range(O):
                            emax = max(emax, fabs(W2[ih * O + o]))
                        e_ok = emax <= NND_GRID_EMAX
                        if e_ok:
                            K.exp_table(N * O, nk, src, wv, E)
            bmax = 0.0
            for e in range(N):
                for o in range(O):
                    s = 0.0
                    for h in range(H):
                        if h != ih:
                            s = s + a2[e * H + h] * W2[h * O + o]
                    base3[e * O + o] = s
                    bmax = max(bmax, fabs(s))
            if use_e and e_ok and bmax + emax <= NND_GRID_EMAX:
                for e in range(N * O):
                    Bv[e] = exp(-base3[e])
                    esrc[e] = E + e * nk
                K.row_e(N * O, nk, esrc, Bv, g.y, 0.0, row)
            else:
                K.row(N * O, nk, src, base3, wv, g.y, 0.0, row)
        first = False

        # -- best of the row, then the surface ---------------------------
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
        if k >= 0 and _better(row[k], uoff + k * us_in, bc, bu):
            bc = row[k]
            bu = uoff + k * us_in
        if g.out != NULL:
            dst = g.out + (ooff - g.out_offset)
            if os_in == 1:
                memcpy(dst, row, nk * sizeof(double))
            else:
                for k in range(nk):
                    dst[k * os_in] = row[k]

    free(buf)
    free(touched)
    free(src)
    best_c[0] = bc
    best_u[0] = bu
    return 0


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
           int64_t tile,                  # IN  innermost values per row, >= 1
           int64_t p0, int64_t p1,        # IN  rows [p0, p1), p0 < p1
           int64_t chunk,                 # IN  rows per chunk, >= 1
           int num_threads):              # IN  >= 1
    """Evaluate rows [p0, p1) of the grid.

    Row p is tile p % ntiles (``tile`` values) of the innermost axis at outer
    prefix p // ntiles, where ntiles = ceil(vlen[m-1] / tile).

    Returns (best_cost, best_flat): the minimum cost over those points and
    its flat index in the user's grid (np.argmin order: first NaN, else the
    lowest index among equal minima).  Writes every cost into ``out`` unless
    ``out`` has size 0.
    """
    cdef Grid g
    cdef int64_t nchunks = (p1 - p0 + chunk - 1) // chunk
    cdef int64_t c, lo, hi
    cdef int nt = num_threads
    cdef int rc = 0
    cdef double bc = 0.0
    cdef int64_t bu = -1
    cdef double *pc = <double *> malloc(nchunks * sizeof(double))
    cdef int64_t *pu = <int64_t *> malloc(nchunks * sizeof(int64_t))
    cdef int *prc = <int *> malloc(nchunks * sizeof(int))
    if pc == NULL or pu == NULL or prc == NULL:
        free(pc)
        free(pu)
        free(prc)
        raise MemoryError("nndfast.grid_search: could not allocate per-chunk results")
    g.N, g.I, g.H = X.shape[0], X.shape[1], H
    g.O, g.m = y.shape[1], vlen.shape[0]
    g.X, g.y, g.W, g.values = &X[0, 0], &y[0, 0], &W[0], &values[0]
    g.vstart, g.vlen, g.which = &vstart[0], &vlen[0], &which[0]
    g.ustride, g.ostride = &ustride[0], &ostride[0]
    g.out = &out[0] if out.shape[0] > 0 else NULL
    g.out_offset = out_offset
    g.tile = tile
    if nt > nchunks:
        nt = <int> nchunks
    if (p1 - p0) * min(tile, vlen[g.m - 1]) < PARALLEL_MIN_EVALS:
        nt = 1
    with nogil:
        if nt <= 1:
            for c in range(nchunks):
                lo = p0 + c * chunk
                hi = min(p1, lo + chunk)
                prc[c] = _chunk(&g, lo, hi, &pc[c], &pu[c])
        else:
            for c in prange(nchunks, num_threads=nt, schedule='dynamic', chunksize=1):
                lo = p0 + c * chunk
                hi = min(p1, lo + chunk)
                prc[c] = _chunk(&g, lo, hi, &pc[c], &pu[c])
        for c in range(nchunks):
            rc = rc | prc[c]
            if prc[c] == 0 and _better(pc[c], pu[c], bc, bu):
                bc = pc[c]
                bu = pu[c]
    free(pc)
    free(pu)
    free(prc)
    if rc:
        raise MemoryError("nndfast.grid_search: could not allocate a chunk's scratch")
    return bc, bu
