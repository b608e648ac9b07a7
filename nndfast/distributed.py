"""The Dask driver of grid_search: ``nndfast.grid_search(..., client=client)``.

It sits on the plan (nndfast._plan), as the local driver nndfast.grid does,
and imports nothing of that driver.  The grid is cut into contiguous row
ranges of the plan (``make_plan``, ``run_range``, ``place``, ``combine``).
The plan is scattered to
every worker once; each task runs one range with the compiled kernel, one
task per worker thread, and returns ``(best_cost, best_flat_index, costs)``.
The client combines the ranges in index order, exactly as the local call
combines its chunks, so the answer is bitwise identical to the local call
whatever the cluster's size, speed or failures.

Tasks are pure functions of (plan, start, stop), so when a worker dies Dask
recomputes its ranges on another worker and the answer does not change.

Dask is an optional extra: ``pip install "nndfast[dask]"``.  This module
imports it only when a client is actually used.
"""
import time
import uuid

from nndfast import _plan
from nndfast._progress import Progress
from nndfast._threads import resolve_num_threads
from nndfast._validate import check_search, network_fields, read_network

__all__ = ["connect", "run_grid_search", "EXTRA_HINT"]

EXTRA_HINT = 'pip install "nndfast[dask]"'

# Chunking: about this many ranges per worker thread, so that a slow or lost
# worker costs little at the tail; but never ranges below _MIN_CHUNK_EVALS
# evaluations, so that what a task costs the scheduler (a round trip per
# range) stays small beside it.
_CHUNKS_PER_THREAD = 4
_MIN_CHUNK_EVALS = 100_000_000
# Exception retries per task (worker deaths are rescheduled by Dask itself,
# up to distributed.scheduler.allowed-failures times).
_RETRIES = 3

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


def _run_chunk(plan, start, stop, full_output, num_threads):
    """Task body (runs on a worker): evaluate plan rows [start, stop).

    Pure: the result depends only on the arguments, so Dask may rerun it
    anywhere after a worker is lost.  A worker runs one task per thread of
    its own (``dask worker --nthreads``), so ``num_threads=None`` gives each
    task one kernel thread: all of the worker's threads are busy, none is
    oversubscribed, and queued ranges stay free for Dask to move to idle
    workers.  (The count is passed explicitly: Dask's nannies set
    OMP_NUM_THREADS=1 anyway.)
    """
    return _plan.run_range(plan, start, stop, full_output,
                           1 if num_threads is None else num_threads)


def _ranges(plan, total_threads):
    """Split rows [0, plan.n_rows) into contiguous ranges aligned to the kernel's
    chunk; a function of the plan and the thread count only, never of timing."""
    units = -(-plan.n_rows // plan.chunk)
    n = max(1, total_threads) * _CHUNKS_PER_THREAD
    n = max(1, min(n, units, int(plan.evaluations // _MIN_CHUNK_EVALS)))
    bounds = [min(plan.n_rows, ((i * units) // n) * plan.chunk) for i in range(n)]
    bounds.append(plan.n_rows)
    return [(bounds[i], bounds[i + 1]) for i in range(n) if bounds[i + 1] > bounds[i]]


def run_grid_search(client, NN, X, y, axes, full_output=True, num_threads=None,
                    progress=False):
    """``grid_search`` on the Dask cluster behind ``client``; see nndfast.grid_search.

    Same arguments and result as the local call, bitwise.  The worker
    threads run one range each; ``num_threads`` is kernel threads per range
    (None: 1, so a worker uses exactly its ``--nthreads`` cores).
    """
    distributed = _import_distributed()
    if not isinstance(client, distributed.Client):
        raise TypeError(
            f"client must be a dask.distributed.Client, got {type(client).__name__}")
    net = read_network(NN)      # one read: the checks and the plan agree
    X, y = check_search(*network_fields(net), X, y, num_threads)
    if num_threads is not None:
        num_threads = resolve_num_threads(num_threads)
    t0 = time.perf_counter()
    plan = _plan.make_plan(net, X, y, axes)
    report = Progress(progress, plan.evaluations)
    surface = _plan.new_surface(plan, full_output)

    ranges = _ranges(plan, sum(client.nthreads().values()))

    token = uuid.uuid4().hex
    futures = []
    plan_future = None
    try:
        # Once, to every worker: tasks find the plan locally, and it
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
            best_cost, best_flat, costs = fut.result()
            fut.release()
            start, stop = ranges[i]
            parts[i] = (best_cost, best_flat)
            if surface is not None:
                _plan.place(plan, surface, start, stop, costs)
            done += plan.row_start(stop) - plan.row_start(start)
            report.update(done)
    except BaseException:
        # Ctrl-C or an error: stop the cluster's work, then re-raise.
        try:
            client.cancel(futures + ([plan_future] if plan_future is not None else []))
        except Exception:  # a closed client must not hide the original error
            pass
        raise
    finally:
        report.close()
    client.cancel([plan_future])
    # In index order, as the local call: same pairs, same strict order.
    return _plan.result(plan, surface, _plan.combine(parts), time.perf_counter() - t0)
