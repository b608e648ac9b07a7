# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
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

Phases: search takes a GridKernel (the plan's arrays, built once per plan)
and runs chunks of rows, each over one thread's Work, laid out by _carve
(the one scratch layout; _alloc_scratch allocates it).  A chunk starts with
_start_chunk and sets each prefix's values with _prefix; one-axis rows
(_chunk) then refresh the hidden layer (_tile_columns, _moved_columns), the
hidden tables (_hidden_tables) and run the inner rows (_row_w1, _row_w2);
fused rows (_chunk_fused) refresh the block's tables and their product
(_block_tables, _block_product) and run the row (_block_row).  Both kinds
hand each complete row to _emit_row (penalty, best point, surface).

Determinism: every cost is computed by the same instructions wherever it is
evaluated, and the best point is the minimum of (cost, user flat index) in a
strict total order (NaN first, as np.argmin), so the result does not depend
on how prefixes are split into chunks, blocks or threads.  Chunks are still a
fixed size (set by the plan) and partial results are combined in index order.
"""
from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, malloc, free
from libc.math cimport fabs, NAN
from libc.string cimport memcpy

from nndfast._alloc cimport alloc_error
from nndfast._fastmath cimport nnd_sigmoid
from nndfast._openmp cimport GRID_TEAMS, team_clock, team_note_worker, team_record, team_threads
# tests check that the name is _openmp's (one team state per process)
from nndfast._openmp import adaptive_teams   # no-cython-lint

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
    # terms of a call, at most, so each thread's share of the work is worth
    # waking it for.
    GRID_TEAM_MIN_TERMS = 524288
    # A team that does not finish in under GRID_TEAM_GAIN_PCT % of the time
    # one thread would have taken counts as lost (_openmp_policy.h's
    # backoff).  100: a search's blocks run in small dynamic chunks, so a
    # team that gains less than it might (a core shared with another
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


cdef inline void _emit_row(const Grid *g, double *row, int64_t nk, double pc, const double *pen,
                           int64_t uoff, int64_t ustep, const int64_t *ublk, double *dst,
                           const int64_t *oblk, double *bc, int64_t *bu) noexcept nogil:
    # A complete row of nk costs (both chunk kinds): Part 7's penalties, the
    # row folded into the best (cost, user flat) *bc, *bu, and the row
    # written to dst (NULL: not written).  Point k's user flat index is
    # uoff + k*ustep (ublk NULL: increasing in k, so the first minimum is the
    # lowest index) or uoff + ublk[k] (a fused block, whose plan order is not
    # the user's: the lowest user index among equal minima or NaNs is
    # searched for).  dst[k] (oblk NULL) or dst[oblk[k]] receives row[k].
    cdef int has_nan
    cdef double cmin
    cdef int64_t k, u = -1
    if g.reg:
        K.penalty(nk, g.scale, pc, pen, row)
    cmin = K.row_min(row, nk, &has_nan)
    if ublk == NULL:
        k = -1
        if has_nan:
            k = 0
            while row[k] == row[k]:
                k = k + 1
        elif bu[0] < 0 or cmin <= bc[0]:
            k = 0
            while row[k] != cmin:
                k = k + 1
        if k >= 0:
            cmin = row[k]
            u = uoff + k * ustep
    elif has_nan:
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
    if dst != NULL:
        if oblk == NULL:
            memcpy(dst, row, nk * sizeof(double))
        else:
            for k in range(nk):
                dst[oblk[k]] = row[k]


# -- one thread's workspace ----------------------------------------------------

cdef struct Scratch:
    # One thread's memory, allocated before a search runs (_alloc_scratch)
    double *buf
    int64_t *ibuf
    unsigned char *flags
    const double **ptrs
    bint block_ready         # _block_layout's tables are in place (fused plans)


cdef struct Work:
    # One thread's workspace for one chunk: named views into its Scratch,
    # laid out by _carve, and the chunk's table state.
    # -- one-axis rows (_chunk)
    bint inner_w2            # the innermost axis is W2[ih, io], else W1[ii, ih]
    bint use_e               # its exponential tables stay fixed across prefixes
    bint multi               # more than one example tile
    bint keep                # rows kept until their batch ends (else one row buffer)
    Py_ssize_t ii, ih, io
    int64_t tile, NE, nET    # values per row, examples per tile, example tiles
    # -- fused rows (_chunk_fused)
    int64_t KB, KR, na       # block points, points after the folded axis, KB // KR
    # -- the buffers (shapes in _carve)
    double *W
    double *W2
    double *a2
    double *base
    double *zb
    double *zbc
    double *xcol
    double *acol
    double *bcol
    double *ycol
    double *bz
    double *wv
    double *Bv
    double *Bf
    double *A
    double *F
    double *E
    double *acc
    double *qp
    double *cq
    double *inp
    double *zmaxb
    double *T
    double *Z
    double *R0
    double *R1
    double *row
    double *penblk
    int64_t *qu
    int64_t *qo
    int64_t *ublk
    int64_t *oblk
    int64_t *toff
    int64_t *kidx
    unsigned char *excl
    unsigned char *touched
    const double **src
    const double **esrc
    # -- table state (one-axis rows): the (tile, example tile) key each
    # table was built for, -1 for none, and whether it is in range
    int64_t last_et, last_akey, last_fkey, last_ekey
    bint e_ok, f_ok
    double emax, fmax


cdef struct Cursor:
    # Carves a Scratch's four arrays in order; with NULL bases it only counts.
    double *d
    int64_t *i
    unsigned char *f
    const double **p
    int64_t nd, ni, nf, np


cdef inline double *_doubles(Cursor *c, int64_t n) noexcept nogil:
    cdef double *r = c.d + c.nd if c.d != NULL else NULL
    c.nd = c.nd + n
    return r


cdef inline int64_t *_ints(Cursor *c, int64_t n) noexcept nogil:
    cdef int64_t *r = c.i + c.ni if c.i != NULL else NULL
    c.ni = c.ni + n
    return r


cdef inline unsigned char *_flags(Cursor *c, int64_t n) noexcept nogil:
    cdef unsigned char *r = c.f + c.nf if c.f != NULL else NULL
    c.nf = c.nf + n
    return r


cdef inline const double **_ptrs(Cursor *c, int64_t n) noexcept nogil:
    cdef const double **r = c.p + c.np if c.p != NULL else NULL
    c.np = c.np + n
    return r


cdef inline void _inner(const Grid *g, Work *w) noexcept nogil:
    # The innermost axis's weight (W2[ih, io] or W1[ii, ih]) and whether its
    # exponential tables stay fixed across prefixes (use_e, see _chunk).
    cdef Py_ssize_t I = g.I, H = g.H, O = g.O, m = g.m, a
    cdef int64_t win = g.which[m - 1], wa
    w.inner_w2 = win >= I * H
    if w.inner_w2:
        w.ih = (win - I * H) // O
        w.io = (win - I * H) % O
        w.ii = -1
    else:
        w.ii = win // H
        w.ih = win % H
        w.io = -1
    w.use_e = True
    for a in range(m - 1):
        wa = g.which[a]
        if w.inner_w2 and wa < I * H and wa % H == w.ih:
            w.use_e = False      # a2[:, ih] moves with an outer axis
        if not w.inner_w2 and I * H + w.ih * O <= wa < I * H + w.ih * O + O:
            w.use_e = False      # W2[ih, :] moves with an outer axis
    if (not w.inner_w2 and m >= 2 and g.which[m - 2] < I * H
            and g.which[m - 2] % H == w.ih):
        w.use_e = False          # A moves every prefix: a table would be rebuilt each time


cdef void _carve(const Grid *g, const Scratch *S, Work *w, int64_t *sz) noexcept nogil:
    # The one scratch layout of both chunk kinds: w's views into S (S NULL:
    # none, only the sizes) and, if sz is not NULL, sz[0..3] = the doubles,
    # int64s, bytes and pointers one thread needs.  Every term is bounded by
    # the plan's tile, example tile and batch, never by the number of
    # examples alone (a fused plan is only chosen when its own N-sized
    # scratch is small, see _plan.fused_layout).
    cdef Py_ssize_t N = g.N, I = g.I, H = g.H, O = g.O, m = g.m
    cdef Py_ssize_t P = I * H + H * O, NP = N * O, b
    cdef int64_t NE, nA, nE, QB = g.qbatch, nmax = 1, tsize = 0, nb = g.nblock
    cdef Cursor c
    c.d = S.buf if S != NULL else NULL
    c.i = S.ibuf if S != NULL else NULL
    c.f = S.flags if S != NULL else NULL
    c.p = S.ptrs if S != NULL else NULL
    c.nd = c.ni = c.nf = c.np = 0
    w.W = _doubles(&c, P)                # W1.ravel() ++ W2.ravel(), the prefix's values in
    w.W2 = w.W + I * H if w.W != NULL else NULL
    if nb > 1:
        w.KB = 1
        w.KR = 1
        for b in range(m - nb, m):
            w.KB = w.KB * g.vlen[b]
            nmax = max(nmax, g.vlen[b])
            tsize = tsize + NP * g.vlen[b]
        for b in range(m - nb + g.nfold, m):
            w.KR = w.KR * g.vlen[b]
        w.na = w.KB // w.KR
        w.a2 = _doubles(&c, N * H)       # (N, H)
        w.base = _doubles(&c, NP)        # z3 without the block's terms, (N*O)
        w.Bv = _doubles(&c, NP)          # exp(-base)
        w.Bf = _doubles(&c, NP)          # exp(-base) times the folded table
        w.wv = _doubles(&c, NP)          # W2[h, o] per pair
        w.zb = _doubles(&c, N)           # z2[:, h] without the axis's input
        w.xcol = _doubles(&c, N)         # X[:, i]
        w.A = _doubles(&c, N * nmax)     # (N, n_b) a W1 axis's activations
        w.inp = _doubles(&c, nb * (N + O))   # each table's inputs when built
        w.zmaxb = _doubles(&c, nb)       # each table's largest |z| term
        w.T = _doubles(&c, tsize)        # (N*O, n_b) per block axis: exp(-term)
        w.Z = _doubles(&c, tsize)        # (N*O, n_b) per block axis: the term
        w.R0 = _doubles(&c, NP * w.KR)   # outer products of the tables
        w.R1 = _doubles(&c, NP * w.KR)
        w.row = _doubles(&c, w.KB)
        w.penblk = _doubles(&c, w.KB)    # Part 7's penalty of each block point
        w.ublk = _ints(&c, w.KB)         # block point -> user flat offset
        w.oblk = _ints(&c, w.KB)         # block point -> out offset
        w.toff = _ints(&c, nb)           # offset of T_b / Z_b
        w.kidx = _ints(&c, nb)           # a block point's indices
        w.excl = _flags(&c, H * O)       # term (h, o) belongs to the block
        w.touched = _flags(&c, H)        # column h moves with an outer axis
        w.src = _ptrs(&c, NP)
        w.esrc = _ptrs(&c, NP)
    else:
        _inner(g, w)
        w.tile = min(g.tile, g.vlen[m - 1])
        NE = w.NE = max(1, min(g.etile, N))
        w.nET = (N + NE - 1) // NE if N > 0 else 1
        w.multi = w.nET > 1
        # several example tiles, or a surface written by values: rows are
        # kept until the batch ends; else one row buffer, still in L1 when read
        w.keep = w.multi or (g.out != NULL and g.ostride[m - 1] != 1)
        nA = 0 if w.inner_w2 else NE * w.tile
        nE = 0 if not w.use_e else (NE * w.tile if w.inner_w2 else NE * O * w.tile)
        w.a2 = _doubles(&c, NE * H)      # (NE, H)
        w.base = _doubles(&c, NE * O)    # z3 without the innermost term
        w.zb = _doubles(&c, NE)          # z2[:, ih] without input ii's term
        w.zbc = _doubles(&c, NE)         # zb when A was last built
        w.xcol = _doubles(&c, NE)        # X[:, ii]
        w.acol = _doubles(&c, NE)        # a2[:, ih]
        w.bcol = _doubles(&c, NE)        # z3[:, io] without the innermost term
        w.ycol = _doubles(&c, NE)        # y[:, io]
        w.bz = _doubles(&c, NE)          # exp(-zb)
        w.wv = _doubles(&c, NE * O)      # W2[ih, o] per pair
        w.Bv = _doubles(&c, NE * O)      # exp(-base)
        w.A = _doubles(&c, nA)           # (NE, tile) activations over the values
        w.F = _doubles(&c, nA)           # (NE, tile) exp(-X[e, ii] * v[k])
        w.E = _doubles(&c, nE)           # exp(-z3 term) over the values
        w.acc = _doubles(&c, QB * w.tile)    # the batch's rows
        w.qp = _doubles(&c, QB)          # each prefix's penalty
        w.cq = _doubles(&c, QB)          # each prefix's constant cost
        w.qu = _ints(&c, QB)             # each prefix's user flat offset
        w.qo = _ints(&c, QB)             # each prefix's out offset
        w.touched = _flags(&c, H)
        w.src = _ptrs(&c, NE * O)
        w.esrc = _ptrs(&c, NE * O)
        w.last_et = w.last_akey = w.last_fkey = w.last_ekey = -1
        w.e_ok = w.f_ok = False
        w.emax = w.fmax = 0.0
    if sz != NULL:
        # (+1 each: malloc(0) may return NULL)
        sz[0] = c.nd + 1
        sz[1] = c.ni + 1
        sz[2] = c.nf + 1
        sz[3] = c.np + 1


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


cdef Scratch *_alloc_scratch(const Grid *g, int nt, int64_t *sz) noexcept nogil:
    # Every thread's scratch (sizes from _carve into sz), or NULL with
    # nothing left allocated.
    cdef Work w
    cdef int i
    cdef Scratch *scr
    _carve(g, NULL, &w, sz)
    scr = <Scratch *> calloc(nt, sizeof(Scratch))
    if scr == NULL:
        return NULL
    for i in range(nt):
        scr[i].buf = <double *> malloc(sz[0] * sizeof(double))
        scr[i].ibuf = <int64_t *> malloc(sz[1] * sizeof(int64_t))
        scr[i].flags = <unsigned char *> malloc(sz[2])
        scr[i].ptrs = <const double **> malloc(sz[3] * sizeof(double *))
        if (scr[i].buf == NULL or scr[i].ibuf == NULL or scr[i].flags == NULL
                or scr[i].ptrs == NULL):
            _free_scratch(scr, i + 1)
            return NULL
    return scr


cdef inline void _start_chunk(const Grid *g, Work *w) noexcept nogil:
    # The weights off the axes, and which hidden columns the outer axes move.
    cdef Py_ssize_t a, h
    memcpy(w.W, g.W, (g.I * g.H + g.H * g.O) * sizeof(double))
    for h in range(g.H):
        w.touched[h] = 0
    for a in range(g.m - g.nblock):
        if g.which[a] < g.I * g.H:
            w.touched[g.which[a] % g.H] = 1


# -- one-axis rows: the phases of _chunk ----------------------------------------

cdef inline void _tile_columns(const Grid *g, Work *w, const double *Xe, const double *ye,
                               int64_t ne) noexcept nogil:
    # A new example tile: the hidden columns other than the innermost axis's
    # (those the outer axes move are redone per prefix), and the innermost
    # weight's input column X[:, ii] or target column y[:, io].
    cdef Py_ssize_t h, e
    for h in range(g.H):
        if w.inner_w2 or h != w.ih:
            _hidden_col(g, Xe, ne, w.W, h, w.a2)
    if not w.inner_w2:
        for e in range(ne):
            w.xcol[e] = Xe[e * g.I + w.ii]
    else:
        for e in range(ne):
            w.ycol[e] = ye[e * g.O + w.io]


cdef inline void _moved_columns(const Grid *g, Work *w, const double *Xe,
                                int64_t ne) noexcept nogil:
    # The prefix's hidden columns that the outer axes move.
    cdef Py_ssize_t h
    for h in range(g.H):
        if w.touched[h] and (w.inner_w2 or h != w.ih):
            _hidden_col(g, Xe, ne, w.W, h, w.a2)


cdef inline double _value_table(const double *vin, int64_t nk, const double *col, int64_t ne,
                                const double **src, double *dst) noexcept nogil:
    # dst[e, k] = exp(-col[e] * vin[k]) over a tile's values, built only when
    # every |col[e] * vin[k]| is within NND_GRID_EMAX; returns the largest
    # (the caller's range check).  Sets src[e] = vin.
    cdef int64_t k, e
    cdef double vmax = 0.0, zmax = 0.0
    for k in range(nk):
        vmax = max(vmax, fabs(vin[k]))
    for e in range(ne):
        src[e] = vin
        zmax = max(zmax, fabs(col[e]) * vmax)
    if zmax <= NND_GRID_EMAX:
        K.exp_table(ne, nk, src, col, dst)
    return zmax


cdef inline void _exp_neg(const double *x, int64_t n, double *out) noexcept nogil:
    # out[e] = exp(-x[e]) for |x| <= NND_GRID_EMAX: the SIMD table routine on
    # one row of n values (x * 1.0 is x), not one libm call per value
    cdef const double *src = x
    cdef double one = 1.0
    K.exp_table(1, n, &src, &one, out)


cdef inline void _row_w2(const Grid *g, Work *w, const double *ye, int64_t ne,
                         const double *vin, int64_t nk, int64_t akey, int64_t qi,
                         bint init, double *row) noexcept nogil:
    # Innermost W2[ih, io], one example tile: the other outputs are a
    # constant cost (cq[qi], summed over the example tiles in order), and
    # the row over the values needs one sigmoid per example, or with E =
    # exp(-a2[:, ih] * v) one multiply (K.row_e).  init: the tile's first
    # example tile (the row starts there).
    cdef Py_ssize_t H = g.H, O = g.O, ih = w.ih, io = w.io, e, h, o
    cdef double s, d, c, c0, bmax
    cdef const double *a2 = w.a2
    cdef const double *W2 = w.W2
    cdef double *acol = w.acol
    cdef double *bcol = w.bcol
    c = w.cq[qi]
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
    w.cq[qi] = c
    # one example tile: the row starts at c, as one sum over the examples;
    # several: at 0, c added when the row is complete
    c0 = 0.0 if w.multi else c
    for e in range(ne):
        w.src[e] = vin
    if w.use_e and akey != w.last_ekey:
        # E[e, k] = exp(-a2[e, ih] * v[k]): fixed while the tile and the
        # example tile are
        w.last_ekey = akey
        w.emax = _value_table(vin, nk, acol, ne, w.src, w.E)
        w.e_ok = w.emax <= NND_GRID_EMAX
    bmax = 0.0
    if w.use_e and w.e_ok:
        for e in range(ne):
            bmax = max(bmax, fabs(bcol[e]))
    if w.use_e and w.e_ok and bmax + w.emax <= NND_GRID_EMAX:
        _exp_neg(bcol, ne, w.Bv)
        for e in range(ne):
            w.esrc[e] = w.E + e * nk
        K.row_e(ne, nk, w.esrc, w.Bv, w.ycol, init, c0, row)
    else:
        K.row(ne, nk, w.src, bcol, acol, w.ycol, init, c0, row)


cdef inline void _hidden_tables(const Grid *g, Work *w, const double *Xe, int64_t ne,
                                const double *vin, int64_t nk, int64_t akey) noexcept nogil:
    # Innermost W1[ii, ih]: A[e, k] = f(zb[e] + X[e, ii]*v[k]) rebuilt when
    # zb (z2[:, ih] without input ii's term) moved or the tiles changed; with
    # F = exp(-X[:, ii] * v) (per tiles) no exp per value (K.hidden_e).  E =
    # exp(-A * W2[ih, :]) is rebuilt with A when use_e.
    cdef Py_ssize_t O = g.O, ih = w.ih, e, o
    cdef bint fresh
    cdef double zmax
    fresh = _zpart(g, Xe, ne, w.W, w.ii, ih, w.zb, NULL if akey != w.last_akey else w.zbc)
    fresh = fresh or akey != w.last_akey
    w.last_akey = akey
    if not fresh:
        return
    if akey != w.last_fkey:
        # F depends only on the tiles: rebuilt with them
        w.last_fkey = akey
        w.fmax = _value_table(vin, nk, w.xcol, ne, w.src, w.F)
        w.f_ok = w.fmax <= NND_GRID_EMAX
    zmax = 0.0
    for e in range(ne):
        zmax = max(zmax, fabs(w.zb[e]))
    if w.f_ok and zmax + w.fmax <= NND_GRID_EMAX:
        _exp_neg(w.zb, ne, w.bz)
        K.hidden_e(ne, nk, w.bz, w.F, w.A)
    else:
        K.hidden(ne, nk, w.zb, w.xcol, vin, w.A)
    memcpy(w.zbc, w.zb, ne * sizeof(double))
    for e in range(ne):
        for o in range(O):
            w.src[e * O + o] = w.A + e * nk
            w.wv[e * O + o] = w.W2[ih * O + o]
    if w.use_e:
        # E[(e,o), k] = exp(-A[e, k] * W2[ih, o]), 0 < A < 1
        w.emax = 0.0
        for o in range(O):
            w.emax = max(w.emax, fabs(w.W2[ih * O + o]))
        w.e_ok = w.emax <= NND_GRID_EMAX
        if w.e_ok:
            K.exp_table(ne * O, nk, w.src, w.wv, w.E)


cdef inline void _row_w1(const Grid *g, Work *w, const double *ye, int64_t ne, int64_t nk,
                         bint init, double *row) noexcept nogil:
    # Innermost W1[ii, ih], one example tile, A current: the row over the
    # values needs the output layer only, f(base3 + A*W2[ih, :]), or with E
    # one multiply per pair (K.row_e).
    cdef Py_ssize_t H = g.H, O = g.O, ih = w.ih, e, h, o
    cdef double s, bmax
    cdef const double *a2 = w.a2
    cdef const double *W2 = w.W2
    cdef double *base3 = w.base
    for e in range(ne):
        for o in range(O):
            w.src[e * O + o] = w.A + e * nk
            w.wv[e * O + o] = W2[ih * O + o]
    bmax = 0.0
    for e in range(ne):
        for o in range(O):
            s = 0.0
            for h in range(H):
                if h != ih:
                    s = s + a2[e * H + h] * W2[h * O + o]
            base3[e * O + o] = s
            bmax = max(bmax, fabs(s))
    if w.use_e and w.e_ok and bmax + w.emax <= NND_GRID_EMAX:
        _exp_neg(base3, ne * O, w.Bv)
        for e in range(ne * O):
            w.esrc[e] = w.E + e * nk
        K.row_e(ne * O, nk, w.esrc, w.Bv, ye, init, 0.0, row)
    else:
        K.row(ne * O, nk, w.src, base3, w.wv, ye, init, 0.0, row)


cdef inline void _write_batch(const Grid *g, const Work *w, int64_t nq, int64_t nk) noexcept nogil:
    # The innermost axis is not the surface's last: write the batch by
    # values, so consecutive prefixes (adjacent in the surface when the last
    # outer axis is its last) fill whole cache lines, not one double a line.
    cdef int64_t k, qi, os_in = g.ostride[g.m - 1]
    cdef double *dst
    for k in range(nk):
        dst = g.out + (k * os_in - g.out_offset)
        for qi in range(nq):
            dst[w.qo[qi]] = w.acc[qi * w.tile + k]


cdef void _chunk(const Grid *g, int64_t p0, int64_t p1, const Scratch *S,
                 double *best_c, int64_t *best_u) noexcept nogil:
    # Evaluate rows [p0, p1); best (cost, user flat index) -> best_c, best_u.
    # Row p is tile t = p // nprefix of the innermost axis at outer prefix
    # q = p % nprefix.  The rows are taken tile by tile, in batches of up to
    # g.qbatch prefixes, and each batch example tile by example tile (g.etile
    # examples): a tile's tables for one example tile are built once and
    # serve every prefix of the batch, and no scratch grows with N.  Each
    # row's sum runs over the examples in order, in the same groups of pairs
    # whatever the batch, chunk or thread, so a cost never depends on them.
    cdef Work w
    cdef Py_ssize_t N = g.N, I = g.I, O = g.O, m = g.m
    cdef int64_t nk_all = g.vlen[m - 1], tile, NE, nET
    cdef int64_t nk, t, kt0, qlo, qhi, qb0, nq, qi, et, e0, ne, akey, k
    cdef int64_t q, uoff, ooff, us_in = g.ustride[m - 1], os_in = g.ostride[m - 1]
    cdef const double *vin_all = g.values + g.vstart[m - 1]
    cdef const double *penin = g.pen + g.vstart[m - 1] if g.reg else NULL
    cdef const double *vin
    cdef const double *Xe
    cdef const double *ye
    cdef double c, bc = 0.0
    cdef int64_t bu = -1
    cdef double *row
    cdef double *dst

    _carve(g, S, &w, NULL)
    _start_chunk(g, &w)
    tile, NE, nET = w.tile, w.NE, w.nET
    for t in range(p0 // g.nprefix, (p1 - 1) // g.nprefix + 1):
        # the prefixes q whose row t*nprefix + q lies in [p0, p1)
        qlo = max(p0 - t * g.nprefix, 0)
        qhi = min(p1 - t * g.nprefix, g.nprefix)
        kt0 = t * tile
        nk = min(tile, nk_all - kt0)
        vin = vin_all + kt0
        qb0 = qlo
        while qb0 < qhi:
            nq = min(g.qbatch, qhi - qb0)
            for et in range(nET):
                e0 = et * NE
                ne = min(NE, N - e0)
                Xe = g.X + e0 * I
                ye = g.y + e0 * O
                akey = t * nET + et
                if et != w.last_et:
                    w.last_et = et
                    _tile_columns(g, &w, Xe, ye, ne)
                for qi in range(nq):
                    q = qb0 + qi
                    uoff = kt0 * us_in
                    ooff = kt0 * os_in
                    c = _prefix(g, m - 1, q, w.W, &uoff, &ooff)
                    if et == 0:
                        w.qp[qi] = c
                        w.qu[qi] = uoff
                        w.qo[qi] = kt0 * g.nprefix + q * nk if g.rowout else ooff
                        w.cq[qi] = 0.0
                    row = w.acc + qi * tile if w.keep else w.acc
                    _moved_columns(g, &w, Xe, ne)
                    if w.inner_w2:
                        _row_w2(g, &w, ye, ne, vin, nk, akey, qi, et == 0, row)
                    else:
                        if akey != w.last_akey or w.touched[w.ih]:
                            _hidden_tables(g, &w, Xe, ne, vin, nk, akey)
                        _row_w1(g, &w, ye, ne, nk, et == 0, row)
                    if et < nET - 1:
                        continue
                    # the row is complete
                    if w.multi and w.inner_w2 and O > 1:
                        c = w.cq[qi]
                        for k in range(nk):
                            row[k] = c + row[k]
                    dst = (g.out + (w.qo[qi] - g.out_offset)
                           if g.out != NULL and os_in == 1 else NULL)
                    _emit_row(g, row, nk, w.qp[qi], penin + kt0 if g.reg else NULL,
                              w.qu[qi], us_in, NULL, dst, NULL, &bc, &bu)
            if g.out != NULL and os_in != 1:
                _write_batch(g, &w, nq, nk)
            qb0 = qb0 + nq

    best_c[0] = bc
    best_u[0] = bu


# -- fused rows: the phases of _chunk_fused -------------------------------------

cdef inline void _block_layout(const Grid *g, Work *w) noexcept nogil:
    # Where each block axis's tables sit, which terms of z3
    # the block owns, and each block point's user / out offsets and penalty.
    cdef Py_ssize_t I = g.I, H = g.H, O = g.O, m = g.m, mo = m - g.nblock, b, j, o
    cdef int64_t k, wa, u, ob, tsize = 0
    cdef double s
    # the views as locals (see _block_row)
    cdef int64_t *ublk = w.ublk
    cdef int64_t *oblk = w.oblk
    cdef int64_t *kidx = w.kidx
    cdef double *penblk = w.penblk
    for j in range(H * O):
        w.excl[j] = 0
    for b in range(mo, m):
        w.toff[b - mo] = tsize
        tsize = tsize + g.N * O * g.vlen[b]
        wa = g.which[b]
        if wa < I * H:
            for o in range(O):
                w.excl[(wa % H) * O + o] = 1
        else:
            w.excl[wa - I * H] = 1
    for b in range(g.nblock):
        kidx[b] = 0
    for k in range(w.KB):
        u = 0
        ob = 0
        s = 0.0
        for b in range(mo, m):
            u = u + kidx[b - mo] * g.ustride[b]
            ob = ob + kidx[b - mo] * g.ostride[b]
            if g.reg:
                s = s + g.pen[g.vstart[b] + kidx[b - mo]]
        ublk[k] = u
        oblk[k] = ob
        penblk[k] = s
        _next_index(g, mo, kidx)


cdef inline bint _block_tables(const Grid *g, Work *w, bint first) noexcept nogil:
    # Each block axis's tables T_b = exp(-term) and Z_b = term over its
    # values, rebuilt only when their inputs moved (a W1[i,h] axis: z2[:, h]
    # without input i and W2[h, :]; a W2[h,o] axis: a2[:, h]).  Returns
    # whether a table after the folded one moved (R must be rebuilt).
    cdef Py_ssize_t N = g.N, I = g.I, H = g.H, O = g.O, m = g.m, mo = m - g.nblock
    cdef Py_ssize_t NP = N * O, b, bb, e, o, j
    cdef int64_t k, nv, wa, ii, ih, io
    cdef double vmax
    cdef bint dirty, rdirty = first
    cdef const double *v
    cdef double *inp
    cdef double *T
    cdef double *Z
    cdef const double *a2 = w.a2
    cdef const double *W2 = w.W2
    for b in range(mo, m):
        bb = b - mo
        wa = g.which[b]
        nv = g.vlen[b]
        v = g.values + g.vstart[b]
        inp = w.inp + bb * (N + O)
        T = w.T + w.toff[bb]
        Z = w.Z + w.toff[bb]
        dirty = first
        if wa < I * H:
            ii = wa // H
            ih = wa % H
            if _zpart(g, g.X, N, w.W, ii, ih, w.zb, inp):
                dirty = True
            for o in range(O):
                if W2[ih * O + o] != inp[N + o]:
                    dirty = True
            if dirty:
                memcpy(inp, w.zb, N * sizeof(double))
                memcpy(inp + N, W2 + ih * O, O * sizeof(double))
                for e in range(N):
                    w.xcol[e] = g.X[e * I + ii]
                K.hidden(N, nv, w.zb, w.xcol, v, w.A)
                w.zmaxb[bb] = 0.0
                for o in range(O):
                    w.zmaxb[bb] = max(w.zmaxb[bb], fabs(W2[ih * O + o]))
                for e in range(N):
                    for o in range(O):
                        w.src[e * O + o] = w.A + e * nv
                        w.wv[e * O + o] = W2[ih * O + o]
                        for k in range(nv):
                            Z[(e * O + o) * nv + k] = w.A[e * nv + k] * w.wv[e * O + o]
                if w.zmaxb[bb] <= NND_GRID_EMAX:
                    K.exp_table(NP, nv, w.src, w.wv, T)
        else:
            ih = (wa - I * H) // O
            io = (wa - I * H) % O
            for e in range(N):
                if a2[e * H + ih] != inp[e]:
                    dirty = True
            if dirty:
                vmax = 0.0
                for k in range(nv):
                    vmax = max(vmax, fabs(v[k]))
                w.zmaxb[bb] = 0.0
                for e in range(N):
                    inp[e] = a2[e * H + ih]
                    w.zmaxb[bb] = max(w.zmaxb[bb], fabs(a2[e * H + ih]) * vmax)
                    for o in range(O):
                        j = e * O + o
                        for k in range(nv):
                            Z[j * nv + k] = v[k] * a2[e * H + ih] if o == io else 0.0
                            T[j * nv + k] = 1.0
                        if o == io and w.zmaxb[bb] <= NND_GRID_EMAX:
                            w.src[0] = v
                            K.exp_table(1, nv, w.src, a2 + e * H + ih, T + j * nv)
        if dirty and bb >= g.nfold:
            rdirty = True
    return rdirty


cdef inline void _block_product(const Grid *g, Work *w) noexcept nogil:
    # R = the outer product of the tables after the folded one (K.outer,
    # innermost first, ping-ponging between R0 and R1); esrc[j] -> its row j.
    cdef Py_ssize_t m = g.m, mo = m - g.nblock, NP = g.N * g.O, b, j
    cdef int64_t kk, ld
    cdef const double *cur = w.T + w.toff[g.nblock - 1]
    cdef double *dst = w.R0
    ld = g.vlen[m - 1]
    kk = ld
    for b in range(m - 2, mo + g.nfold - 1, -1):
        K.outer(NP, g.vlen[b], kk, w.T + w.toff[b - mo], cur, ld, dst, w.KR)
        kk = kk * g.vlen[b]
        cur = dst
        ld = w.KR
        dst = w.R1 if dst == w.R0 else w.R0
    for j in range(NP):
        w.esrc[j] = cur + j * ld


cdef inline void _block_row(const Grid *g, Work *w) noexcept nogil:
    # The prefix's row over the block: base = z3 without the block's terms,
    # then K.row_e over R with exp(-base) (times the folded table per value
    # of the folded axis), or out of NND_GRID_EMAX's range the polynomial
    # sigmoid per point through the same z's.
    cdef Py_ssize_t N = g.N, H = g.H, O = g.O, NP = N * O, mo = g.m - g.nblock
    cdef Py_ssize_t bb, e, h, o, j
    cdef int64_t k, kk
    cdef double s, d, c, bmax, zsum
    # the views as locals: stores through them could otherwise alias *w
    # (no strict aliasing) and reload every field inside the loops
    cdef const double *a2 = w.a2
    cdef const double *W2 = w.W2
    cdef const unsigned char *excl = w.excl
    cdef double *base = w.base
    cdef double *row = w.row
    cdef double *Bv = w.Bv
    cdef double *Bf = w.Bf
    cdef const double *T0 = w.T + w.toff[0]
    cdef const double **esrc = w.esrc
    cdef int64_t na = w.na, KR = w.KR
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
    for bb in range(g.nblock):
        zsum = zsum + w.zmaxb[bb]
    if zsum <= NND_GRID_EMAX:
        _exp_neg(base, NP, Bv)
        if g.nfold:
            for kk in range(na):
                for j in range(NP):
                    Bf[j] = Bv[j] * T0[j * na + kk]
                K.row_e(NP, KR, esrc, Bf, g.y, 1, 0.0, row + kk * KR)
        else:
            K.row_e(NP, KR, esrc, Bv, g.y, 1, 0.0, row)
    else:
        for bb in range(g.nblock):
            w.kidx[bb] = 0
        for k in range(w.KB):
            c = 0.0
            for j in range(NP):
                s = base[j]
                for bb in range(g.nblock):
                    s = s + w.Z[w.toff[bb] + j * g.vlen[mo + bb] + w.kidx[bb]]
                d = g.y[j] - nnd_sigmoid(s)
                c = c + 0.5 * d * d
            row[k] = c
            _next_index(g, mo, w.kidx)


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
    cdef Work w
    cdef Py_ssize_t h, mo = g.m - g.nblock
    cdef int64_t p, uoff, ooff
    cdef double pc, bc = 0.0
    cdef int64_t bu = -1
    cdef bint first = True
    _carve(g, S, &w, NULL)
    _start_chunk(g, &w)
    if not S.block_ready:
        # it depends only on the plan and the call's strides: once per
        # thread and search, not per chunk
        _block_layout(g, &w)
        S.block_ready = True
    for p in range(p0, p1):
        uoff = 0
        ooff = 0
        pc = _prefix(g, mo, p, w.W, &uoff, &ooff)
        for h in range(g.H):
            if first or w.touched[h]:
                _hidden_col(g, g.X, g.N, w.W, h, w.a2)
        if _block_tables(g, &w, first):
            _block_product(g, &w)
        _block_row(g, &w)
        first = False
        _emit_row(g, w.row, w.KB, pc, w.penblk, uoff, 0, w.ublk,
                  g.out + (ooff - g.out_offset) if g.out != NULL else NULL, w.oblk, &bc, &bu)
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


cdef class GridKernel:
    """A plan as the kernel reads it, built once per plan and shared by all
    the searches of its rows (thread-safe: search copies what it changes).

    plan: a nndfast._plan.Plan; its arrays are read in place (and kept
    alive here): X (N, I), y (N, O), W (I*H + H*O,) W1.ravel() then
    W2.ravel(), values (axis values concatenated in plan order), and per
    plan axis (m,) int64: vstart (offset into values), vlen (length >= 1),
    which (index in W, distinct), ustride (user flat-index stride) and
    pstride (plan-order stride); pen (Part 7's penalty of each value, laid
    out as values, or size 0).  Scalars: H, tile, etile, qbatch, nblock,
    nfold, reg, scale, pen0 (see Plan and search).
    """
    cdef Grid g
    cdef const double[:, ::1] X
    cdef const double[:, ::1] y
    cdef const double[::1] W
    cdef const double[::1] values
    cdef const int64_t[::1] vstart
    cdef const int64_t[::1] vlen
    cdef const int64_t[::1] which
    cdef const int64_t[::1] ustride
    cdef const int64_t[::1] pstride
    cdef const double[::1] pen

    def __init__(self, plan):
        cdef Py_ssize_t a
        self.X, self.y, self.W, self.values = plan.X, plan.y, plan.W, plan.values
        self.vstart, self.vlen, self.which = plan.vstart, plan.vlen, plan.which
        self.ustride, self.pstride, self.pen = plan.ustride, plan.pstride, plan.pen
        g = &self.g
        g.N, g.I, g.H = self.X.shape[0], self.X.shape[1], plan.H
        g.O, g.m = self.y.shape[1], self.vlen.shape[0]
        g.X, g.y, g.W, g.values = &self.X[0, 0], &self.y[0, 0], &self.W[0], &self.values[0]
        g.vstart, g.vlen, g.which = &self.vstart[0], &self.vlen[0], &self.which[0]
        g.ustride, g.ostride = &self.ustride[0], &self.ustride[0]
        g.out, g.out_offset, g.rowout = NULL, 0, False
        g.tile, g.etile, g.qbatch = plan.tile, plan.etile, plan.qbatch
        g.nblock, g.nfold = plan.nblock, plan.nfold
        g.nprefix = 1
        for a in range(g.m - g.nblock):
            g.nprefix = g.nprefix * g.vlen[a]
        g.reg, g.scale, g.pen0 = plan.reg, plan.scale, plan.pen0
        g.pen = &self.pen[0] if self.pen.shape[0] > 0 else NULL


def search(GridKernel kernel not None,    # IN  the plan (GridKernel(plan))
           double[::1] out,               # OUT surface, or size 0 for none
           int64_t out_offset,            # IN  subtracted from every out index
           bint rowout,                   # IN  out is rows in row order (plan strides)
           int64_t p0, int64_t p1,        # IN  rows [p0, p1), p0 < p1
           int64_t chunk,                 # IN  rows per chunk, >= 1
           int num_threads):              # IN  >= 1
    """Evaluate rows [p0, p1) of the plan's grid.

    nblock == 1: row p is tile p // nprefix (``tile`` values) of the
    innermost axis at outer prefix p % nprefix, where nprefix is the product
    of the outer axes' lengths (tile-major).  rowout: a row's values go to
    out[(points in the rows before it) - out_offset ...], as run_range
    returns them (plan-order strides); else to the user strides (the
    user-layout surface).
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
    cdef Grid g = kernel.g
    cdef int64_t nchunks = (p1 - p0 + chunk - 1) // chunk
    cdef int64_t c, lo, hi
    cdef int nt = num_threads
    cdef int64_t work
    cdef int64_t sz[4]
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
    g.out = &out[0] if out.shape[0] > 0 else NULL
    g.out_offset = out_offset
    g.rowout = rowout
    g.ostride = &kernel.pstride[0] if rowout else &kernel.ustride[0]
    # Team size by work: a parallel region ends at a barrier, so a call lasts
    # as long as its slowest thread, and on busy cores (other processes,
    # numpy's spinning BLAS threads) a descheduled team thread holds it for
    # a time slice, longer than a small search's whole work.
    work = (p1 - p0) * (g.tile if g.nblock > 1 else min(g.tile, g.vlen[g.m - 1])) * g.N * g.O
    if nt > nchunks:
        nt = <int> nchunks
    if nt > work // GRID_TEAM_MIN_TERMS:
        nt = <int> max(1, work // GRID_TEAM_MIN_TERMS)
    # the process's team policy (_openmp_policy.h): one thread in a forked
    # child, while searches' teams are backed off, or beyond the idle cores
    nt = team_threads(GRID_TEAMS, max(nt, 1))
    # every thread's scratch before any work: a search that cannot have it
    # fails at once, not after part of its chunks
    scr = _alloc_scratch(&g, nt, sz)
    if scr == NULL:
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
                if g.nblock > 1:
                    _chunk_fused(&g, lo, hi, &scr[0], &pc[c], &pu[c])
                else:
                    _chunk(&g, lo, hi, &scr[0], &pc[c], &pu[c])
        else:
            # Fixed chunks handed out one at a time (dynamic): a thread the OS
            # deschedules delays the call by at most the chunk it holds while
            # the others take the rest; which thread runs a chunk never changes
            # its numbers (results per chunk, combined in order below).
            # Every team thread notes itself on entry, whether or not it gets a
            # chunk: the free-core count must know all of nndfast's workers
            # (an idle one spins for a while, and would read as other work).
            t0 = team_clock()
            with parallel(num_threads=nt):
                team_note_worker()
                for c in prange(nchunks, schedule='dynamic', chunksize=1):
                    lo = p0 + c * chunk
                    hi = min(p1, lo + chunk)
                    if g.nblock > 1:
                        _chunk_fused(&g, lo, hi, &scr[threadid()], &pc[c], &pu[c])
                    else:
                        _chunk(&g, lo, hi, &scr[threadid()], &pc[c], &pu[c])
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
