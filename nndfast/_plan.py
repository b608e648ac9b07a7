"""The grid-search plan (shared by both drivers): one search, validated and
laid out for the compiled kernel nndfast._grid.

The local driver (nndfast.grid) and the Dask driver (nndfast.distributed)
both run a search this way, and import nothing of each other::

    plan = make_plan(NN, X, y, axes)       # validated, picklable
    surface = new_surface(plan, full_output)   # None, or refused if it cannot fit
    for start, stop in ranges covering [0, plan.n_rows):
        best_cost, best_flat, costs = run_range(plan, start, stop, full_output, 1)
        # place each costs slice with place(plan, surface, start, stop, costs)
    best = combine(the (best_cost, best_flat) pairs, in any order)
    return result(plan, surface, best, seconds)

The plan holds the axis order (the cheapest innermost axis, see
inner_cost, or a fused block of trailing axes, see fused_layout), the rows
(tiles of the innermost axis, or outer prefixes of a fused block), the
kernel's chunk of rows and Part 7's penalty (see penalty).  On one
machine (one SIMD build), every cost is computed by the same
instructions whichever range, chunk or thread evaluates it, and the best
point is the minimum in a strict total order (first NaN, else lowest cost,
ties to the lowest flat index: np.argmin), so any split of [0, n_rows)
combined with combine reproduces a whole-grid search bit for bit.
"""
import functools
import itertools
import math
import os
from typing import NamedTuple

import numpy as np

from nndfast import _grid
from nndfast._results import GridResult
from nndfast._threads import resolve_num_threads
from nndfast._validate import F64, as_data, as_lambda, as_weights, parse_axes

__all__ = ["Axis", "Plan", "make_plan", "better", "run_range", "combine", "place", "new_surface",
           "result",
           "check_surface_fits", "available_memory"]

#: Innermost-axis values per kernel row; longer axes are split in tiles so
#: scratch stays small and Ctrl-C stays prompt...
_TILE = 2**15
#: ...and on few examples a chunk's tables (about N*(O+1) doubles per tile
#: value) stay around this many doubles,
_TABLE_DOUBLES = 2**20
#: but a row keeps at least this many values: on many examples the tables
#: are built per example tile (below), and every row pays its prefix's
#: hidden layer and exp(-z3 without the axis) once per example.
_MIN_TILE = 1024
#: One example tile's tables (about etile*tile*(O+2) doubles) stay within
#: this, so they stay in a core's L2 cache whatever N is...
_ETILE_DOUBLES = 2**17
#: ...and the row sums of a batch of prefixes (qbatch*tile doubles) within
#: this: the scratch of a thread is a few MB at most.
_ACC_DOUBLES = 2**15
#: A fused layout is used only while its scratch (which holds all N
#: examples, see _fused_scratch) stays within this many doubles.
_FUSED_SCRATCH = 2**19
#: Evaluations per chunk (the unit of parallel work), at most; a chunk
#: recomputes its innermost-axis tables once, so chunks are large...
_CHUNK_EVALS = 2**17
#: ...and a chunk holds at most this many evaluations x examples (a bounded
#: slice of one thread's work whatever len(X) is), so Ctrl-C and progress
#: stay prompt on big data; a chunk builds its tables once for all its prefixes,
#: so the more prefixes it holds the less that costs per evaluation.  One
#: thread's chunks are as large as these two bounds allow (Plan.chunk_rows).
_CHUNK_WORK = 2**27
#: A search on a team of threads cuts the grid into at least this many chunks
#: per thread: chunks are handed out one at a time, so a thread the OS
#: deschedules delays the search by one chunk, not by its share...
_CHUNKS_PER_THREAD = 4
#: ...where each chunk keeps at least this many rows: a chunk builds its
#: tables once, about six rows' work (10,000 examples, 64 values), so a grid
#: of few rows takes fewer chunks per thread, down to one.
_MIN_TEAM_CHUNK_ROWS = 24
#: Plan.chunk, the unit of Dask's split of a grid into tasks, cuts it into at
#: least this many chunks where it has the rows.
_MIN_CHUNKS = 16
_INT64_MAX = np.iinfo(np.int64).max
#: The user's last axis runs innermost unless the cost model finds another
#: cheaper by more than this: within it the model cannot tell them apart,
#: and a surface in the plan's order is written by whole rows (a reordered
#: one, by values, touches a page per value and batch).  The choice never
#: depends on full_output, so a best-only search has the surface's bits.
_USER_INNER = 1.05
#: Surfaces up to this size skip the available-memory check (reading
#: /proc/meminfo costs more than a small search).
_SMALL_SURFACE_BYTES = 2**26


class Axis(NamedTuple):
    """One axis of a search: a weight and the values it takes."""
    #: canonical weight name, "W1[i,j]" or "W2[i,j]"
    name: str
    #: "W1" or "W2"
    layer: str
    #: row and column of the weight in its layer
    i: int
    j: int
    #: float64 1-D C-contiguous values (parse_axes's array: only read)
    values: np.ndarray
    #: the weight's index in W1.ravel() ++ W2.ravel()
    flat: int = -1


def better(c, u, bc, bu):
    """Does point (cost c, flat index u) come before (bc, bu) in np.argmin's
    order: the first NaN, else the lowest cost, ties to the lowest flat index?

    The one Python home of that order (combine and grid.py's subclass path
    use it); the compiled kernel keeps its own copy in C (_grid.pyx's
    _better), which cannot call Python inside its nogil loops.
    """
    if bc != bc:
        return c != c and u < bu
    return c != c or c < bc or (c == bc and u < bu)


class Plan(object):
    """One search, validated and laid out for the kernel (plain data: picklable).

    Plan order: the kernel's axis order, outer axes first, the innermost last
    (``order[a]`` is the user axis at plan position a).  The grid is split
    into ``n_rows`` rows: with nblock == 1, row r is tile r // nprefix of
    the innermost axis at outer prefix r % nprefix (tile-major: consecutive
    rows share a tile, so a chunk's tables serve all its prefixes); with
    nblock > 1 (a fused block, see fused_layout), row r is outer prefix r
    with all the points of the last nblock axes.  Rows [a, b) hold
    row_start(b) - row_start(a) points; with one tile (and always with a
    fused block) those are the plan-order flat points [row_start(a),
    row_start(b)).  reg, scale, pen0, pen: Part 7's cost (see penalty).
    """

    def __init__(self, X, y, W, H, grid, order, nblock=1, nfold=0, penalty=None):
        self.X, self.y, self.W, self.H = X, y, W, H
        self.names = [g.name for g in grid]
        self.axis_values = [g.values for g in grid]
        self.shape = tuple(len(v) for v in self.axis_values)
        self.evaluations = math.prod(self.shape)
        self.order = tuple(order)
        ustrides = [math.prod(self.shape[a + 1:]) for a in range(len(self.shape))]
        pshape = [self.shape[a] for a in order]
        self.plan_shape = tuple(pshape)
        # one axis: its values as parse_axes returned them (often the caller's
        # own array, only read); a copy of 10^8 values would cost about half
        # the search
        self.values = (self.axis_values[0] if len(order) == 1
                       else np.concatenate([self.axis_values[a] for a in order]))
        self.vlen = np.array(pshape, dtype=np.int64)
        self.vstart = np.concatenate(([0], np.cumsum(self.vlen)[:-1])).astype(np.int64)
        self.which = np.array([grid[a].flat for a in order], dtype=np.int64)
        self.ustride = np.array([ustrides[a] for a in order], dtype=np.int64)
        self.pstride = np.array([math.prod(pshape[a + 1:]) for a in range(len(pshape))],
                                dtype=np.int64)
        self.nblock, self.nfold = nblock, nfold
        self.reg, self.scale, self.pen0, pen = penalty or (False, 1.0, 0.0, None)
        self.pen = (np.concatenate([pen[a] for a in order]) if self.reg
                    else np.empty(0))
        if nblock > 1:
            nk = self.tile = math.prod(pshape[-nblock:])
            self.ntiles = 1
        else:
            nk = pshape[-1]
            per_value = X.shape[0] * (y.shape[1] + 1)
            self.tile = min(nk, _TILE, max(_MIN_TILE, _TABLE_DOUBLES // max(1, per_value)),
                            # one row within a chunk's work where 64 values allow
                            max(64, _CHUNK_WORK // max(1, X.shape[0])))
            self.ntiles = -(-nk // self.tile)
        # examples per example tile: all of them when their tables fit, else
        # a multiple of 4 (the row loops sum pairs in groups of four, so the
        # groups, and the bits, are those of one pass over all examples)
        n = X.shape[0]
        per_example = self.tile * (y.shape[1] + 2)
        self.etile = max(1, n) if n * per_example <= _ETILE_DOUBLES else min(
            max(1, n), max(4, _ETILE_DOUBLES // per_example // 4 * 4))
        self.qbatch = max(1, _ACC_DOUBLES // self.tile)
        self.row_len = nk
        self.nprefix = self.evaluations // nk
        self.n_rows = self.nprefix * self.ntiles
        # a chunk rebuilds its tables (worth several rows), so one thread's
        # chunks keep >= 64 rows where the grid has them (see chunk_for)
        rows = max(-(-_CHUNK_EVALS // self.tile), 64)
        self.chunk_rows = max(1, min(rows, _CHUNK_WORK // (self.tile * max(1, X.shape[0]))))
        self.chunk = max(1, min(self.chunk_rows, -(-self.n_rows // _MIN_CHUNKS)))
        self.identity = self.order == tuple(range(len(order)))

    def chunk_for(self, num_threads):
        """Rows per chunk of a search on ``num_threads`` threads: chunk_rows
        on one thread (each chunk builds its tables once, which costs about
        as much as a few rows: at 64 x 64 points, 16 chunks ran at half the
        rate of one); on a team, also _CHUNKS_PER_THREAD chunks per thread
        where each keeps _MIN_TEAM_CHUNK_ROWS rows, else fewer, down to one
        per thread (at 10,000 examples, a 64 x 64 grid on two threads ran at
        2.3e9 evaluation-examples a second in 8 chunks, 4.5e9 in 2).  Never
        changes a cost or the best point (see run_range)."""
        if num_threads <= 1:
            return self.chunk_rows
        per_thread = max(1, min(_CHUNKS_PER_THREAD,
                                self.n_rows // (num_threads * _MIN_TEAM_CHUNK_ROWS)))
        return max(1, min(self.chunk_rows, -(-self.n_rows // (per_thread * num_threads))))

    def kernel(self):
        """The compiled kernel's view of the plan (nndfast._grid.GridKernel),
        built at the first search and shared by the later ones."""
        k = self.__dict__.get("_kernel")
        if k is None:
            k = self._kernel = _grid.GridKernel(self)
        return k

    def __getstate__(self):
        # the kernel view holds raw pointers: a copy builds its own
        state = dict(self.__dict__)
        state.pop("_kernel", None)
        return state

    def __setstate__(self, state):
        # Unpickled arrays (a Dask worker's copy of the plan) can sit at any
        # byte offset of the message buffer; the kernels load doubles and
        # int64s directly, so realign (copy) those that are not aligned.
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                state[key] = np.require(value, requirements=("C", "A"))
        self.__dict__.update(state)

    def row_start(self, r):
        """Points in the rows before row r (0 <= r <= n_rows), in row order:
        tile t's rows hold nprefix * (its length) points."""
        t, q = divmod(r, self.nprefix)
        k0 = min(t * self.tile, self.row_len)
        return self.nprefix * k0 + q * min(self.tile, self.row_len - k0)

    def index(self, flat):
        """User grid index (tuple) of a user flat index."""
        return tuple(int(i) for i in np.unravel_index(flat, self.shape))


def inner_cost(grid, pos, N, I, H, O):
    """Rough cost (in exp-path sigmoids) of the search with axis pos innermost.

    Mirrors the kernel's paths: the precomputed-exponential rows cost about
    a third of a sigmoid per pair; they apply when the innermost axis's
    exponentials do not move with an outer axis (W2[h,o] innermost: no outer
    axis on W1's column h; W1[i,h] innermost: no outer axis on W2[h,:]).
    """
    nk = len(grid[pos].values)
    outer = [a for a in range(len(grid)) if a != pos]
    layer, i, j = grid[pos].layer, grid[pos].i, grid[pos].j
    h = j if layer == "W1" else i           # the hidden unit the axis touches
    touched = {grid[a].j for a in outer if grid[a].layer == "W1"}
    n_outer = math.prod(len(grid[a].values) for a in outer)
    per_prefix = 8 * N * len(touched) + 0.25 * N * H * (I + O) + 50
    if layer == "W2":
        per_eval = N if h in touched else 0.3 * N
        per_prefix += 8 * N * (O - 1)
    else:
        w2_moves = any(grid[a].layer == "W2" and grid[a].i == h for a in outer)
        per_eval = N * O if w2_moves else 0.3 * N * O
        if h in touched:  # A (and E) refreshed each time an axis on column h moves
            steady = math.prod(len(grid[a].values) for a in outer
                               if not (grid[a].layer == "W1" and grid[a].j == h))
            if steady == 1:   # refreshed every prefix: the kernel skips the tables
                per_eval = N * O + N
            else:
                per_eval += (N if w2_moves else N + N * O) / steady
    return n_outer * (per_prefix + nk * (per_eval + 0.3))


# -- fused blocks and Part 7's penalty (the kernel's _chunk_fused, reg) -------

#: A fused row holds at most this many points, and its product table (pairs
#: x points after the folded axis) at most _FUSED_TABLE doubles, per thread.
_FUSED_MAX_ROW = 2**16
_FUSED_TABLE = 2**16
#: Grids smaller than this keep the one-axis layout (choosing costs more).
_FUSED_MIN_EVALS = 2**17
#: Blocks of at most this many axes are considered.
_FUSED_MAX_AXES = 4
#: A fused layout is used when its modelled cost is below the one-axis
#: layout's times this (tests raise it to force fused layouts on small grids).
_FUSED_PREFER = 1.0


def _moves_table(a, b):
    """Does outer axis a move fused block axis b's table (a, b: Axis, or
    any (layer, i, j) carrier)?  A W1[i,h] table reads column h of W1 and
    W2[h,:]; a W2[h,o] table a2[:,h]."""
    la, ia, ja = a.layer, a.i, a.j
    lb, ib, jb = b.layer, b.i, b.j
    if lb == "W1":
        return (la == "W1" and ja == jb) or (la == "W2" and ia == jb)
    return la == "W1" and ja == ib


def _block_ok(grid, block, O):
    """Do the block's axes touch distinct terms a2[e,h]*W2[h,o] of z3?"""
    seen = set()
    for a in block:
        layer, i, j = grid[a].layer, grid[a].i, grid[a].j
        terms = {(j, o) for o in range(O)} if layer == "W1" else {(i, j)}
        if seen & terms:
            return False
        seen |= terms
    return True


def _fused_cost(lens, moves, outer, block, nfold, N, I, H, O, w1):
    """Rough cost of a fused layout, in inner_cost's units: the rows
    (K.row_e over every point, per prefix work), plus each table's rebuilds
    (once per value of the outer axes down to the innermost one moving it)
    and the product table's.  moves[a][b]: outer axis a moves b's table;
    w1[a]: axis a is a W1 weight (its column, else None)."""
    NP = N * O
    KB = math.prod(lens[b] for b in block)
    KR = math.prod(lens[b] for b in block[nfold:])
    touched = len({w1[a] for a in outer if w1[a] is not None})
    per_prefix = (8 * N * touched + 0.25 * N * H * (I + O) + 50 + 8 * NP
                  + len(block) * (N * I + O) + (KB // KR) * (20 + 2 * NP)
                  + KB * (0.3 * NP + 0.3))
    prefix = [1]
    for a in outer:
        prefix.append(prefix[-1] * lens[a])
    total = prefix[-1] * per_prefix
    r_builds = 1
    for bi, b in enumerate(block):
        last = max((p for p, a in enumerate(outer) if moves[a][b]), default=-1)
        count = prefix[last + 1]
        total += count * lens[b] * (8 * N + 9 * NP if w1[b] is not None else 8 * NP)
        if bi >= nfold:
            r_builds = max(r_builds, count)
    return total + r_builds * 0.15 * NP * KR


def _fused_scratch(lens, block, N, I, H, O):
    """Doubles of one thread's scratch in _chunk_fused (the kernel's
    _carve, with no fold: the larger case), which holds all N
    examples: the plan keeps fused layouts to data small enough."""
    NP = N * O
    KB = math.prod(lens[b] for b in block)
    nb = len(block)
    tsize = NP * sum(lens[b] for b in block)
    return (I * H + H * O + N * H + 4 * NP + 2 * N + N * max(lens[b] for b in block)
            + nb * (N + O) + nb + 2 * tsize + 2 * NP * KB + 2 * KB)


def fused_layout(grid, N, I, H, O):
    """The cheapest fused layout, as (cost, order, nblock, nfold), or None.

    A block is 2.._FUSED_MAX_AXES axes touching distinct terms of z3 (see
    _chunk_fused), put last in plan order; with nfold, its first axis's table
    is multiplied into exp(-base) per value instead of into the product
    table (the right choice when that table moves every prefix).  Outer
    axes: those moving a product-table axis outermost, then those moving
    only the folded table, then the rest, each group in user order, so the
    tables are rebuilt as rarely as the order allows.
    """
    lens = tuple(len(g.values) for g in grid)
    if len(grid) < 2 or math.prod(lens) < _FUSED_MIN_EVALS:
        return None
    return _fused_layout_of(tuple((g.layer, g.i, g.j) for g in grid), lens, N, I, H, O)


@functools.lru_cache(maxsize=64)
def _fused_layout_of(weights, lens, N, I, H, O):
    # fused_layout by the axes' (layer, i, j) and lengths: a search repeated
    # on other values of the same shape reuses the choice.
    m = len(weights)
    grid = [Axis(None, *w, values=None) for w in weights]
    moves = [[_moves_table(grid[a], grid[b]) for b in range(m)] for a in range(m)]
    w1 = [g.j if g.layer == "W1" else None for g in grid]
    best = None
    for size in range(2, min(_FUSED_MAX_AXES, m) + 1):
        for block in itertools.combinations(range(m), size):
            KB = math.prod(lens[b] for b in block)
            if KB > _FUSED_MAX_ROW or not _block_ok(grid, block, O):
                continue
            if _fused_scratch(lens, block, N, I, H, O) > _FUSED_SCRATCH:
                continue
            rest = [a for a in range(m) if a not in block]
            for fold in (None,) + block:
                blk = list(block) if fold is None else [fold] + [b for b in block if b != fold]
                nfold = 0 if fold is None else 1
                if N * O * math.prod(lens[b] for b in blk[nfold:]) > _FUSED_TABLE:
                    continue
                tail = blk[nfold:]
                outer = sorted(rest, key=lambda a: (
                    0 if any(moves[a][b] for b in tail) else
                    1 if nfold and moves[a][blk[0]] else 2, a))
                cost = _fused_cost(lens, moves, outer, blk, nfold, N, I, H, O, w1)
                if best is None or cost < best[0]:
                    best = (cost, tuple(outer + blk), len(blk), nfold)
    return best


def penalty(lam, grid, W, n):
    """Part 7's cost for the kernel, as (reg, scale, pen0, pen per user axis).

    sum(J) over the outputs, with nndfast's and the reference's costFunction
    (each output carries 1/outputLayerSize of the penalty), is
    0.5*sum((y-yHat)**2)/n + lam/2*(sum(W1**2) + sum(W2**2)): the tutorial's
    data cost times scale = 1/n plus lam/2*w**2 for every weight, pen0 for
    the weights off the axes, pen[a][k] for value k of axis a.  lam None:
    the plain cost (None is returned, reg off).
    """
    if lam is None:
        return None
    c = lam / 2.0
    off = np.ones(W.size, dtype=bool)
    off[[g.flat for g in grid]] = False
    return True, 1.0 / n, c * float(np.sum(W[off] ** 2)), [c * g.values ** 2 for g in grid]


def make_plan(NN, X, y, axes):
    """Validate a search and lay it out for the kernel; returns a Plan.

    NN is any network with the tutorial's attributes (W1, W2 and the layer
    sizes); it is only read.  X, y are checked as Neural_Network checks
    them; axes as grid_search documents.  Raises TypeError / ValueError for
    bad input, ValueError if the point count overflows int64.
    """
    I, H, O = NN.inputLayerSize, NN.hiddenLayerSize, NN.outputLayerSize
    lam = as_lambda(getattr(NN, "Lambda", None))
    W1 = as_weights(NN.W1, "NN.W1", (I, H))
    W2 = as_weights(NN.W2, "NN.W2", (H, O))
    X, y = as_data(X, y, I, O)
    grid = [Axis(*g) for g in parse_axes(axes, {"W1": (I, H), "W2": (H, O)},
                                         all_finite=_grid.all_finite)]
    total = math.prod(len(g.values) for g in grid)
    if total > _INT64_MAX:
        raise ValueError(
            f"grid_search: the grid has {total} points, more than int64 can count "
            f"({_INT64_MAX}); use fewer or shorter axes")
    grid = [g._replace(flat=g.i * H + g.j if g.layer == "W1" else I * H + g.i * O + g.j)
            for g in grid]
    costs = [inner_cost(grid, a, X.shape[0], I, H, O) for a in range(len(grid))]
    # cheapest innermost axis; the user's last where it costs about the same
    # (the surface's rows are then written whole)
    inner = min(range(len(grid)), key=lambda a: (costs[a], -a))
    if costs[-1] <= costs[inner] * _USER_INNER:
        inner = len(grid) - 1
    hin = grid[inner].j if grid[inner].layer == "W1" else None
    # outer axes in user order, except that axes on the innermost W1 axis's
    # column go outermost, so its activations are refreshed least often
    outer = sorted((a for a in range(len(grid)) if a != inner),
                   key=lambda a: (0 if (grid[a].layer == "W1" and grid[a].j == hin) else 1, a))
    W = np.concatenate((W1.ravel(), W2.ravel()))
    pen = penalty(lam, grid, W, X.shape[0])
    fused = fused_layout(grid, X.shape[0], I, H, O)
    if fused is not None and fused[0] < min(costs) * _FUSED_PREFER:
        return Plan(X, y, W, H, grid, list(fused[1]), fused[2], fused[3], pen)
    return Plan(X, y, W, H, grid, outer + [inner], penalty=pen)


def combine(results):
    """Best (cost, flat) of several (cost, flat) pairs by better's order;
    pairs with flat < 0 (an empty range) are skipped."""
    best = None
    for c, u in results:
        if u < 0:
            continue
        if best is None or better(c, u, *best):
            best = (c, u)
    return best


def run_range(plan, start, stop, full_output=False, num_threads=None, out=None):
    """Evaluate rows [start, stop) of a plan (0 <= start < stop <= plan.n_rows).

    Returns (best_cost, best_flat, costs): the best point of the range by
    np.argmin's order, its flat index in the user's grid, and the costs:
    - out=None, full_output: a new 1-D array of the range's points, row
      after row (each row's values in order); place it with place;
    - out given (the user-layout surface, C-contiguous float64 of
      plan.shape): written in place, costs is None;
    - otherwise None, and nothing of size the grid is allocated.
    Deterministic: independent of num_threads and of how rows are split.
    """
    nt = resolve_num_threads(num_threads)
    costs = None
    rowout = False
    if out is not None:
        target, offset = out.reshape(-1), 0
    elif full_output:
        a, b = plan.row_start(start), plan.row_start(stop)
        costs = target = np.empty(b - a)
        offset, rowout = a, True
    else:
        target, offset = np.empty(0), 0
    bc, bu = _grid.search(plan.kernel(), target, offset, rowout, start, stop,
                          plan.chunk_for(nt), nt)
    return bc, bu, costs


def place(plan, surface, start, stop, costs):
    """Write run_range's costs of rows [start, stop) into the user-layout surface."""
    if plan.ntiles > 1:
        # tile-major rows: each tile's run of rows is a block of prefixes x
        # that tile's values
        view = surface.transpose(plan.order).reshape(plan.nprefix, plan.row_len) \
            if plan.identity else surface.transpose(plan.order)
        pos = 0
        for t in range(start // plan.nprefix, (stop - 1) // plan.nprefix + 1):
            qa = max(start - t * plan.nprefix, 0)
            qb = min(stop - t * plan.nprefix, plan.nprefix)
            k0 = t * plan.tile
            nk = min(plan.tile, plan.row_len - k0)
            block = costs[pos:pos + (qb - qa) * nk].reshape(qb - qa, nk)
            pos += (qb - qa) * nk
            if plan.identity:
                view[qa:qb, k0:k0 + nk] = block
            else:
                outer = np.unravel_index(np.arange(qa, qb), plan.plan_shape[:-1])
                view[outer + (slice(k0, k0 + nk),)] = block
        return
    a, b = plan.row_start(start), plan.row_start(stop)
    if plan.identity:
        surface.reshape(-1)[a:b] = costs
    else:
        view = surface.transpose(plan.order)
        view[np.unravel_index(np.arange(a, b), plan.plan_shape)] = costs


def available_memory():
    """Bytes the OS says are available now (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_surface_fits(plan):
    """Raise MemoryError if the plan's full surface exceeds the available memory."""
    need = plan.evaluations * F64.itemsize
    if need <= _SMALL_SURFACE_BYTES:
        return
    avail = available_memory()
    if avail is not None and need > avail:
        raise MemoryError(
            f"grid_search: the full cost surface of shape {plan.shape} needs "
            f"{need / 2**30:.3g} GiB but only {avail / 2**30:.3g} GiB are available; "
            f"pass full_output=False to get just the best point (no surface)")


def new_surface(plan, full_output):
    """The user-layout cost surface to fill (uninitialised, shape plan.shape),
    or None without full_output.  MemoryError, before allocating, if the OS
    says it cannot fit."""
    if not full_output:
        return None
    check_surface_fits(plan)
    return np.empty(plan.shape)


def result(plan, surface, best, seconds):
    """The GridResult of a search from its surface (or None), its combined
    (best_cost, best_flat) and its wall-clock seconds."""
    best_cost, best_flat = best
    best_index = plan.index(best_flat)
    best_weights = {name: float(v[i])
                    for name, v, i in zip(plan.names, plan.axis_values, best_index)}
    return GridResult(surface, float(best_cost), best_index, best_weights,
                      plan.evaluations, seconds)
