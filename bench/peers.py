"""nndfast beside the peers a user would write, per core and on all cores.

    PYTHONPATH=. python bench/peers.py --write docs/peers.md    # full run
    PYTHONPATH=. python bench/peers.py --quick                   # about a minute

Workloads (issue 22): forward, cost and gradient at n in {1e5, 1e6} x H in
{16, 64, 256} (I=2, O=1); the training shape I=8, H=32 at n = 1e4 and 1e5;
grid search over one W1 and one W2 weight at n = 1e3 and 1e4, sides 64 to
1024, against a JAX vmap; the training race (bench/_race.py); and the
gradient's compute bound, measured in the same run.

Every contender runs in its own worker process whose environment is set
before anything is imported (bench/_peers.THREAD_ENV puts it on one thread
per core; the all-cores pass leaves the defaults).  Per core, times are the
worker's CPU seconds (time.process_time); on all cores, wall-clock seconds.
Contenders are interleaved: each round times every contender once, in a
rotating order, a batch of calls that lasts about REPEAT_SECONDS, and a
contender's time is the minimum over rounds of a batch's mean.  Every
peer's result is checked against nndfast's to rtol 1e-9 before it is
timed; a disagreement stops the run.  On all cores each batch starts once
no other thread runs (_settle): the contender before it may leave threads
spinning.  Progress goes to stderr, the markdown
to stdout (and to --write's file).
"""
import argparse
import datetime
import math
import multiprocessing
import os
import platform
import sys
import time

import numpy as np

import _peers
import _race

MODES = ("per core", "all cores")

FULL = {
    "network": [(op, n, 2, h) for n in (100_000, 1_000_000) for h in (16, 64, 256)
                for op in _peers.OPS],
    "shape": [(op, n, 8, 32) for n in (10_000, 100_000) for op in _peers.OPS],
    "grid": [(1_000, s) for s in (64, 128, 256, 512, 1024)]
            + [(10_000, s) for s in (64, 128, 256, 512, 1024)],
    "race": [(10_000, 200), (100_000, 60)],
    "rounds": 3,
    "race_modes": MODES,
}

QUICK = {
    "network": [(op, 100_000, 2, 16) for op in _peers.OPS],
    "shape": [(op, 10_000, 8, 32) for op in _peers.OPS],
    "grid": [(1_000, 64), (10_000, 64)],
    "race": [(10_000, 60)],
    "rounds": 2,
    "race_modes": ("per core",),
}

#: A call that takes less than this many seconds is repeated within a round.
REPEAT_SECONDS = 0.2
#: A call that takes this many seconds or more is timed twice, not every round.
SLOW_SECONDS = 1.0
#: numpy's reference keeps several n x H temporaries; above this n*H it is not run.
NUMPY_MAX_NH = 30_000_000
#: The race's cap, as a multiple of nndfast's time.
RACE_CAP = 6.0
#: Grid search: the JAX vmap evaluates this many points x examples per jitted call,
#: and about GRID_JAX_WORK points x examples per timing.
GRID_JAX_CHUNK = 256_000
GRID_JAX_WORK = 40_000_000
#: In-cache sizes for the bound: sigmoid over SIG_SIZES values, FMAs in an FMA_SIDE^2 matmul.
SIG_SIZES = (512, 2048)
FMA_SIDE = 96


#: All cores: a batch waits up to this long for the other threads to stop.
SETTLE_SECONDS = 1.0

_T0 = time.perf_counter()


def log(*args):
    print(f"{time.perf_counter() - _T0:6.0f}s", *args, file=sys.stderr, flush=True)


def _running_threads():
    """Threads running or runnable on the machine now (/proc/loadavg's
    fourth field, which counts the reader), or None where unknown."""
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def _settle():
    """Wait (at most SETTLE_SECONDS) until no thread but the caller runs:
    each contender's all-cores batch then starts with the cores to itself,
    whichever contender ran before it."""
    deadline = time.perf_counter() + SETTLE_SECONDS
    while time.perf_counter() < deadline:
        running = _running_threads()
        if running is None or running <= 1:
            return
        time.sleep(0.005)


# ---------------------------------------------------------------- the worker

def _grid_weights():
    """The grid's network: the tutorial's 2-3-1 shape, seeded weights."""
    return _peers.weights(2, 3, 1)


def _grid_axes(side):
    w = np.linspace(-5.0, 5.0, side)
    return {"W1[0,0]": w, "W2[1,0]": w}


class _Worker:
    """State of one contender's process: its peer, its prepared call, its clock."""

    def __init__(self, name, parallel):
        self.name, self.parallel = name, parallel
        self.clock = time.perf_counter if parallel else time.process_time
        self.peer = None
        self.call = None
        self.cache = {}

    def _data(self, n, I, O):
        key = (n, I, O)
        if key not in self.cache:
            self.cache.clear()
            self.cache[key] = _peers.data(n, I, O)
        return self.cache[key]

    def load(self):
        self.peer = _peers.load(self.name, self.parallel)
        return True

    def network(self, op, n, I, H, O):
        X, y = self._data(n, I, O)
        W1, W2 = _peers.weights(I, H, O)
        args = self.peer.prepare(X, y, W1, W2, None)
        fn = getattr(self.peer, op)
        out = self.peer.result(fn(*args))
        self.call = lambda: fn(*args)
        return out

    def time(self, reps):
        """Seconds per call: ``reps`` calls timed together.  Not the fastest
        single call: Linux adds a thread's CPU time to the process's only at a
        scheduler tick or switch, so one short call of a peer that computes
        on a worker thread (XLA) can read as a fraction of its real cost.

        On all cores the batch starts once the machine is quiet (_settle):
        the contender timed just before may leave threads spinning (numpy's
        OpenBLAS workers, torch's OpenMP team), which would otherwise share
        this contender's cores."""
        if self.parallel:
            _settle()
        t0 = self.clock()
        for _ in range(reps):
            self.call()
        return (self.clock() - t0) / reps

    def grid(self, n, side, check):
        X, y = self._data(n, 2, 1)
        W1, W2 = _grid_weights()
        axes = _grid_axes(side)
        if self.name == "nndfast":
            import nndfast

            NN = nndfast.Neural_Network(2, 3, 1)
            NN.W1, NN.W2 = W1.copy(), W2.copy()
            nt = None if self.parallel else 1
            self.call = lambda: nndfast.grid_search(NN, X, y, axes, full_output=False,
                                                    num_threads=nt)
            if check:
                return nndfast.grid_search(NN, X, y, axes, full_output=True).costs, side * side
            return None, side * side
        g = _peers.JaxGrid(X, y, W1, W2, axes["W1[0,0]"], axes["W2[1,0]"],
                           max(1, GRID_JAX_CHUNK // n))
        pieces = g.pieces(max(1, GRID_JAX_WORK // n))
        self.call = lambda: g.best(pieces)
        self.call()
        return (g.surface() if check else None), g.chunk * len(pieces)

    def race_nndfast(self, n, iterations):
        X, y = _race.race_data(n)
        W1, W2 = _race.start_weights()
        nt = None if self.parallel else 1
        runs = [_race.run_nndfast(X, y, W1, W2, iterations, self.clock, nt) for _ in range(2)]
        return min(runs, key=lambda r: r["seconds"])

    def race(self, racer, n, target, cap):
        _race.requirement(racer)
        if racer == "torch-LBFGS" and not self.parallel:
            _peers._torch().set_num_threads(1)
        X, y = _race.race_data(n)
        W1, W2 = _race.start_weights()
        return _race.RUNNERS[racer](X, y, W1, W2, target, cap, self.clock)

    def bound(self):
        """(seconds per sigmoid value, seconds per FMA), both in cache, per core."""
        import nndfast

        NN = nndfast.Neural_Network()
        per = []
        for size in SIG_SIZES:
            z = np.linspace(-8.0, 8.0, size)
            best = math.inf
            for _ in range(30):
                t0 = self.clock()
                for _ in range(200):
                    NN.sigmoid(z)
                best = min(best, (self.clock() - t0) / 200)
            per.append(best)
        # the slope between two sizes drops the per-call overhead
        t_sig = (per[1] - per[0]) / (SIG_SIZES[1] - SIG_SIZES[0])
        A = np.random.default_rng(0).random((FMA_SIDE, FMA_SIDE))
        C = np.empty_like(A)
        best = math.inf
        for _ in range(30):
            t0 = self.clock()
            for _ in range(50):
                np.dot(A, A, out=C)
            best = min(best, (self.clock() - t0) / 50)
        return t_sig, best / FMA_SIDE ** 3


def _serve(conn, name, parallel):
    w = _Worker(name, parallel)
    while True:
        cmd, args = conn.recv()
        if cmd == "quit":
            return
        try:
            conn.send(("ok", getattr(w, cmd)(*args)))
        except _peers.Unavailable as e:
            conn.send(("unavailable", str(e)))
        except BaseException as e:  # noqa: BLE001 - reported to the parent, which stops
            import traceback
            conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


class Contender:
    """A worker process for one contender in one mode."""

    def __init__(self, ctx, name, mode):
        self.name, self.mode = name, mode
        parallel = mode == "all cores"
        env = {} if parallel else _peers.THREAD_ENV[name]
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_serve, args=(child, name, parallel), daemon=True)
            self.proc.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.reason = None
        status, value = self.ask("load")
        if status == "unavailable":
            self.reason = value

    def ask(self, cmd, *args):
        self.conn.send((cmd, args))
        status, value = self.conn.recv()
        if status == "error":
            raise RuntimeError(f"{self.name} ({self.mode}) failed in {cmd}{args}:\n{value}")
        return status, value

    def get(self, cmd, *args):
        status, value = self.ask(cmd, *args)
        if status == "unavailable":
            raise _peers.Unavailable(value)
        return value

    def close(self):
        try:
            self.conn.send(("quit", ()))
        except OSError:
            pass
        self.proc.join(30)
        if self.proc.is_alive():
            self.proc.terminate()


# ---------------------------------------------------------------- measuring

def _interleave(contenders, rounds):
    """Time each contender's prepared call: rounds, rotating order, min of
    repeats.  A call of SLOW_SECONDS or more sits out all rounds but the
    first: two samples of a call that long already vary little."""
    first = {}
    for c in contenders:
        first[c.name] = c.get("time", 1)
    # a call under REPEAT_SECONDS is timed in batches that last about that
    # long (see _Worker.time); the one-call probe only sizes them
    reps = {name: max(1, int(REPEAT_SECONDS / max(t, 1e-6))) for name, t in first.items()}
    best = {name: t if t >= SLOW_SECONDS else math.inf for name, t in first.items()}
    for r in range(rounds):
        k = r % len(contenders)
        for c in contenders[k:] + contenders[:k]:
            if r == 0 or first[c.name] < SLOW_SECONDS:
                best[c.name] = min(best[c.name], c.get("time", reps[c.name]))
    return best


def measure_network(pool, mode, cases, rounds, section):
    """{(op, n, I, H): {name: seconds}} for the contenders available."""
    out = {}
    for k, (op, n, I, H) in enumerate(cases):
        log(f"[{mode}] {section} {k + 1}/{len(cases)}: {op} n={n:.0e} I={I} H={H}")
        want = pool["nndfast"].get("network", op, n, I, H, 1)
        ready = [pool["nndfast"]]
        for name in _peers.NAMES[1:]:
            c = pool[name]
            if c.reason or (name == "numpy" and n * H > NUMPY_MAX_NH):
                continue
            _peers.check(name, op, c.get("network", op, n, I, H, 1), want)
            ready.append(c)
        del want
        out[(op, n, I, H)] = _interleave(ready, rounds)
    return out


def measure_grid(pool, mode, cases, rounds):
    """{(n, side): {"nndfast": rate, "jax": rate}} in evaluations x examples per second."""
    out = {}
    checked = set()
    for k, (n, side) in enumerate(cases):
        log(f"[{mode}] grid {k + 1}/{len(cases)}: n={n:.0e} side={side}")
        check = n not in checked
        ref, evals = pool["nndfast"].get("grid", n, side, check)
        ready, work = [pool["nndfast"]], {"nndfast": evals * n}
        if not pool["jax"].reason:
            got, evals_j = pool["jax"].get("grid", n, side, check)
            if check:
                _peers.check("jax", "grid", got, ref)
                checked.add(n)
            ready.append(pool["jax"])
            work["jax"] = evals_j * n
        times = _interleave(ready, rounds)
        out[(n, side)] = {name: work[name] / t for name, t in times.items()}
    return out


def measure_race(pool, mode, cases):
    """{n: {"nndfast": result, racer: result or reason}}, results as _race returns them."""
    out = {}
    host = {"scipy-BFGS-jax": "jax", "scipy-LBFGSB-jax": "jax", "torch-LBFGS": "torch",
            "sklearn-lbfgs": "numpy"}
    for n, iterations in cases:
        log(f"[{mode}] race n={n:.0e}: nndfast, {iterations} iterations")
        mine = pool["nndfast"].get("race_nndfast", n, iterations)
        row = {"nndfast": mine, "iterations": iterations}
        for racer in _race.RACERS:
            log(f"[{mode}] race n={n:.0e}: {racer}")
            status, value = pool[host[racer]].ask("race", racer, n, mine["mse"],
                                                  RACE_CAP * mine["seconds"])
            row[racer] = value if status == "ok" else str(value)
        out[n] = row
    return out


# ---------------------------------------------------------------- the report

def _si(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def _ratio(x):
    return f"{x:.2f}×"


def machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return model, os.cpu_count()


def versions():
    import importlib.metadata as md

    out = []
    for dist in ("nndfast", "numpy", "numba", "jax", "jaxlib", "torch", "scipy", "scikit-learn"):
        try:
            out.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            if dist == "nndfast":
                import nndfast
                out.append(f"nndfast {nndfast.__version__} (in place)")
            else:
                out.append(f"{dist} not installed")
    return ", ".join(out)


def _targets_network(table, mode, lines, shape):
    """One computed sentence per target over the cells of ``table``."""
    if shape:
        want, peers = 2.0, ("torch", "jax")
        text = "≥ 2× torch and JAX at the training shape"
    else:
        want, peers = 4.0, ("numba", "jax")
        text = "≥ 4× numba's fused loop and JAX jit at n ≥ 1e5, H ≥ 16"
    cells = [(key, name, times[name] / times["nndfast"]) for key, times in table.items()
             for name in peers if name in times]
    if not cells:
        lines.append(f"- Target {text} ({mode}): not measured (the peers are not installed).")
        return
    met = [c for c in cells if c[2] >= want]
    worst = min(cells, key=lambda c: c[2])
    (op, n, I, H), name, r = worst
    verdict = "met" if len(met) == len(cells) else "NOT met"
    lines.append(f"- Target {text} ({mode}): **{verdict}**: {len(met)} of {len(cells)} cells "
                 f"reach it; the lowest is {name} on {op} at n={n:.0e}, I={I}, H={H}: {_ratio(r)}.")


def report(args, argv, results, started, load_start, load_end, seconds):
    """The markdown of one run: its command, machine and load, every table,
    and the targets of issue 22 checked against them."""
    model, cores = machine()
    L = []
    cmd = "PYTHONPATH=. python bench/peers.py " + " ".join(argv)
    L.append("# nndfast beside its peers")
    L.append("")
    L.append("Generated by `bench/peers.py`; do not edit by hand. Command:")
    L.append("")
    L.append(f"    {cmd.strip()}")
    L.append("")
    if args.quick:
        L.append("**This is a `--quick` run**: n = 1e5 at H = 16 only, the training shape "
                 "at 1e4, two grids, two rounds, the race at 1e4 and per core only. "
                 "Run without `--quick` for the full tables.")
        L.append("")
    L.append(f"- Machine: {model}, {cores} cores (os.cpu_count()); {platform.platform()}.")
    L.append(f"- Load average (1, 5, 15 min): {load_start[0]:.2f}, {load_start[1]:.2f}, "
             f"{load_start[2]:.2f} at the start; {load_end[0]:.2f}, {load_end[1]:.2f}, "
             f"{load_end[2]:.2f} at the end.")
    L.append(f"- Started {started:%Y-%m-%d %H:%M} UTC; took {seconds:.0f} s.")
    L.append(f"- Versions: {versions()}.")
    L.append(f"- Rounds: {args.rounds}; each contender's time is its minimum over rounds of "
             f"the mean call time of a round's batch (a call under {REPEAT_SECONDS} s is "
             f"repeated for about {REPEAT_SECONDS} s and the batch timed as one: a single "
             f"short call's CPU time misses the work of threads the kernel has not yet "
             f"accounted, which flattered JAX's XLA thread; one of {SLOW_SECONDS} s or more "
             f"is timed twice, not in every round).")
    L.append("- **Per core**: every contender on one thread, in its own process "
             "(nndfast `OMP_NUM_THREADS=1`, numba's serial `njit` with `NUMBA_NUM_THREADS=1`, "
             "JAX with `XLA_FLAGS=\"--xla_cpu_multi_thread_eigen=false "
             "intra_op_parallelism_threads=1\"`, torch `set_num_threads(1)`, numpy "
             "`OPENBLAS_NUM_THREADS=1`), timed in CPU seconds. **All cores**: defaults "
             "(numba's `prange` variant), timed in wall-clock seconds.")
    L.append("- All-cores figures are wall-clock: other work on the machine (the load average "
             "above; a load near the number of cores means the cores were shared) inflates them "
             "and moves them from run to run far more than the per-core CPU seconds. Each "
             f"all-cores batch starts once no other thread runs (waiting at most "
             f"{SETTLE_SECONDS:g} s), so that no contender shares its cores with threads "
             "the one timed before it left spinning (numpy's OpenBLAS workers, torch's "
             "OpenMP team).")
    L.append("- Ratios are the peer's time ÷ nndfast's: above 1 means nndfast is faster. "
             "Every peer agreed with nndfast to rtol 1e-9 before it was timed.")
    unavailable = results["unavailable"]
    for name, reason in unavailable.items():
        L.append(f"- {_peers.LABELS[name]}: not run ({reason}).")
    L.append(f"- numpy (nndfast.reference) is not run where n·H > {NUMPY_MAX_NH:.0e}: "
             "its n×H temporaries would take several GB.")
    L.append("")
    L.append("To install the optional peers: `pip install numba jax jaxlib scikit-learn scipy` "
             "and torch's CPU build (`pip install torch --index-url "
             "https://download.pytorch.org/whl/cpu`). Any that is missing is left out.")
    L.append("")
    peers = [p for p in _peers.NAMES[1:]]

    def net_table(title, table):
        L.append(f"### {title}")
        L.append("")
        L.append("| call | n | I | H | nndfast | " + " | ".join(_peers.LABELS[p] for p in peers)
                 + " |")
        L.append("|---|---:|---:|---:|---:|" + "---:|" * len(peers))
        for (op, n, I, H), times in table.items():
            cells = [_ratio(times[p] / times["nndfast"]) if p in times else "–" for p in peers]
            L.append(f"| {op} | {n:.0e} | {I} | {H} | {_si(times['nndfast'])} | "
                     + " | ".join(cells) + " |")
        L.append("")

    L.append("## Forward, cost and gradient (I = 2, O = 1)")
    L.append("")
    for mode in MODES:
        net_table(mode, results["network"][mode])
    L.append("## The training shape (I = 8, H = 32, O = 1)")
    L.append("")
    for mode in MODES:
        net_table(mode, results["shape"][mode])

    L.append("## The gradient against its compute bound (per core)")
    L.append("")
    t_sig, t_fma = results["bound"]
    L.append(f"Measured in this run, in cache: nndfast's sigmoid (`NN.sigmoid`, the kernel's "
             f"vectorized sigmoid; the slope between {SIG_SIZES[0]} and {SIG_SIZES[1]} values) "
             f"takes {t_sig * 1e9:.3g} ns per value, and a {FMA_SIDE}×{FMA_SIDE} numpy matmul "
             f"does a multiply-add every {t_fma * 1e12:.3g} ps ({1e-9 / t_fma:.3g} G/s). The "
             "bound of one gradient is n·H sigmoids plus its multiply-adds, n·H·(2I + 3O + 1): "
             "the forward products (I + O per unit), the backward ones (I + 2O) and the "
             "sigmoid's derivative a(1 − a) (one).")
    L.append("")
    L.append("| n | I | H | gradient | bound | gradient ÷ bound |")
    L.append("|---:|---:|---:|---:|---:|---:|")
    ratios = []
    for table in (results["network"]["per core"], results["shape"]["per core"]):
        for (op, n, I, H), times in table.items():
            if op != "gradient":
                continue
            b = n * H * t_sig + n * H * (2 * I + 3 + 1) * t_fma
            ratios.append(((n, I, H), times["nndfast"] / b))
            L.append(f"| {n:.0e} | {I} | {H} | {_si(times['nndfast'])} | {_si(b)} | "
                     f"{times['nndfast'] / b:.2f} |")
    L.append("")

    L.append("## Grid search (one W1 and one W2 weight, best only)")
    L.append("")
    L.append("Rate = grid points × examples per second (CPU seconds per core, wall clock on "
             "all cores); the tutorial's 2-3-1 network, axes `W1[0,0]` and `W2[1,0]`. "
             "JAX runs `jit(vmap(cost))` with the minimum taken in the same jitted call, over "
             f"chunks of about {GRID_JAX_CHUNK:.0e} points × examples; on large grids it is "
             f"timed on the first {GRID_JAX_WORK:.0e} points × examples of the grid (its rate "
             "does not depend on the grid's size). Its surface was checked against nndfast's "
             "full surface at the first side of each n.")
    L.append("")
    for mode in MODES:
        grid = results["grid"][mode]
        L.append(f"### {mode}")
        L.append("")
        L.append("| n | side | nndfast rate | JAX vmap rate | nndfast ÷ JAX | "
                 "rate at 1e3 ÷ this, same side | best rate at 1e3 ÷ this |")
        L.append("|---:|---:|---:|---:|---:|---:|---:|")
        best_small = max((r["nndfast"] for (n, s), r in grid.items() if n == 1_000), default=None)
        for (n, side), r in grid.items():
            j = r.get("jax")
            same = grid.get((1_000, side))
            cells = [f"{r['nndfast']:.3g}", f"{j:.3g}" if j else "–",
                     _ratio(r["nndfast"] / j) if j else "–",
                     f"{same['nndfast'] / r['nndfast']:.2f}" if same else "–",
                     f"{best_small / r['nndfast']:.2f}" if best_small else "–"]
            L.append(f"| {n:.0e} | {side} | " + " | ".join(cells) + " |")
        L.append("")

    L.append("## Training to equal error (I = 8, H = 32, O = 1)")
    L.append("")
    L.append("nndfast's trainer runs a fixed number of BFGS iterations; its final MSE is the "
             "target. Each peer starts from the same weights (sklearn from its own) and runs "
             f"until a cost evaluation reaches that MSE, or until {RACE_CAP:g}× nndfast's time "
             "(shown as ≥ the cap). Cells: the peer's time ÷ nndfast's (its time).")
    L.append("")
    for mode in args.race_modes:
        race = results["race"][mode]
        L.append(f"### {mode}")
        L.append("")
        L.append("| n | iterations | nndfast trainer (BFGS) | target MSE | "
                 + " | ".join(_race.LABELS[r] for r in _race.RACERS) + " |")
        L.append("|---:|---:|---:|---:|" + "---:|" * len(_race.RACERS))
        for n, row in race.items():
            mine = row["nndfast"]
            cells = []
            for racer in _race.RACERS:
                r = row[racer]
                if isinstance(r, str):
                    cells.append("– (not installed)")
                elif r["reached"]:
                    cells.append(f"{r['seconds'] / mine['seconds']:.2f}× ({_si(r['seconds'])})")
                elif r["capped"]:
                    cells.append(f"≥ {r['seconds'] / mine['seconds']:.1f}× (MSE {r['mse']:.3g})")
                else:
                    cells.append(f"stopped at {r['seconds'] / mine['seconds']:.2f}×, "
                                 f"MSE {r['mse']:.3g}")
            L.append(f"| {n:.0e} | {mine['iterations']} | {_si(mine['seconds'])} | "
                     f"{mine['mse']:.4g} | " + " | ".join(cells) + " |")
        L.append("")

    L.append("## Against issue 22's targets (computed from the tables above)")
    L.append("")
    for mode in MODES:
        _targets_network(results["network"][mode], mode, L, shape=False)
    for mode in MODES:
        _targets_network(results["shape"][mode], mode, L, shape=True)
    if ratios:
        within = sum(r <= 2.0 for _, r in ratios)
        worst = max(ratios, key=lambda c: c[1])
        L.append(f"- Target gradient within 2× of its compute bound (per core): "
                 f"**{'met' if within == len(ratios) else 'NOT met'}**: {within} of "
                 f"{len(ratios)} cells within it; the farthest is n={worst[0][0]:.0e}, "
                 f"I={worst[0][1]}, "
                 f"H={worst[0][2]} at {worst[1]:.2f}× the bound.")
    for mode in MODES:
        grid = results["grid"][mode]
        pairs = [(s, grid[(1_000, s)]["nndfast"] / r["nndfast"]) for (n, s), r in grid.items()
                 if n == 10_000 and s >= 64 and (1_000, s) in grid]
        small = [r["nndfast"] for (n, s), r in grid.items() if n == 1_000]
        if pairs:
            worst = max(pairs, key=lambda c: c[1])
            low = min((r["nndfast"], s) for (n, s), r in grid.items() if n == 10_000)
            f = max(small) / low[0]
            L.append(f"- Target grid rate at 1e4 examples within 1.5× of the rate at 1e3, side "
                     f"by side, at every side ≥ 64 ({mode}): "
                     f"**{'met' if worst[1] <= 1.5 else 'NOT met'}**; the largest drop is "
                     f"{worst[1]:.2f}× (side {worst[0]}). Against the best rate at 1e3 (any "
                     f"side), as issue 22's text also puts it: "
                     f"**{'met' if f <= 1.5 else 'NOT met'}**, {f:.2f}× at side {low[1]}.")
    for mode in args.race_modes:
        for n, row in results["race"][mode].items():
            r = row["scipy-BFGS-jax"]
            if isinstance(r, str):
                L.append(f"- Target trainer ≥ 4× scipy BFGS over JAX ({mode}, n={n:.0e}): "
                         "not measured (JAX or scipy missing).")
                continue
            x = r["seconds"] / row["nndfast"]["seconds"]
            # a peer that never reaches the target took longer than any ratio shown
            verdict = "met" if x >= 4.0 or not r["reached"] else "NOT met"
            prefix = "" if r["reached"] else ("≥ " if r["capped"] else "never reached; stopped at ")
            L.append(f"- Target trainer ≥ 4× scipy BFGS over JAX ({mode}, n={n:.0e}): "
                     f"**{verdict}** ({prefix}{x:.2f}×).")
    L.append("")
    return "\n".join(L)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sizes and rounds (about a minute)")
    ap.add_argument("--write", metavar="FILE", help="also write the markdown to FILE")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per case")
    ap.add_argument("--save", metavar="FILE", help="also pickle the measurements to FILE")
    ap.add_argument("--render", metavar="FILE",
                    help="measure nothing: print the markdown of measurements saved by --save")
    args = ap.parse_args(argv)
    if args.render:
        import pickle

        with open(args.render, "rb") as f:
            saved = pickle.load(f)
        for key in ("quick", "rounds", "race_modes"):
            setattr(args, key, saved["args"][key])
        text = report(args, saved["argv"], saved["results"], saved["started"],
                      saved["load_start"], saved["load_end"], saved["seconds"])
        print(text)
        if args.write:
            with open(args.write, "w") as f:
                f.write(text)
        return 0
    plan = QUICK if args.quick else FULL
    args.rounds = args.rounds or plan["rounds"]
    args.race_modes = plan["race_modes"]
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = os.getloadavg()
    ctx = multiprocessing.get_context("spawn")
    results = {"network": {}, "shape": {}, "grid": {}, "race": {}, "unavailable": {}}
    for mode in MODES:
        log(f"[{mode}] starting workers")
        pool = {name: Contender(ctx, name, mode) for name in _peers.NAMES}
        try:
            if pool["nndfast"].reason:
                raise RuntimeError(f"nndfast does not load: {pool['nndfast'].reason}")
            for name, c in pool.items():
                if c.reason:
                    results["unavailable"][name] = c.reason
            results["network"][mode] = measure_network(pool, mode, plan["network"], args.rounds,
                                                       "network")
            results["shape"][mode] = measure_network(pool, mode, plan["shape"], args.rounds,
                                                     "training shape")
            if mode == "per core":
                log("[per core] the gradient's compute bound")
                results["bound"] = pool["nndfast"].get("bound")
            results["grid"][mode] = measure_grid(pool, mode, plan["grid"], args.rounds)
            if mode in plan["race_modes"]:
                results["race"][mode] = measure_race(pool, mode, plan["race"])
        finally:
            for c in pool.values():
                c.close()
    load_end = os.getloadavg()
    seconds = time.time() - started.timestamp()
    if args.save:
        import pickle

        with open(args.save, "wb") as f:
            pickle.dump({"args": {"quick": args.quick, "rounds": args.rounds,
                                  "race_modes": args.race_modes},
                         "argv": argv, "results": results, "started": started,
                         "load_start": load_start, "load_end": load_end,
                         "seconds": seconds}, f)
    text = report(args, argv, results, started, load_start, load_end, seconds)
    print(text)
    if args.write:
        with open(args.write, "w") as f:
            f.write(text)
        log(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
