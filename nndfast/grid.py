"""Brute-force grid search over any chosen weights (Part 3 of the tutorial):
the API and its local driver.

``grid_search`` evaluates the tutorial's cost at every point of a grid of
weight values with the compiled kernel in nndfast._grid; nndfast.reference
has the same function written as the tutorial's loop.

The search itself (validation, axis order, rows, chunks, combining and
placing results) is the plan in nndfast._plan.  This module is the local
driver: it runs the plan's rows in blocks on this machine, with progress
and prompt Ctrl-C.  With a Dask client it hands the call to the Dask driver,
nndfast.distributed, which sits on the same plan.  A network whose cost is
not the kernels' (network.is_stock: an overridden costFunction, forward or
sigmoid, or another class) is searched by a Python loop over its own
costFunction instead (_grid_search_generic).
"""
import copy
import time

import numpy as np

from nndfast import _plan
from nndfast._progress import Progress
from nndfast._results import GridResult
from nndfast._threads import resolve_num_threads
from nndfast._validate import (F64, check_search, network_fields, read_network,
                               weight_key)
from nndfast.network import TUTORIAL_METHODS, is_stock

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
        extra: pip install "nndfast[dask]").  Same result, bit for bit.
        Each Dask worker thread runs one range at a time, and num_threads
        then means kernel threads per range: None gives every range one
        thread, so a worker keeps exactly its ``--nthreads`` cores busy.

    Returns
    -------
    GridResult with ``costs`` (shape (len(axis0), len(axis1), ...), where
    costs[i, j, ...] is sum(NN.costFunction(X, y)) at those weights, or None;
    with NN.Lambda a number (Part 7; ``getattr(NN, "Lambda", None)``), that
    sum is 0.5*sum((y-yHat)**2)/n + Lambda/2*(sum(W1**2)+sum(W2**2)), n =
    len(X) (the penalty once, whatever outputLayerSize); a negative, NaN or
    infinite Lambda raises ValueError, a non-number TypeError),
    ``best_cost``, ``best_index`` (tuple; ties to the lowest flat index, as
    np.argmin), ``best_weights`` (dict "W1[i,j]" -> value), ``evaluations``
    and ``seconds``.

    Ctrl-C raises KeyboardInterrupt within about 0.1 s: the work runs in
    blocks of about 50 ms, with signals checked between them.

    Speed: the compiled search needs nndfast's network with the tutorial's
    costFunction, forward and sigmoid.  A network that overrides one of
    them, or any other network (nndfast.reference's), is searched by the
    reference's Python loop over its own costFunction (serial, locally only:
    client must be None), with the same validation, progress and Ctrl-C,
    on a private copy (copy.copy, with its own copies of the instance's
    containers) holding private copies of its
    weights: NN, its weights and its cached yHat, z2, a2, z3 are never
    changed, so any number of threads may search one network.  A network
    with a tutorial method set on the instance (NN.costFunction = f, which
    may close over NN) is searched in place instead, as the reference's
    loop does: its weights are put back afterwards, and it must not be
    searched from two threads at once.
    """
    # The call's one read of NN: the checks, the plan and the Python loop
    # all work from it, whatever changes NN meanwhile.
    state = read_network(NN)
    # Every scalar argument and the data, before any work, whichever driver
    # runs the search (a Part 7 network with 0 examples would divide by 0).
    Xc, yc = check_search(*network_fields(state), X, y, num_threads)
    if not is_stock(NN, "costFunction"):
        return _grid_search_generic(NN, state, Xc, yc, axes, full_output, num_threads,
                                    progress, client)
    X, y = Xc, yc
    if client is not None:
        from nndfast.distributed import run_grid_search
        return run_grid_search(client, state, X, y, axes, full_output, num_threads, progress)
    t0 = time.perf_counter()
    nt = resolve_num_threads(num_threads)
    plan = _plan.make_plan(state, X, y, axes)
    report = Progress(progress, plan.evaluations)
    surface = _plan.new_surface(plan, full_output)
    best = None
    evals_per_row = plan.evaluations / plan.n_rows
    # First block: about 3*2**20 evaluations x examples; then _BLOCK_SECONDS at the best
    # rate seen so far (not the last one: on a loaded machine a block that
    # waited for a descheduled thread would otherwise shrink the next ones,
    # and every block pays such a wait).  At least one chunk per thread.
    chunk = plan.chunk_for(nt)
    min_block = chunk * nt
    first = 3 * 2**20 / (evals_per_row * max(1, plan.X.shape[0]))
    block = max(min_block, int(first) // chunk * chunk)
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
            block = max(min_block, min(8 * block, int(target) // chunk * chunk))
    finally:
        report.close()
    return _plan.result(plan, surface, best, time.perf_counter() - t0)


#: What a tutorial-style network caches in its instance dict: the search
#: replaces them (its costFunction assigns new arrays), so a copy may share them.
_CACHED = ("z2", "a2", "z3", "yHat", "_ws")


def _private_copy(NN):
    """copy.copy(NN) whose instance attributes are its own: each one but the
    cached outputs and plain arrays (which the search rebinds, never
    writes) is deep-copied, with NN itself mapped to the copy, so a subclass
    that keeps its weights in a container of its own (a W1 property over a
    dict, say) cannot have the search write into NN's.  An attribute that
    cannot be deep-copied (a lock, a file) stays shared."""
    clone = copy.copy(NN)
    state = getattr(clone, "__dict__", None)
    if state is None:
        return clone
    memo = {id(NN): clone}
    for key, value in list(state.items()):
        if key in _CACHED or type(value) is np.ndarray:
            continue
        try:
            state[key] = copy.deepcopy(value, memo)
        except Exception:  # noqa: BLE001 - any failure to copy leaves it shared
            pass
    return clone


def _grid_search_generic(NN, state, X, y, axes, full_output, num_threads, progress, client):
    """grid_search through NN's own costFunction: the reference's loop (set
    the axis weights, call costFunction, store sum(J)) on a private copy of
    NN (_private_copy: the same class and attributes) that holds private
    float64 copies of the weights read in ``state`` (read_network(NN)).
    NN itself is never assigned to or written, so concurrent searches,
    read-only and unpickled networks all work (an instance-level override:
    in place, see grid_search)."""
    if client is not None:
        raise ValueError(
            "grid_search: this network overrides costFunction, forward or sigmoid (or is "
            "not nndfast's), so it is searched by a Python loop over its own costFunction, "
            "which runs locally only; pass client=None")
    t0 = time.perf_counter()
    resolve_num_threads(num_threads)
    plan = _plan.make_plan(state, X, y, axes)  # the compiled search's checks and messages
    report = Progress(progress, plan.evaluations)
    surface = _plan.new_surface(plan, full_output)
    # A method set on the instance may be bound to NN itself (a closure over
    # it), which a copy would still call: such a network is searched in
    # place, as the reference's loop does, and its weights put back after.
    in_place = not set(TUTORIAL_METHODS).isdisjoint(getattr(NN, "__dict__", ()))
    net = NN if in_place else _private_copy(NN)
    if not in_place:
        # the copy has NN's sizes as they are now; the search is of the
        # network as read (a hook in X's conversion may have resized NN)
        for name in ("inputLayerSize", "hiddenLayerSize", "outputLayerSize"):
            if getattr(net, name) != getattr(state, name):
                setattr(net, name, getattr(state, name))
    # what an in-place search puts back: NN's own arrays as they are now
    W1, W2 = (NN.W1, NN.W2) if in_place else (None, None)
    private = {"W1": np.array(state.W1, dtype=F64), "W2": np.array(state.W2, dtype=F64)}
    targets = []
    for name, values in zip(plan.names, plan.axis_values):
        layer, i, j = weight_key(name)
        targets.append((private[layer], i, j, values))
    best = None
    last = time.perf_counter()
    try:
        # user order, so n is the point's flat index in the surface
        for n, index in enumerate(np.ndindex(*plan.shape)):
            for (W, i, j, values), k in zip(targets, index):
                W[i, j] = values[k]
            # assigned at every point: a subclass's W1/W2 setter may keep a copy
            net.W1, net.W2 = private["W1"], private["W2"]
            cost = float(np.sum(net.costFunction(plan.X, plan.y)))
            if surface is not None:
                surface[index] = cost
            if best is None or _plan.better(cost, n, *best):
                best = (cost, n)
            now = time.perf_counter()
            if now - last >= _BLOCK_SECONDS:
                last = now
                report.update(n + 1)
        report.update(plan.evaluations)
    finally:
        if in_place:
            NN.W1, NN.W2 = W1, W2
        report.close()
    return _plan.result(plan, surface, best, time.perf_counter() - t0)
