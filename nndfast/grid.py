"""Brute-force grid search over any chosen weights (Part 3 of the tutorial):
the API and its local driver.

``grid_search`` evaluates the tutorial's cost at every point of a grid of
weight values with the compiled kernel in nndfast._grid; nndfast.reference
has the same function written as the tutorial's loop.

The search itself (validation, axis order, rows, chunks, combining and
placing results) is the plan in nndfast._plan.  This module is the local
driver: it runs the plan's rows in blocks on this machine, with progress
and prompt Ctrl-C.  With a Dask client it hands the call to the Dask driver,
nndfast.distributed, which sits on the same plan.
"""
import time

from nndfast import _plan
from nndfast._progress import Progress
from nndfast._results import GridResult
from nndfast._threads import resolve_num_threads

__all__ = ["grid_search", "GridResult"]

#: Wall-clock seconds per block between checks for Ctrl-C and progress.
_BLOCK_SECONDS = 0.05


def grid_search(NN, X, y, axes, full_output=True, num_threads=None, progress=False,
                client=None):
    """Brute force: the tutorial's cost at every point of a grid of weights.

    Parameters
    ----------
    NN : Neural_Network (nndfast's or the reference's)
        Weights without an axis keep NN's current values.  NN is only read:
        its weights are unchanged afterwards, whatever happens.
    X : (n, inputLayerSize) array-like, y : (n, outputLayerSize) array-like
    axes : ordered mapping
        Weight -> 1-D array of finite values (any values, any count >= 1).
        A weight is "W1[i,j]" or "W2[i,j]" (spaces allowed) or ("W1", i, j).
        One axis up to every weight, from either layer.
    full_output : bool
        True: return the whole surface (refused with MemoryError before
        allocating if it does not fit in the available memory).  False:
        stream the minimum; nothing of the grid's size is allocated.
    num_threads : None or int >= 1
        None uses OMP_NUM_THREADS / threadpoolctl limits, else the usable
        cores.  Results are bitwise identical for every value.
    progress : bool or callable
        True draws a bar on stderr with the rate and an ETA; a callable is
        called with (done, total) evaluations after every block.
    client : None or dask.distributed.Client
        Run the search on that Dask cluster (nndfast.distributed; needs the
        extra: pip install "nndfast[dask]").  Same result, bit for bit;
        num_threads then means threads per worker (None: each worker's own).

    Returns
    -------
    GridResult with ``costs`` (shape (len(axis0), len(axis1), ...), where
    costs[i, j, ...] is sum(NN.costFunction(X, y)) at those weights, or None),
    ``best_cost``, ``best_index`` (tuple; ties to the lowest flat index, as
    np.argmin), ``best_weights`` (dict "W1[i,j]" -> value), ``evaluations``
    and ``seconds``.

    Ctrl-C raises KeyboardInterrupt within about 0.1 s: the work runs in
    blocks of about 50 ms, with signals checked between them.
    """
    if client is not None:
        from nndfast.distributed import run_grid_search
        return run_grid_search(client, NN, X, y, axes, full_output, num_threads, progress)
    t0 = time.perf_counter()
    nt = resolve_num_threads(num_threads)
    plan = _plan.make_plan(NN, X, y, axes)
    report = Progress(progress, plan.evaluations)
    surface = _plan.new_surface(plan, full_output)
    best = None
    evals_per_row = plan.evaluations / plan.n_rows
    # First block: about 3*2**20 evaluations x examples; then _BLOCK_SECONDS at the best
    # rate seen so far (not the last one: on a loaded machine a block that
    # waited for a descheduled thread would otherwise shrink the next ones,
    # and every block pays such a wait).  At least one chunk per thread.
    min_block = plan.chunk * nt
    first = 3 * 2**20 / (evals_per_row * max(1, plan.X.shape[0]))
    block = max(min_block, int(first) // plan.chunk * plan.chunk)
    rate = 0.0
    start = 0
    try:
        while start < plan.n_rows:
            stop = min(plan.n_rows, start + block)
            tb = time.perf_counter()
            bc, bu, _ = _plan.run_range(plan, start, stop, full_output, nt, out=surface)
            dt = time.perf_counter() - tb
            best = _plan.combine([best, (bc, bu)] if best else [(bc, bu)])
            if dt > 0:
                rate = max(rate, (stop - start) / dt)
            start = stop
            report.update(min(plan.evaluations, round(start * evals_per_row)))
            target = rate * _BLOCK_SECONDS if rate > 0 else 8 * block
            block = max(min_block, min(8 * block, int(target) // plan.chunk * plan.chunk))
    finally:
        report.close()
    return _plan.result(plan, surface, best, time.perf_counter() - t0)
