"""The Part 3 replay (the command's driver of the API): ``nndfast`` with no
subcommand.

Replays Part 3 of "Neural Networks Demystified" on the tutorial's data,
running nndfast's kernels and the pure-numpy reference side by side: one
weight, two, three, the curse of dimensionality, then gradient descent and
BFGS.  Every number it prints is measured or computed in that run; where the
reference would take too long, it runs on a subsample and its time for the
full search is extrapolated from the rate it measured, and the output says
so.

This module runs the steps and records their numbers; the argument parsing
is nndfast.cli's, the text helpers nndfast._format's and the figures
nndfast._plots'.  The numerics live in grid_search, gradient_descent and
trainer.
"""
import contextlib
import io
import time

import numpy as np

from nndfast import _plotting
from nndfast._format import (Output, err, human_count, human_time, print_json, ratio,
                             weights_text)

__all__ = ["Demo", "run_demo", "make_networks"]

#: The tutorial network's nine weights, in the order the demo adds them.
ALL_WEIGHTS = ("W1[0,0]", "W1[0,1]", "W1[0,2]", "W1[1,0]", "W1[1,1]", "W1[1,2]",
               "W2[0,0]", "W2[1,0]", "W2[2,0]")
#: The tutorial's search range and resolution per weight.
LOW, HIGH, VALUES = -5.0, 5.0, 1000


class _Sizes(object):
    """Grid sizes and measurement budgets of one default run."""

    def __init__(self, quick):
        self.quick = quick
        self.one = VALUES                          # step 2: values of one weight
        self.two = 300 if quick else VALUES        # step 3: values per weight
        self.three = 100 if quick else VALUES      # step 4: values per weight
        # Time budgets (seconds) for the measurements that are not full
        # searches.  Each becomes an evaluation count through the rate that
        # side measured earlier in the run, so a slow or busy machine takes
        # smaller samples instead of a longer run.
        self.ref_two = 0.04 if quick else 1.0      # step 3's reference subsample
        self.ref_three = 0.03 if quick else 0.5    # step 4's reference subsample
        self.ref_curse = 0.01 if quick else 0.05   # step 5, per weight count
        self.fast_curse = 0.02 if quick else 0.15  # step 5, per weight count
        # Step 6: batch gradient descent.
        self.gd_rate = 8.0
        self.gd_iter = 2000 if quick else 10000


def make_networks(seed):
    """The fast network and a reference network with the same weights."""
    import nndfast
    from nndfast import reference
    np.random.seed(seed)
    NN = nndfast.Neural_Network()
    ref = reference.Neural_Network()
    ref.W1 = NN.W1.copy()
    ref.W2 = NN.W2.copy()
    return NN, ref


def _axes(names, values):
    return {name: values for name, values in zip(names, values)}


class Demo(object):
    """One default run.  Each step prints its text and records its numbers."""

    def __init__(self, args, search):
        import nndfast
        from nndfast import reference
        from nndfast._threads import resolve_num_threads
        self.nndfast = nndfast
        self.reference = reference
        self.args = args
        self.sizes = _Sizes(args.quick)
        self.out = Output(args.json)
        self.threads = resolve_num_threads(args.threads)
        self.X, self.y = nndfast.X, nndfast.y
        self.NN, self.ref = make_networks(args.seed)
        self.fast_grid = search
        self.record = {"seed": args.seed, "threads": self.threads,
                       "openmp": bool(nndfast.openmp_enabled()), "quick": args.quick}
        # Measured (evaluations, seconds) per weight count, for step 5.
        self.rates = {"reference": {}, "nndfast": {}}
        self.plot_data = {}

    # -- running searches ---------------------------------------------------
    def fast(self, axes, full_output=True, progress=False):
        return self.fast_grid(self.NN, self.X, self.y, axes, full_output=full_output,
                              num_threads=self.args.threads, progress=progress)

    def slow(self, axes):
        return self.reference.grid_search(self.ref, self.X, self.y, axes, full_output=True)

    def reference_on_subsample(self, names, values, budget):
        """Run the reference on an evenly spread sub-grid of about ``budget``
        points.  Returns (result, index arrays of the sub-grid)."""
        total = np.prod([float(len(v)) for v in values])
        keep = min(1.0, budget / total) ** (1.0 / len(values))
        idx = [np.unique(np.linspace(0, len(v) - 1, max(1, int(round(len(v) * keep))))
                         .round().astype(np.intp)) for v in values]
        res = self.slow(_axes(names, [v[i] for v, i in zip(values, idx)]))
        return res, idx

    def note_rate(self, who, k, res):
        self.rates[who][k] = (float(res.evaluations), float(res.seconds))

    def budget(self, who, seconds, low, high, k=None):
        """Evaluations that take about ``seconds`` at the rate ``who`` measured
        for k weights (the best rate so far if k is None or not measured),
        kept within [low, high]."""
        e, t = self.rates[who].get(k) or max(self.rates[who].values(),
                                             key=lambda et: et[0] / max(et[1], 1e-12))
        return int(min(high, max(low, e / max(t, 1e-12) * seconds)))

    # -- the steps ------------------------------------------------------------
    def run(self):
        out = self.out
        s = self.sizes
        out(f"nndfast: Part 3 of 'Neural Networks Demystified', measured on this machine"
            f"{' (quick mode: smaller grids)' if s.quick else ''}")
        out(f"  seed {self.args.seed} (replay with --seed {self.args.seed}), "
            f"{self.threads} thread{'s' if self.threads != 1 else ''}, "
            f"OpenMP {'on' if self.record['openmp'] else 'off'}")
        out()
        self.step_before()
        self.step_one()
        self.step_two()
        self.step_three()
        self.step_curse()
        self.step_gradients()
        return self.record

    def step_before(self):
        from nndfast.data import X_raw
        yhat = self.NN.forward(self.X)
        cost = float(self.NN.costFunction(self.X, self.y)[0])
        out = self.out
        out("1. Before training: the untrained network's guesses")
        out("   sleep (h)  study (h)  real score  guess")
        for (sleep, study), real, guess in zip(X_raw, self.y.ravel(), yhat.ravel()):
            out(f"   {sleep:9.0f}  {study:9.0f}  {real * 100:10.0f}  {guess * 100:5.1f}")
        out(f"   cost J = {cost:.6f}  (J = sum of 0.5*(y - yHat)^2, scores divided by 100)")
        out()
        self.record["before_training"] = {
            "y": self.y.ravel().tolist(), "yhat": yhat.ravel().tolist(), "cost": cost}
        self.plot_data["y"] = self.y.ravel().copy()
        self.plot_data["yhat_before"] = yhat.ravel().copy()

    def step_one(self):
        out = self.out
        name = ALL_WEIGHTS[0]
        w = np.linspace(LOW, HIGH, self.sizes.one)
        ref = self.slow({name: w})
        fast = self.fast({name: w})
        self.note_rate("reference", 1, ref)
        self.note_rate("nndfast", 1, fast)
        agree = ref.best_index == fast.best_index and np.allclose(
            ref.costs, fast.costs, rtol=1e-12, atol=0)
        out(f"2. One weight: {name} over {len(w):,} values from {LOW:g} to {HIGH:g}")
        out(f"   reference (the tutorial's Python loop): {human_time(ref.seconds):>10}")
        out(f"   nndfast:                                {human_time(fast.seconds):>10}"
            f"   ({ratio(ref.seconds, fast.seconds):,.0f}x faster)")
        out(f"   best {weights_text(fast.best_weights)}, cost J = {fast.best_cost:.6f}"
            f"  (reference agrees: {'yes' if agree else 'NO'})")
        out()
        self.record["one_weight"] = {
            "weights": [name], "shape": [len(w)], "evaluations": int(fast.evaluations),
            "reference_seconds": ref.seconds, "nndfast_seconds": fast.seconds,
            "speedup": ratio(ref.seconds, fast.seconds),
            "best_weights": fast.best_weights, "best_cost": fast.best_cost,
            "reference_agrees": bool(agree)}
        self.plot_data["one"] = (name, w, fast.costs, fast.best_weights[name], fast.best_cost)

    def _report_subsample(self, ref, full_evals, fast_seconds, max_rel):
        rate = ref.evaluations / ref.seconds
        estimate = full_evals / rate
        out = self.out
        out(f"   reference: measured on an evenly spread subsample of "
            f"{human_count(ref.evaluations)} points in {human_time(ref.seconds)} "
            f"({rate:,.0f} evaluations/s);")
        out(f"              extrapolated to the full grid at that rate: "
            f"~{human_time(estimate)}   ({ratio(estimate, fast_seconds):,.0f}x slower "
            f"than nndfast)")
        out(f"   on the subsample, reference and nndfast costs differ by at most "
            f"{max_rel:.1e} (relative)")
        return {"evaluations": int(ref.evaluations), "seconds": ref.seconds,
                "extrapolated_seconds": estimate, "extrapolated": True,
                "max_relative_difference": max_rel}

    @staticmethod
    def _max_rel(a, b):
        return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), np.finfo(float).tiny)))

    def step_two(self):
        out = self.out
        n = self.sizes.two
        names = ALL_WEIGHTS[:2]
        w = np.linspace(LOW, HIGH, n)
        fast = self.fast(_axes(names, [w, w]))
        ref, idx = self.reference_on_subsample(
            names, [w, w], self.budget("reference", self.sizes.ref_two, 1000, 200000))
        max_rel = self._max_rel(ref.costs, fast.costs[np.ix_(*idx)])
        self.note_rate("nndfast", 2, fast)
        self.note_rate("reference", 2, ref)
        out(f"3. Two weights: {names[0]} x {names[1]}, {n:,} x {n:,} = "
            f"{human_count(fast.evaluations)} evaluations")
        out(f"   nndfast, the full grid: {human_time(fast.seconds)}")
        refrec = self._report_subsample(ref, fast.evaluations, fast.seconds, max_rel)
        out(f"   best {weights_text(fast.best_weights)}, cost J = {fast.best_cost:.6f}")
        out()
        self.record["two_weights"] = {
            "weights": list(names), "shape": [n, n], "evaluations": int(fast.evaluations),
            "nndfast_seconds": fast.seconds, "reference": refrec,
            "speedup": ratio(refrec["extrapolated_seconds"], fast.seconds),
            "best_weights": fast.best_weights, "best_cost": fast.best_cost}
        self.plot_data["two"] = (names, w, fast.costs, fast.best_weights, fast.best_cost)

    def step_three(self):
        out = self.out
        n = self.sizes.three
        names = ALL_WEIGHTS[:3]
        w = np.linspace(LOW, HIGH, n)
        out(f"4. Three weights: {' x '.join(names)}, {n:,}^3 = {human_count(n ** 3)} "
            f"evaluations (nndfast keeps only the minimum, not the surface)")
        fast = self.fast(_axes(names, [w, w, w]), full_output=False,
                         progress=not self.args.json)
        ref, idx = self.reference_on_subsample(
            names, [w, w, w], self.budget("reference", self.sizes.ref_three, 1000, 100000))
        check = self.fast(_axes(names, [w[i] for i in idx]))
        max_rel = self._max_rel(ref.costs, check.costs)
        self.note_rate("nndfast", 3, fast)
        self.note_rate("reference", 3, ref)
        out(f"   nndfast, the full grid: {human_time(fast.seconds)}"
            f"   ({fast.evaluations / fast.seconds:,.0f} evaluations/s)")
        refrec = self._report_subsample(ref, fast.evaluations, fast.seconds, max_rel)
        out(f"   best {weights_text(fast.best_weights)}, cost J = {fast.best_cost:.6f}")
        out()
        self.record["three_weights"] = {
            "weights": list(names), "shape": [n, n, n], "evaluations": int(fast.evaluations),
            "nndfast_seconds": fast.seconds, "reference": refrec,
            "speedup": ratio(refrec["extrapolated_seconds"], fast.seconds),
            "best_weights": fast.best_weights, "best_cost": fast.best_cost}
        self.grid_best = (names, fast.evaluations, fast.best_cost)

    def _measure(self, who, k):
        """Fill in a missing (evaluations, seconds) for k weights with a small search."""
        if k in self.rates[who]:
            return
        # The rate falls as weights are added, so size each search from the
        # rate measured with one weight fewer.
        if who == "reference":
            budget = self.budget(who, self.sizes.ref_curse, 200, 5000, k - 1)
        else:
            budget = self.budget(who, self.sizes.fast_curse, 10 ** 5, 3 * 10 ** 8, k - 1)
        n = max(2, int(round(budget ** (1.0 / k))))
        w = np.linspace(LOW, HIGH, n)
        axes = _axes(ALL_WEIGHTS[:k], [w] * k)
        res = self.slow(axes) if who == "reference" else self.fast(axes, full_output=False)
        self.note_rate(who, k, res)

    def step_curse(self):
        out = self.out
        out(f"5. The curse of dimensionality: {VALUES:,} values per weight, "
            f"{VALUES:,}^k evaluations")
        out("   time for the full search, from each side's rate measured in this run "
            "on a k-weight search")
        out("   (* = the full search itself was timed; otherwise extrapolated)")
        out(f"   {'weights':>7}  {'evaluations':>13}  {'reference':>16}  {'nndfast':>16}"
            f"  {'speed-up':>9}")
        rows = []
        for k in range(1, len(ALL_WEIGHTS) + 1):
            total = float(VALUES) ** k
            cells, row = [], {"weights": k, "evaluations": total}
            for who in ("reference", "nndfast"):
                self._measure(who, k)
                evals, secs = self.rates[who][k]
                estimate = secs * total / evals
                timed = evals == total
                row[f"{who}_seconds"] = estimate
                row[f"{who}_timed"] = timed
                row[f"{who}_rate"] = evals / secs if secs > 0 else float("inf")
                cells.append(f"{'' if timed else '~'}{human_time(estimate)}"
                             f"{'*' if timed else ' '}")
            speedup = ratio(row["reference_seconds"], row["nndfast_seconds"])
            out(f"   {k:>7}  {human_count(total):>13}  {cells[0]:>16}  {cells[1]:>16}"
                f"  {speedup:>8,.0f}x")
            rows.append(row)
        out()
        self.record["curse_of_dimensionality"] = rows

    def step_gradients(self):
        out = self.out
        nndfast = self.nndfast
        names, grid_evals, grid_best = self.grid_best
        s = self.sizes
        start = self.NN.getParams()

        gd_net = nndfast.Neural_Network()
        gd_net.setParams(start)
        t0 = time.perf_counter()
        gd = nndfast.gradient_descent(gd_net, self.X, self.y, learning_rate=s.gd_rate,
                                      max_iter=s.gd_iter, tol=0.0, method="batch",
                                      num_threads=self.args.threads)
        gd_seconds = time.perf_counter() - t0
        # costs[k]: the cost after step k+1, summed over outputs.
        gd_costs = np.asarray(gd.costs, dtype=float).reshape(len(gd.costs), -1).sum(axis=1)
        gd_final = float(gd_net.costFunction(self.X, self.y)[0])
        below = np.flatnonzero(gd_costs < grid_best)
        # Batch descent evaluates the cost and gradient once per step, plus
        # once at the start: step k+1 has used k+1 + (evaluations - iterations).
        gd_beat = (int(below[0] + 1 + gd.evaluations - gd.iterations)
                   if below.size else None)

        bfgs_net = nndfast.Neural_Network()
        bfgs_net.setParams(start)
        T = nndfast.trainer(bfgs_net, num_threads=self.args.threads)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the optimizer's disp output
            T.train(self.X, self.y)
        bfgs_seconds = time.perf_counter() - t0
        bfgs_costs = np.array([float(np.sum(j)) for j in T.J])
        r = T.optimizationResults
        bfgs_final = float(bfgs_net.costFunction(self.X, self.y)[0])
        bfgs_nfev, bfgs_nit = int(r.nfev), int(r.nit)

        out(f"6. Gradients: all {len(ALL_WEIGHTS)} weights at once, from the same "
            f"untrained weights")
        out(f"   best grid point above ({len(names)} weights, "
            f"{human_count(grid_evals)} evaluations): J = {grid_best:.3g}")
        out(f"   gradient descent (batch, learning rate {s.gd_rate:g}): J = {gd_final:.3g} "
            f"after {int(gd.iterations):,} iterations, {int(gd.evaluations):,} evaluations, "
            f"{human_time(gd_seconds)}")
        if gd_beat is not None:
            out(f"      below the grid's best after {gd_beat:,} evaluations")
        else:
            out("      did not get below the grid's best")
        out(f"   BFGS (trainer): J = {bfgs_final:.3g} after {bfgs_nit} iterations, "
            f"{bfgs_nfev} evaluations, {human_time(bfgs_seconds)}")
        ok = []
        if gd_beat is not None and gd_beat < 100:
            ok.append("gradient descent")
        if bfgs_final < grid_best and bfgs_nfev < 100:
            ok.append("BFGS")
        if ok:
            out(f"   -> {' and '.join(ok)} beat {human_count(grid_evals)} brute-force "
                f"evaluations with fewer than 100 evaluations.")
        else:
            out("   -> neither beat the grid within 100 evaluations in this run.")
        lower = [n for n, v in (("gradient descent", gd_final), ("BFGS", bfgs_final))
                 if v < grid_best]
        out(f"   lower final cost than the best grid point: "
            f"{', '.join(lower) if lower else 'neither'}")
        self.record["gradients"] = {
            "grid_best_cost": grid_best, "grid_evaluations": int(grid_evals),
            "gradient_descent": {
                "learning_rate": s.gd_rate, "final_cost": gd_final,
                "iterations": int(gd.iterations), "evaluations": int(gd.evaluations),
                "converged": bool(gd.converged), "seconds": gd_seconds,
                "evaluations_to_beat_grid": gd_beat},
            "bfgs": {"final_cost": bfgs_final, "iterations": bfgs_nit,
                     "evaluations": bfgs_nfev, "seconds": bfgs_seconds,
                     "below_grid_best": bool(bfgs_final < grid_best)}}
        self.plot_data["gd"] = gd_costs
        self.plot_data["bfgs"] = bfgs_costs
        self.plot_data["grid_best"] = grid_best
        self.plot_data["grid_label"] = (f"{len(names)} weights, "
                                        f"{human_count(grid_evals)} evaluations")
        self.plot_data["yhat_after"] = bfgs_net.forward(self.X).ravel()

    def plot(self, plots):
        return plots.demo_plots(self.args.plot, self.plot_data)


def run_demo(args, search):
    """Run the Part 3 replay for parsed arguments; returns the exit status.

    search is the grid_search to time (nndfast.grid_search, or one bound to
    a Dask client).
    """
    demo = Demo(args, search)
    plots = _plotting.load(args, err)
    t0 = time.perf_counter()
    record = demo.run()
    status = 0
    if args.plot is not None:
        if plots is None:
            status = 1
        else:
            files = demo.plot(plots)
            record["plots"] = files
            demo.out("Plots: " + ", ".join(files))
    record["seconds_total"] = time.perf_counter() - t0
    if args.json:
        print_json(record)
    return status
