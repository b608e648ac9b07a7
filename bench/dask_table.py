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


def local(NN, axes, num_threads=2):
    return nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=False,
                               num_threads=num_threads)


def cluster(NN, axes, client):
    return nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=False,
                               client=client)


def start_cluster(n_workers=2):
    """A LocalCluster of n_workers processes with 1 thread each, and its Client."""
    from distributed import Client, LocalCluster
    lc = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40)
    return lc, Client(lc)


def cpu_seconds(pids=()):
    """User+system CPU seconds used so far by this process and the given pids."""
    import psutil
    total = 0.0
    for proc in [psutil.Process()] + [psutil.Process(p) for p in pids]:
        t = proc.cpu_times()
        total += t.user + t.system
    return total


def dask_share(NN, axes, client):
    """One cluster run under Dask's task stream: (wall seconds, seconds the
    busiest worker spent computing).  Their difference is what Dask itself
    added (scatter, scheduling gaps, gathering), whatever the load."""
    from distributed import get_task_stream
    with get_task_stream(client) as ts:
        t = time.perf_counter()
        cluster(NN, axes, client)
        wall = time.perf_counter() - t
    busy = {}
    for rec in ts.data:
        for ss in rec["startstops"]:
            if ss["action"] == "compute":
                busy[rec["worker"]] = busy.get(rec["worker"], 0.0) + ss["stop"] - ss["start"]
    return wall, max(busy.values())


def best_of_interleaved(fns, repeat, pids=()):
    """Best wall-clock time (and the CPU seconds of that run) of each fn, runs
    interleaved (a, b, a, b, ...) so load from elsewhere on the machine hits
    both sides alike.  CPU is counted over this process (client, scheduler,
    nannies, local kernel) and the worker processes ``pids``."""
    results = [fn() for fn in fns]  # warm-up
    best = [(float("inf"), 0.0)] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            c, t = cpu_seconds(pids), time.perf_counter()
            results[k] = fn()
            wall, cpu = time.perf_counter() - t, cpu_seconds(pids) - c
            best[k] = min(best[k], (wall, cpu))
    return best, results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="values per weight (default 1000)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per side (default 3)")
    args = ap.parse_args()
    NN, axes = problem(args.n)
    lc, client = start_cluster()
    try:
        tiny = problem(4)
        [(t_tiny, _)], _ = best_of_interleaved([lambda: cluster(*tiny, client)], 5)
        shares = [dask_share(NN, axes, client) for _ in range(args.repeat)]
        pids = list(client.run(os.getpid).values())
        ((t_local, c_local), (t_dask, c_dask)), (r_local, r_dask) = best_of_interleaved(
            [lambda: local(NN, axes), lambda: cluster(NN, axes, client)], args.repeat, pids)
    finally:
        client.close()
        lc.close()
    # per-core rate: one thread, CPU seconds (robust to other load on the machine)
    sub = dict(axes)
    sub[AXES_NAMES[0]] = axes[AXES_NAMES[0]][: max(1, args.n // 5)]
    [(t_one, c_one)], [r_one] = best_of_interleaved([lambda: local(NN, sub, 1)], 2)
    assert (r_local.best_cost, r_local.best_index) == (r_dask.best_cost, r_dask.best_index)
    evals = r_local.evaluations
    print(f"grid_search, {args.n}^3 best-only ({evals:.3g} evaluations), "
          f"{os.cpu_count()} cores, best of {args.repeat}")
    print(f"{'run':<34} {'seconds':>8} {'evals/s':>10} {'CPU s':>7} {'evals/CPU-s':>12}")
    for name, t, c in [("local, num_threads=2", t_local, c_local),
                       ("LocalCluster, 2 workers x 1 thread", t_dask, c_dask)]:
        print(f"{name:<34} {t:8.3f} {evals / t:10.3g} {c:7.2f} {evals / c:12.3g}")
    print(f"cluster overhead, wall clock: {100 * (t_dask / t_local - 1):+.1f}%  (limit +10%)")
    print(f"cluster overhead, CPU time:   {100 * (c_dask / c_local - 1):+.1f}%")
    print(f"per-core rate: {r_one.evaluations / max(c_one, 1e-9):.3g} evaluations per CPU-second "
          f"(local, num_threads=1, {r_one.evaluations:.3g} evaluations in {c_one:.2f} CPU s, "
          f"{t_one:.2f} s wall)")
    print(f"fixed cost of a cluster search (4^3 grid, best of 5): {1000 * t_tiny:.1f} ms "
          f"= {100 * t_tiny / t_local:.2f}% of the local run")
    wall, busy = min(shares, key=lambda wb: wb[0] - wb[1])
    print(f"Dask's own share (task stream): wall {wall:.3f} s - busiest worker computing "
          f"{busy:.3f} s = {1000 * (wall - busy):.1f} ms = {100 * (wall - busy) / busy:.1f}% "
          f"of the compute (best of {args.repeat})")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
