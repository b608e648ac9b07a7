"""Print the grid-search ratio table (rates, ratios, 1000^3 times, thread speed-up).

    python bench/grid_table.py            # the full table (about a minute)
    python bench/grid_table.py --quick    # smaller grids, a smoke run

Rates are evaluations per second, best of several runs, all in this one
process.  The reference runs a 40x40 grid (it takes ~20 us per evaluation);
every other peer runs the same 1000x1000 surface over W1[0,0], W1[0,1] on the
tutorial's data and a seeded network.
"""
import os
import platform
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _grid_peers as P  # noqa: E402

import nndfast  # noqa: E402
from nndfast import _grid  # noqa: E402


CPU = {}


#: Seconds of untimed nndfast calls before each timed series: numpy's
#: OpenBLAS worker spins for ~0.1 s after numpy's last BLAS call (the peers'
#: and the reference's, run just before), and while it holds the second core
#: nndfast rightly keeps to one thread (README, network_table.py --threads).
#: The thread rows measure what a second free core gives.
WARM = 0.3


def best_time(fn, repeat, warm=0.0):
    """Best wall-clock time of fn over repeat runs, after calling it untimed
    for `warm` seconds; its CPU time (all threads) goes to CPU[result], since
    a loaded machine distorts wall-clock times."""
    best, cpu = float("inf"), 0.0
    t_end = time.perf_counter() + warm
    while time.perf_counter() < t_end:
        fn()
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        t, c = time.perf_counter() - t0, time.process_time() - c0
        if t < best:
            best, cpu = t, c
    CPU[best] = cpu
    return best


def main(argv):
    quick = "--quick" in argv
    n2 = 200 if quick else 1000
    n3 = 200 if quick else 1000
    NN = P.tutorial_net()
    rows = []

    t = best_time(lambda: P.run_reference(NN, P.axes2(40)), 1 if quick else 3)
    ref_rate = 40 * 40 / t
    ref_cpu = CPU[t] / (40 * 40)
    rows.append(("reference.grid_search (40x40)", 40 * 40, t, ref_rate))

    ev2 = n2 * n2
    fast = {}
    for nt in (None, 1, 2):
        fast[nt] = best_time(lambda: P.run_nndfast(NN, P.axes2(n2), True, nt), 3 if quick else 9,
                             WARM)
    rows.append((f"nndfast.grid_search ({n2}x{n2}, full, default threads)", ev2, fast[None],
                 ev2 / fast[None]))
    rows.append((f"nndfast.grid_search ({n2}x{n2}, full, 1 thread)", ev2, fast[1], ev2 / fast[1]))
    rows.append((f"nndfast.grid_search ({n2}x{n2}, full, 2 threads)", ev2, fast[2], ev2 / fast[2]))
    if P.numba is not None:
        P.run_numba(NN, P.axes2(5))
        t = best_time(lambda: P.run_numba(NN, P.axes2(n2)), 3)
        rows.append((f"numba @njit(parallel=True) prange ({n2}x{n2})", ev2, t, ev2 / t))
        numba_rate, numba_cpu = ev2 / t, CPU[t] / ev2
    else:
        numba_rate = numba_cpu = None
    t = best_time(lambda: P.run_numpy(NN, P.axes2(n2)), 3)
    rows.append((f"numpy broadcast ({n2}x{n2})", ev2, t, ev2 / t))
    numpy_rate, numpy_cpu = ev2 / t, CPU[t] / ev2

    ev3 = n3 ** 3
    three = {}
    for mixed in (False, True):
        for nt in (2, 1):
            three[mixed, nt] = best_time(
                lambda: P.run_nndfast(NN, P.axes3(n3, mixed), False, nt), 3 if not quick else 2,
                WARM)
            label = "W1[1,0],W2[1,0],W2[2,0]" if mixed else "W1[0,0],W1[0,1],W1[0,2]"
            rows.append((f"nndfast {n3}^3 {label}, best only, {nt} thread(s)", ev3,
                         three[mixed, nt], ev3 / three[mixed, nt]))

    fast_rate = ev2 / min(fast.values())
    fast_cpu = CPU[fast[1]] / ev2
    print(f"nndfast grid search: {platform.processor() or platform.machine()}, "
          f"SIMD loops: {_grid.simd_isa()}, OpenMP: {nndfast.openmp_enabled()}, "
          f"default threads: {nndfast._threads.resolve_num_threads(None)}, "
          f"load average before: {os.getloadavg()[0]:.1f}")
    print()
    print("| run | evaluations | wall s | evaluations/s | CPU s (all threads) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, ev, t, rate in rows:
        print(f"| {name} | {ev:,} | {t:.4g} | {rate:.3g} | {CPU.get(t, float('nan')):.4g} |")
    print()
    print("Ratios: wall-clock rates (nndfast's best of default/1/2 threads against each\n"
          "peer's best run), and CPU time per evaluation (nndfast 1 thread against each\n"
          "peer's CPU over all its threads), which a machine shared with other work\n"
          "distorts less.")
    print()
    print("| ratio | wall-clock rates | CPU per evaluation | target |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| nndfast 2-D / reference | {fast_rate / ref_rate:,.0f}x | "
          f"{ref_cpu / fast_cpu:,.0f}x | >= 2000x |")
    if numba_rate is not None:
        print(f"| nndfast 2-D / numba prange | {fast_rate / numba_rate:.1f}x | "
              f"{numba_cpu / fast_cpu:.1f}x | >= 8x |")
    else:
        print("| nndfast 2-D / numba prange | numba not installed | | >= 8x |")
    print(f"| nndfast 2-D / numpy broadcast | {fast_rate / numpy_rate:.1f}x | "
          f"{numpy_cpu / fast_cpu:.1f}x | >= 10x |")
    print()
    print("| measure | measured | target |")
    print("| --- | ---: | ---: |")
    print(f"| {n3}^3 W1 row, 2 threads | {three[False, 2]:.2f} s | <= 2 s |")
    print(f"| {n3}^3 mixed W1/W2, 2 threads | {three[True, 2]:.2f} s | comparable |")
    print(f"| 1 -> 2 threads, 2-D full surface | {fast[1] / fast[2]:.2f}x | >= 1.8x |")
    print(f"| 1 -> 2 threads, 3-D W1 row | {three[False, 1] / three[False, 2]:.2f}x | >= 1.8x |")
    print(f"| 1 -> 2 threads, 3-D mixed | {three[True, 1] / three[True, 2]:.2f}x | >= 1.8x |")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
