"""Time reference vs nndfast in one process and print a markdown table.

    python bench/network_table.py              # every size (a few minutes, ~4 GB RAM)
    python bench/network_table.py --quick      # the tutorial size only

(From a source checkout with an in-place build, prefix PYTHONPATH=. so that
the script imports that build.)

Each time is per call, the minimum over --repeat timeit repeats (3 from 1e5
rows up).  ratio is
reference time / nndfast time: above 1 means nndfast is faster.
"""
import argparse
import os
import sys
import timeit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cases import OPS, SIZES, examples, network  # noqa: E402


def best_time(f, repeat):
    """Seconds per call: the min over repeats of ~20 ms each (one call each for
    slow calls); short repeats let the min skip other processes' bursts."""
    timer = timeit.Timer(f)
    number, _ = timer.autorange()          # calls for >= 0.2 s
    number = max(1, number // 10)
    return min(timer.repeat(repeat=repeat, number=number)) / number


def fmt(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def describe_machine():
    """One line on what the numbers depend on: versions, threads, load."""
    import numpy as np

    import nndfast
    from nndfast import _threads

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"nndfast {nndfast.__version__}, numpy {np.__version__}, OpenMP "
            f"{'on' if nndfast.openmp_enabled() else 'off'}, "
            f"{_threads.resolve_num_threads(None)} threads, {os.cpu_count()} CPUs, "
            f"load average {load}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tutorial size only")
    p.add_argument("--repeat", type=int, default=30,
                   help="timeit repeats (default 30; at most 3 from 1e5 rows up)")
    args = p.parse_args(argv)
    sizes = list(SIZES)[:1] if args.quick else list(SIZES)
    print(describe_machine() + "\n")
    print("| operation | size | reference | nndfast | ratio |")
    print("| --- | --- | ---: | ---: | ---: |")
    for op, f in OPS.items():
        for size in sizes:
            n, hidden = SIZES[size]
            X, y = examples(n)
            times = {}
            for impl in ("reference", "nndfast"):
                N = network(impl, hidden)
                f(N, X, y)  # warm up
                repeat = args.repeat if n < 100_000 else min(args.repeat, 3)
                times[impl] = best_time(lambda: f(N, X, y), repeat)
            ratio = times["reference"] / times["nndfast"]
            print(f"| {op} | {size} | {fmt(times['reference'])} | {fmt(times['nndfast'])} "
                  f"| {ratio:.1f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
