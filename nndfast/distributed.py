"""grid_search on a Dask cluster: ``nndfast.grid_search(..., client=client)``.

The grid is cut into contiguous ranges of its outer prefix (the chunk API of
nndfast.grid: ``_make_plan`` and ``_run_range``).  The plan is scattered to
every worker once; each task runs one range with the compiled kernel on that
worker's threads and returns ``(best_cost, best_flat_index, costs_slice)``.
The client combines the ranges in index order, exactly as the local call
combines its chunks, so the answer is bitwise identical to the local call
whatever the cluster's size, speed or failures.

Tasks are pure functions of (plan, start, stop), so when a worker dies Dask
recomputes its ranges on another worker and the answer does not change.

Dask is an optional extra: ``pip install "nndfast[dask]"``.  This module
imports it only when a client is actually used.
"""
import threading
import time
import uuid

import numpy as np

from nndfast._threads import resolve_num_threads

__all__ = ["connect", "run_grid_search", "EXTRA_HINT"]

EXTRA_HINT = 'pip install "nndfast[dask]"'

# Chunking: about this many ranges per worker thread, so that a slow or lost
# worker costs little at the tail; but never ranges below _MIN_CHUNK_EVALS
# evaluations, so per-task scheduling (a few ms) stays well under 1% of a task.
_CHUNKS_PER_THREAD = 4
_MIN_CHUNK_EVALS = 5_000_000
# Exception retries per task (worker deaths are rescheduled by Dask itself,
# up to distributed.scheduler.allowed-failures times).
_RETRIES = 3

# One range at a time per worker process: a task uses all of the worker's
# threads through OpenMP, so a second concurrent task would oversubscribe.
_KERNEL_LOCK = threading.Lock()


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "grid_search(client=...) runs the search on a Dask cluster, which needs the "
            f"optional 'dask' extra: {EXTRA_HINT}") from exc
    return distributed


def connect(address, **kwargs):
    """Return a ``dask.distributed.Client`` connected to the scheduler at ``address``.

    ``address`` is what ``dask scheduler`` prints, e.g. ``"tcp://10.0.0.5:8786"``.
    Keyword arguments go to ``Client``.  Raises ImportError naming the extra
    when Dask is not installed.
    """
    distributed = _import_distributed()
    return distributed.Client(address, **kwargs)


def _grid():
    from nndfast import grid  # late: grid imports this module lazily too
    return grid


def _run_chunk(plan, start, stop, full_output, num_threads):
    """Task body (runs on a worker): evaluate outer range [start, stop).

    Pure: the result depends only on the arguments, so Dask may rerun it
    anywhere after a worker is lost.  ``num_threads=None`` means the
    worker's own thread count (``dask worker --nthreads``); it is passed to
    the kernel explicitly because Dask's nannies start workers with
    OMP_NUM_THREADS=1.
    """
    if num_threads is None:
        try:
            from distributed import get_worker
            worker = get_worker()
            state = getattr(worker, "state", worker)
            num_threads = max(1, int(state.nthreads))
        except (ImportError, ValueError):  # not inside a worker
            num_threads = None
    with _KERNEL_LOCK:
        return _grid()._run_range(plan, start, stop, full_output, num_threads)


def _ranges(n_outer, inner, total_threads):
    """Split outer units [0, n_outer) into contiguous ranges; independent of timing."""
    n = max(1, total_threads) * _CHUNKS_PER_THREAD
    n = min(n, n_outer, max(1, (n_outer * inner) // _MIN_CHUNK_EVALS))
    n = max(1, n)
    bounds = [(i * n_outer) // n for i in range(n + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(n) if bounds[i + 1] > bounds[i]]


def _combine(parts):
    """Best over chunk results in index order; ties (and NaN) as np.argmin.

    ``parts`` is a list of (best_cost, best_flat_index) in chunk order.
    np.argmin over the whole surface returns the first NaN if there is one,
    else the first minimum; scanning chunks in order with a strict
    comparison gives the same index.
    """
    best_cost, best_flat = None, None
    for cost, flat in parts:
        if best_cost is None:
            best_cost, best_flat = cost, flat
        elif np.isnan(best_cost):
            break
        elif np.isnan(cost) or cost < best_cost:
            best_cost, best_flat = cost, flat
    return best_cost, best_flat


def run_grid_search(client, NN, X, y, axes, full_output=True, num_threads=None,
                    progress=False):
    """``grid_search`` on the Dask cluster behind ``client``; see nndfast.grid_search.

    Same arguments and result as the local call, bitwise.  ``num_threads``
    is per worker: None uses each worker's own thread count.
    """
    distributed = _import_distributed()
    if not isinstance(client, distributed.Client):
        raise TypeError(
            f"client must be a dask.distributed.Client, got {type(client).__name__}")
    if num_threads is not None:
        num_threads = resolve_num_threads(num_threads)
    grid = _grid()
    t0 = time.perf_counter()
    plan = _make_plan(grid, NN, X, y, axes, full_output)
    n_outer, inner, shape = _geometry(plan)
    total = n_outer * inner
    costs = np.empty(total, dtype=np.float64) if full_output else None
    report = _progress(grid, progress, total)

    workers = client.nthreads()
    total_threads = sum(workers.values()) if workers else 1
    if num_threads is not None and workers:
        total_threads = len(workers) * num_threads
    ranges = _ranges(n_outer, inner, total_threads)

    token = uuid.uuid4().hex
    futures = []
    plan_future = None
    try:
        # Once, to every worker: tasks then find the plan locally, and it
        # survives the loss of any one worker.
        [plan_future] = client.scatter([plan], broadcast=True, hash=False)
        for i, (start, stop) in enumerate(ranges):
            futures.append(client.submit(
                _run_chunk, plan_future, start, stop, bool(full_output), num_threads,
                key=f"nndfast-grid-{token}-{i}", pure=False, retries=_RETRIES))
        index_of = {f.key: i for i, f in enumerate(futures)}
        parts = [None] * len(ranges)
        done = 0
        for fut in distributed.as_completed(futures):
            i = index_of[fut.key]
            best_cost, best_flat, chunk_costs = fut.result()
            fut.release()
            start, stop = ranges[i]
            parts[i] = (best_cost, best_flat)
            if costs is not None:
                costs[start * inner:stop * inner] = np.asarray(chunk_costs).ravel()
            done += (stop - start) * inner
            if report is not None:
                report(done)
    except BaseException:
        # Ctrl-C or an error: stop the cluster's work, then re-raise.
        client.cancel(futures + ([plan_future] if plan_future is not None else []))
        raise
    finally:
        if report is not None and hasattr(report, "close"):
            report.close()
    client.cancel([plan_future])
    best_cost, best_flat = _combine(parts)
    seconds = time.perf_counter() - t0
    return _result(grid, plan, costs, best_cost, best_flat, shape, seconds)


# ---------------------------------------------------------------------------
# Adapters to nndfast.grid's internals (kept in one place).
# ---------------------------------------------------------------------------

def _make_plan(grid, NN, X, y, axes, full_output):
    return grid._make_plan(NN, X, y, axes)


def _geometry(plan):
    return plan.n_outer, plan.inner, plan.shape


def _progress(grid, progress, total):
    if not progress:
        return None
    if callable(progress):
        return lambda done: progress(done, total)
    return None


def _result(grid, plan, costs, best_cost, best_flat, shape, seconds):
    idx = tuple(int(j) for j in np.unravel_index(best_flat, shape))
    return grid.GridResult(
        costs=None if costs is None else costs.reshape(shape),
        best_cost=best_cost, best_index=idx,
        best_weights={n: float(v[j]) for n, v, j in zip(plan.names, plan.values, idx)},
        evaluations=int(np.prod(shape)), seconds=seconds)
