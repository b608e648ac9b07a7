"""pytest-benchmark group for grid_search on Dask (issue 6): local beside cluster.

    pytest bench/bench_dask.py                       # measure: 1000^3 best-only
    pytest bench/bench_dask.py --benchmark-disable   # CI: a tiny grid, run once

Both sides run on this machine's cores: the local call with num_threads=2,
the cluster as a LocalCluster of 2 worker processes x 1 thread, started once
per module (its startup is not timed).  bench/dask_table.py prints the
overhead as a percentage.  The target (overhead <= 10%) is read from these
runs, never asserted.
"""
import os
import sys

import pytest

pytest.importorskip("distributed")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dask_table as jobs  # noqa: E402

GROUP = "grid_search on Dask: 3 weights, best-only"


@pytest.fixture(scope="module")
def client():
    lc, c = jobs.start_cluster()
    try:
        yield c
    finally:
        c.close()
        lc.close()


@pytest.fixture(scope="module")
def problem(request):
    # CI runs once with --benchmark-disable: shrink to a tiny grid.
    n = 20 if request.config.getoption("benchmark_disable") else 1000
    return jobs.problem(n)


def test_local_2_threads(benchmark, problem):
    benchmark.group = GROUP
    res = benchmark.pedantic(jobs.local, args=problem, rounds=3, iterations=1,
                             warmup_rounds=1)
    assert res.evaluations == len(problem[1]["W1[0,0]"]) ** 3


def test_cluster_2_workers_1_thread(benchmark, problem, client):
    benchmark.group = GROUP
    res = benchmark.pedantic(jobs.cluster, args=problem + (client,), rounds=3, iterations=1,
                             warmup_rounds=1)
    local = jobs.local(*problem)
    assert (res.best_cost, res.best_index) == (local.best_cost, local.best_index)
