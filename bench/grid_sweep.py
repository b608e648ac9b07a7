"""Sweep weight sets of k = 1..9 weights: each set's rate as a share of the best.

    python bench/grid_sweep.py              # the full sweep (a few minutes)
    python bench/grid_sweep.py --quick      # ~10x fewer evaluations, a smoke run
    python bench/grid_sweep.py --repeat 3   # best of 3 runs per set (default 2)
    python bench/grid_sweep.py --threads 1 --cpu   # one thread, CPU seconds
                                            # (steadier on a loaded machine)

The reference rate ("best") is the best separable set, W1[0,0], W1[0,1],
W1[0,2] at 400^3, timed in the same run just before and just after each set
(the faster of the two); each set's rate is printed as a share of it (1/x),
beside the issue's target for that set.  Sets: the
issue's named cases, then a fixed sample (seeded) of subsets of the nine
weights per k, each with n values per axis so that n^k is about 2e8 (1e8
for one weight).
Tutorial data, np.random.seed(0) network, values in [-5, 5], best point
only (full_output=False), default threads.  The load average is printed
before and after: the machine is shared, so compare shares, not rates.
"""
import itertools
import os
import sys
import time

import numpy as np

import nndfast
from nndfast import _grid

NINE = ("W1[0,0]", "W1[0,1]", "W1[0,2]", "W1[1,0]", "W1[1,1]", "W1[1,2]",
        "W2[0,0]", "W2[1,0]", "W2[2,0]")
BEST = (NINE[:3], 400)
#: (weights, values per axis, target share) of the issue's named cases
NAMED = [
    (NINE, 12, 1 / 3),
    (NINE[:6], 24, 1 / 3),
    (NINE[:4], 100, 1 / 3),
    (("W1[0,0]", "W1[1,0]"), 1000, 1 / 8),
]
SAMPLE_PER_K = 4


def sample_sets():
    """A fixed sample of subsets per k (seeded, so every run times the same sets)."""
    rng = np.random.default_rng(12)
    named = {tuple(w) for w, _, _ in NAMED} | {BEST[0]}
    out = []
    for k in range(1, 10):
        combos = [c for c in itertools.combinations(NINE, k) if c not in named]
        pick = rng.choice(len(combos), size=min(SAMPLE_PER_K, len(combos)), replace=False)
        out.extend(combos[i] for i in sorted(pick))
    return out


def values_per_axis(k, evaluations):
    return max(2, int(round(evaluations ** (1.0 / k))))


#: set by main: threads per search, and the clock (wall or this process's CPU)
OPTS = {"threads": None, "clock": time.perf_counter}


def rate(NN, names, n, repeat):
    w = np.linspace(-5, 5, n)
    axes = {name: w for name in names}
    best = float("inf")
    clock = OPTS["clock"]
    # small grids (the 1000^2 case takes milliseconds) get more runs
    for _ in range(repeat if n ** len(names) >= 1e8 else 5 * repeat):
        t0 = clock()
        nndfast.grid_search(NN, nndfast.X, nndfast.y, axes, full_output=False,
                            num_threads=OPTS["threads"])
        best = min(best, clock() - t0)
    return n ** len(names) / best


def short(names):
    return ", ".join(names) if len(names) < 9 else "all nine"


def main(argv):
    quick = "--quick" in argv
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 2
    scale = 0.1 if quick else 1.0
    if "--threads" in argv:
        OPTS["threads"] = int(argv[argv.index("--threads") + 1])
    if "--cpu" in argv:
        OPTS["clock"] = time.process_time
    np.random.seed(0)
    NN = nndfast.Neural_Network()
    load0 = os.getloadavg()
    n_best = values_per_axis(3, scale * BEST[1] ** 3)
    sets = [(names, values_per_axis(len(names), scale * n ** len(names)),
             f">= 1/{round(1 / target)}") for names, n, target in NAMED]
    for names in sample_sets():
        # one weight: 1e8 values (its arrays alone are 0.8 GB); else about 2e8 points
        n = values_per_axis(len(names), scale * (1e8 if len(names) == 1 else 2e8))
        sets.append((names, n, ">= 1/12" if n ** len(names) >= 1e8 * scale else "-"))
    # The load on a shared machine changes within seconds, so each set's share
    # is taken against the best separable set timed just before and just after
    # it (the faster of the two, so a share is never flattered by a slow
    # reference window).
    best = rate(NN, BEST[0], n_best, repeat + 1)
    overall = best
    rows = []
    for names, n, target in sets:
        r = rate(NN, names, n, repeat)
        after = rate(NN, BEST[0], n_best, repeat)
        rows.append((names, n, r, max(best, after), target))
        best = after
        overall = max(overall, after)
    load1 = os.getloadavg()
    print(f"SIMD loops: {_grid.simd_isa()}, threads: "
          f"{nndfast._threads.resolve_num_threads(OPTS['threads'])}, "
          f"clock: {'CPU' if '--cpu' in argv else 'wall'}, load average (1 min) "
          f"before {load0[0]:.2f}, after {load1[0]:.2f}")
    print(f"best separable rate: {short(BEST[0])} at {n_best}^3: up to {overall:.3g} "
          f"evaluations/s (each share: against its timing just before/after the set)")
    print()
    print("| k | weights | grid | evaluations | rate (/s) | best separable (/s) "
          "| share of the best | target |")
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for names, n, r, ref, target in rows:
        k = len(names)
        print(f"| {k} | {short(names)} | {n}^{k} | {float(n ** k):.2g} | {r:.3g} | {ref:.3g} | "
              f"1/{ref / r:.1f} | {target} |")
    worst = min(r / ref for names, n, r, ref, t in rows[len(NAMED):] if t != "-")
    print(f"\nworst share among the sampled sets with >= 1e8 evaluations: 1/{1 / worst:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
