"""PNG figures for the ``nndfast`` command (helper; the ``plot`` extra: matplotlib).

Importing this module raises ImportError when matplotlib is missing; the
plotting glue, nndfast._plotting, turns that into one line naming the extra.  Figures are drawn with
the Agg canvas directly, so no GUI backend and no pyplot global state is
involved.
"""
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

__all__ = ["demo_plots", "grid_plot"]

_COST = "cost J = Σ ½(y − ŷ)²  (dimensionless)"


def _figure(width=6.4, height=4.4):
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, directory, name):
    path = os.path.join(directory, name)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def scores(directory, y, yhat_before, yhat_after=None, name="scores.png"):
    """Bar chart: real scores against the network's guesses."""
    fig = _figure()
    ax = fig.add_subplot()
    x = np.arange(len(y))
    series = [("real score y", y), ("guess ŷ, untrained", yhat_before)]
    if yhat_after is not None:
        series.append(("guess ŷ, after BFGS", yhat_after))
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, np.asarray(values) * 100, width,
               label=label)
    ax.set_xticks(x)
    ax.set_xticklabels([f"student {i + 1}" for i in x])
    ax.set_xlabel("example (one student: hours of sleep and study)")
    ax.set_ylabel("test score (points out of 100)")
    ax.set_ylim(0, 118)
    ax.set_title("Test scores: real (y) against the network's guesses (ŷ)")
    ax.legend(loc="upper center", ncol=len(series), fontsize="small")
    return _save(fig, directory, name)


def one_weight(directory, weight, values, costs, best_value, best_cost,
               name="one_weight.png"):
    """Cost against the value of one weight, minimum marked."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(values, costs, lw=1.5, label="cost J")
    ax.plot([best_value], [best_cost], "r*", ms=12,
            label=f"minimum: {weight} = {best_value:.3f}, J = {best_cost:.4g}")
    ax.set_xlabel(f"weight {weight} (dimensionless)")
    ax.set_ylabel(_COST)
    ax.set_title(f"Brute force over one weight: {len(values):,} values of {weight}")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, directory, name)


def surface(directory, names, values, costs, best_weights, best_cost,
            name="two_weights.png"):
    """The 2-D cost surface (log colour scale) with the minimum marked."""
    fig = _figure(6.4, 5.2)
    ax = fig.add_subplot()
    v0, v1 = values
    c = np.asarray(costs)
    # Downsample very large surfaces for drawing; the minimum is marked exactly.
    step0, step1 = max(1, len(v0) // 500), max(1, len(v1) // 500)
    shown = c[::step0, ::step1]
    positive = shown[shown > 0]
    norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size else None
    # costs[i, j]: i along names[0] (x axis), j along names[1] (y axis).
    img = ax.imshow(shown.T, origin="lower", aspect="auto", norm=norm, cmap="viridis",
                    extent=(v0[0], v0[-1], v1[0], v1[-1]))
    fig.colorbar(img, ax=ax, label=_COST + ", log scale")
    # The minimum often sits on the edge of the range: do not clip its marker.
    ax.plot([best_weights[names[0]]], [best_weights[names[1]]], "r*", ms=16, mec="white",
            clip_on=False, zorder=5,
            label=f"minimum J = {best_cost:.4g} at ({best_weights[names[0]]:.3f}, "
                  f"{best_weights[names[1]]:.3f})")
    ax.set_xlabel(f"weight {names[0]} (dimensionless)")
    ax.set_ylabel(f"weight {names[1]} (dimensionless)")
    ax.set_title(f"Cost surface over two weights: {len(v0):,} x {len(v1):,} grid")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize="small")
    return _save(fig, directory, name)


def training(directory, gd_costs, bfgs_costs, grid_best, grid_label,
             name="training.png"):
    """Cost against iteration for gradient descent and BFGS, grid best as a line."""
    fig = _figure()
    ax = fig.add_subplot()
    gd = np.asarray(gd_costs, dtype=float)
    bfgs = np.asarray(bfgs_costs, dtype=float)
    ax.semilogy(np.arange(1, gd.size + 1), gd, label="gradient descent (batch)")
    ax.semilogy(np.arange(1, bfgs.size + 1), bfgs, "o-", ms=3, label="BFGS (trainer)")
    ax.axhline(grid_best, color="r", ls="--", label=f"best grid point ({grid_label})")
    ax.set_xscale("log")
    ax.set_xlabel("iteration (log scale)")
    ax.set_ylabel(_COST + ", log scale")
    ax.set_title("Training all 9 weights: cost against iteration")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return _save(fig, directory, name)


def demo_plots(directory, d):
    """The default run's plots; returns the paths written."""
    files = [scores(directory, d["y"], d["yhat_before"], d.get("yhat_after"))]
    weight, values, costs, best_value, best_cost = d["one"]
    files.append(one_weight(directory, weight, values, costs, best_value, best_cost))
    names, w, costs2, best_weights, best_cost2 = d["two"]
    files.append(surface(directory, names, (w, w), costs2, best_weights, best_cost2))
    files.append(training(directory, d["gd"], d["bfgs"], d["grid_best"], d["grid_label"]))
    return files


def grid_plot(directory, names, values, costs, best_weights, best_cost):
    """``nndfast grid --plot``: a curve for one weight, a surface for two."""
    if len(names) == 1:
        return [one_weight(directory, names[0], values[0], costs, best_weights[names[0]],
                           best_cost, name="grid.png")]
    return [surface(directory, names, values, costs, best_weights, best_cost,
                    name="grid.png")]
