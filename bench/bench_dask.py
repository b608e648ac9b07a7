"""pytest-benchmark group for grid_search on Dask (issue 6): local beside cluster.

    pytest bench/bench_dask.py                       # measure: 100^3 best-only
    pytest bench/bench_dask.py --large               # and 1000^3
    pytest bench/bench_dask.py --benchmark-disable   # CI: a tiny grid, run once

Both sides run on this machine's cores: the local call with num_threads=2,
the cluster as a LocalCluster of 2 worker processes x 1 thread, started once
per module (its startup is not timed).  bench/dask_table.py prints the
overhead as a percentage.  The target (overhead <= 10%) is read from these
runs, never asserted.  Skipped without dask.distributed (the dask extra).
"""
import os
import sys

import pytest

pytest.importorskip("distributed")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dask_table as jobs  # noqa: E402
from _cases import cases, name, rounds, smoke  # noqa: E402

ROWS = [("grid-dask-3-weights-best", size, impl) for size in ("100^3", "1000^3")
        for impl in ("local-2t", "cluster-2x1t")]


@pytest.fixture(scope="module")
def client():
    lc, c = jobs.start_cluster()
    try:
        yield c
    finally:
        c.close()
        lc.close()


@cases(ROWS, large=lambda op, size, impl: size == "1000^3")
def test_dask(benchmark, request, op, size, impl, client):
    n = 20 if smoke(request) else int(size.split("^")[0])
    problem = jobs.problem(n)
    name(benchmark, op, size, impl, side=n)
    if impl == "local-2t":
        res = benchmark.pedantic(jobs.local, args=problem, rounds=rounds(request),
                                 iterations=1, warmup_rounds=1)
    else:
        res = benchmark.pedantic(jobs.cluster, args=problem + (client,),
                                 rounds=rounds(request), iterations=1, warmup_rounds=1)
    local = jobs.local(*problem)
    assert res.evaluations == n ** 3
    assert (res.best_cost, res.best_index) == (local.best_cost, local.best_index)
