"""Print the Dask overhead of issue 6: grid_search on a 2-worker LocalCluster
against the local call, both on this machine's 2 cores.

    python bench/dask_table.py [--n 1000] [--repeat 3]

The job is the 1000^3 best-only search (10^9 evaluations).  The local call
uses num_threads=2; the cluster is 2 worker processes of 1 thread each,
started once (startup is not timed).  Each side is timed as best of N
wall-clock runs (interleaved) after a warm-up; overhead = cluster / local - 1.  The jobs
are the ones bench/bench_dask.py hands to pytest-benchmark.
"""
import argparse
import os
import time

import numpy as np

import nndfast

AXES_NAMES = ("W1[0,0]", "W1[0,1]", "W1[0,2]")


def problem(n):
    """The tutorial's network (seed 0) and data, n values per weight in [-5, 5]."""
    np.random.seed(0)
    NN = nndfast.Neural_Network()
    axes = {name: np.linspace(-5, 5, n) for name in AXES_NAMES}
    return NN, axes


def local(NN, axes):
    return nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=False,
                               num_threads=2)


def cluster(NN, axes, client):
    return nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=False,
                               client=client)


def start_cluster(n_workers=2):
    """A LocalCluster of n_workers processes with 1 thread each, and its Client."""
    from distributed import Client, LocalCluster
    lc = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40)
    return lc, Client(lc)


def best_of_interleaved(fns, repeat):
    """Best wall-clock time of each fn, runs interleaved (a, b, a, b, ...) so a
    burst of load from elsewhere on the machine hits both sides alike."""
    results = [fn() for fn in fns]  # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t = time.perf_counter()
            results[k] = fn()
            best[k] = min(best[k], time.perf_counter() - t)
    return best, results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="values per weight (default 1000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per side (default 3)")
    args = ap.parse_args()
    NN, axes = problem(args.n)
    lc, client = start_cluster()
    try:
        (t_local, t_dask), (r_local, r_dask) = best_of_interleaved(
            [lambda: local(NN, axes), lambda: cluster(NN, axes, client)], args.repeat)
    finally:
        client.close()
        lc.close()
    assert (r_local.best_cost, r_local.best_index) == (r_dask.best_cost, r_dask.best_index)
    evals = r_local.evaluations
    print(f"grid_search, {args.n}^3 best-only ({evals:.3g} evaluations), "
          f"{os.cpu_count()} cores, best of {args.repeat}")
    print(f"{'run':<34} {'seconds':>8} {'evals/s':>10} {'per core':>10}")
    print(f"{'local, num_threads=2':<34} {t_local:8.3f} {evals / t_local:10.3g} "
          f"{evals / t_local / 2:10.3g}")
    print(f"{'LocalCluster, 2 workers x 1 thread':<34} {t_dask:8.3f} {evals / t_dask:10.3g} "
          f"{evals / t_dask / 2:10.3g}")
    print(f"cluster overhead: {100 * (t_dask / t_local - 1):+.1f}%  (limit +10%)")


if __name__ == "__main__":
    main()
