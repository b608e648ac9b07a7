"""Time reference vs nndfast, interleaved, in one process; print a markdown table.

    python bench/network_table.py              # every size (a few minutes, ~4 GB RAM)
    python bench/network_table.py --quick      # the tutorial size only
    python bench/network_table.py --size "1e5 H3" --op forward
    python bench/network_table.py --threads    # team vs one thread, after numpy, busy core

(From a source checkout with an in-place build, prefix PYTHONPATH=. so that
the script imports that build.)

Interleaved, as in a program that mixes numpy with the drop-in: every
nndfast call is timed right after a reference call on the same data, so it
meets whatever the reference's numpy/BLAS calls leave behind (OpenBLAS
threads still spinning, caches full of the reference's arrays).  Each row
repeats (reference, nndfast) pairs and reports the median time per call of
each side; ratio is reference / nndfast (above 1: nndfast is faster).
Tutorial-size calls are too short to time one by one, so there each timed
unit is a batch of calls, still a reference batch right before each
nndfast batch.

The reference's time depends on glibc's allocator as much as on numpy:
numpy's temporaries either get fresh pages from the kernel (each page
faults, microseconds apiece on a VM) or reuse pages of the heap, and which
one glibc picks follows the largest array freed so far in the process (its
dynamic mmap threshold).  The same reference call can differ 3x between
the two.  So the table has two passes, each row in a known state:

- "own process": each row runs in a fresh Python process, as in a program
  that only ever handles arrays of that size;
- "after a large free": in one process, glibc's thresholds pinned where a
  long-running program ends up once it has freed any array of 32 MiB or
  more (arrays up to 32 MiB then reuse heap pages).  The reference is
  fastest there, so these ratios are the conservative ones.

Where the C library has no mallopt (not glibc) the second pass runs with
the allocator as it comes.

--threads checks that nndfast's own threads never cost time: for the large
sizes it times nndfast with its default team and with one thread, each call
right after a reference call, alone and again while a busy process (a
Python spin loop) holds a core.  "1 thread / team" above 1 means the team is
faster; the team size comes from the kernels' work-size rule
(nndfast._network.team_size).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _cases import OPS, SIZES, examples, network  # noqa: E402

#: Seconds of reference time each row aims for (the number of pairs is
#: clamped to [MIN_PAIRS, MAX_PAIRS]).
ROW_SECONDS = 2.0
MIN_PAIRS, MAX_PAIRS = 5, 200


def _batch(f, number):
    """Seconds per call of `number` back-to-back calls of f."""
    t0 = time.perf_counter()
    for _ in range(number):
        f()
    return (time.perf_counter() - t0) / number


def interleaved(ref, fast, pairs=None):
    """(reference seconds, nndfast seconds) per call, medians over pairs of
    a reference batch immediately followed by an nndfast batch.  fast may be
    a list of callables: then each gets its own reference batch before it,
    in turn, and the second item is a list of medians."""
    fasts = fast if isinstance(fast, list) else [fast]
    ref()
    for g in fasts:                          # warm up
        g()
    t_ref = _batch(ref, 1)
    number = max(1, int(1e-3 / max(t_ref, 1e-9)))    # batches of >= ~1 ms
    if pairs is None:
        pairs = int(min(MAX_PAIRS, max(MIN_PAIRS, ROW_SECONDS / (t_ref * number))))
    rs, fs = [], [[] for _ in fasts]
    for _ in range(pairs):
        for g, times in zip(fasts, fs):
            rs.append(_batch(ref, number))
            times.append(_batch(g, number))
    medians = [statistics.median(times) for times in fs]
    return statistics.median(rs), (medians if isinstance(fast, list) else medians[0])


def _busy_process():
    """A child that keeps one core busy until killed."""
    import subprocess
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def threads_table(ops, sizes, pairs):
    """Default team vs one thread, each call right after a reference call,
    without and with a busy process: print a markdown table."""
    import nndfast.network
    from nndfast import _network, _threads

    default = _threads.resolve_num_threads(None)
    kernel_op = {"forward": "forward", "costFunction": "cost", "costFunctionPrime": "gradient"}
    real_resolve = nndfast.network.resolve_num_threads

    def with_threads(k, call):
        def run():
            nndfast.network.resolve_num_threads = lambda _: k
            try:
                call()
            finally:
                nndfast.network.resolve_num_threads = real_resolve
        return run

    print("| operation | size | condition | team | 1 thread | team | 1 thread / team |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for busy in (False, True):
        child = _busy_process() if busy else None
        try:
            for op in ops:
                f = OPS[op]
                for size in sizes:
                    n, hidden = SIZES[size]
                    if n < 100_000:
                        continue
                    X, y = examples(n)
                    R, F = network("reference", hidden), network("nndfast", hidden)
                    team = _network.team_size(n, 2, hidden, 1, kernel_op[op], default)
                    ref = lambda: f(R, X, y)                     # noqa: E731
                    one = with_threads(1, lambda: f(F, X, y))
                    many = with_threads(default, lambda: f(F, X, y))
                    t_one, t_team = interleaved(ref, [one, many], pairs)[1]
                    cond = "after numpy, busy process" if busy else "after numpy"
                    print(f"| {op} | {size} | {cond} | {team} | {fmt(t_one)} | {fmt(t_team)} "
                          f"| {t_one / t_team:.2f} |", flush=True)
        finally:
            if child is not None:
                child.kill()
                child.wait()


#: glibc's mallopt parameters, and the values its dynamic thresholds reach
#: once a 32 MiB array has been freed (DEFAULT_MMAP_THRESHOLD_MAX, twice that).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
AFTER_LARGE_FREE = (32 << 20, 64 << 20)
PASSES = ("own process", "after a large free")


def pin_after_large_free():
    """Pin glibc's mmap and trim thresholds where a program that freed a
    32 MiB array has them; False where the C library has no mallopt."""
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mmap_threshold, trim_threshold = AFTER_LARGE_FREE
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)
                and mallopt(M_TRIM_THRESHOLD, trim_threshold))


def row(op, size, pairs):
    """(reference seconds, nndfast seconds) per call for one table row."""
    f = OPS[op]
    n, hidden = SIZES[size]
    X, y = examples(n)
    R, F = network("reference", hidden), network("nndfast", hidden)
    return interleaved(lambda: f(R, X, y), lambda: f(F, X, y), pairs)


def row_in_own_process(op, size, pairs):
    """row() in a fresh interpreter running this script with --row, on the
    nndfast this process imported (an in-place build or an installed one)."""
    import subprocess

    import nndfast
    cmd = [sys.executable, os.path.abspath(__file__), "--row", op, size]
    if pairs is not None:
        cmd += ["--pairs", str(pairs)]
    here = os.path.dirname(os.path.dirname(os.path.abspath(nndfast.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env=env).stdout.split()
    return float(out[-2]), float(out[-1])


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
    p.add_argument("--size", action="append", choices=list(SIZES),
                   help="only this size (repeatable)")
    p.add_argument("--op", action="append", choices=list(OPS),
                   help="only this operation (repeatable)")
    p.add_argument("--pairs", type=int, default=None,
                   help="(reference, nndfast) pairs per row (default: ~2 s of reference time)")
    p.add_argument("--threads", action="store_true",
                   help="default team vs one thread (large sizes), after numpy and "
                        "with a busy core")
    p.add_argument("--pass", dest="passes", action="append", choices=PASSES,
                   help="only this pass (repeatable; default both)")
    p.add_argument("--row", nargs=2, metavar=("OP", "SIZE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.row:                      # one row for row_in_own_process
        print(*row(*args.row, args.pairs))
        return 0
    sizes = args.size or (list(SIZES)[:1] if args.quick else list(SIZES))
    ops = args.op or list(OPS)
    print(describe_machine() + "\n")
    if args.threads:
        threads_table(ops, sizes, args.pairs)
        return 0
    print("| pass | operation | size | reference | nndfast, right after it | ratio |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for name in args.passes or PASSES:
        measure = row_in_own_process if name == "own process" else row
        if name == "after a large free" and not pin_after_large_free():
            name = "one process (allocator as it comes)"
        for op in ops:
            for size in sizes:
                t_ref, t_fast = measure(op, size, args.pairs)
                print(f"| {name} | {op} | {size} | {fmt(t_ref)} | {fmt(t_fast)} "
                      f"| {t_ref / t_fast:.1f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
