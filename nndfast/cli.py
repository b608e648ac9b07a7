"""The ``nndfast`` command (API: the command line): argument parsing, the
``grid`` subcommand and the entry point.

``nndfast`` (or ``python -m nndfast``) with no subcommand replays Part 3 of
"Neural Networks Demystified", measured live: that replay is nndfast.demo.
``nndfast grid NAME=START:STOP:COUNT ...`` brute-forces chosen weights, here.

This module parses, dispatches and prints; the text helpers are
nndfast._format's, the --plot glue nndfast._plotting's, and the numerics
live in grid_search, gradient_descent and trainer.
"""
import argparse
import functools
import math
import os
import re
import sys

import numpy as np

from nndfast import _plotting
from nndfast._format import PROG, err, human_count, human_time, print_json, weights_text
from nndfast._validate import weight_key
from nndfast.demo import make_networks, run_demo

__all__ = ["main"]

#: Layer shapes of the tutorial's 2-3-1 network, for checking weight names.
LAYER_SHAPES = {"W1": (2, 3), "W2": (3, 1)}


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------
def parse_weight(text):
    """'W1[0,2]' -> ('W1', 0, 2), checked against the 2-3-1 network's shapes."""
    key = weight_key(text)
    if key is None:
        raise ValueError(f"unknown weight {text!r}: expected W1[i,j] or W2[i,j]")
    layer, i, j = key
    rows, cols = LAYER_SHAPES[layer]
    if i >= rows or j >= cols:
        raise ValueError(f"unknown weight {text!r}: {layer} has shape ({rows}, {cols}), "
                         f"so i < {rows} and j < {cols}")
    return layer, i, j


def parse_axis(text):
    """'W1[0,0]=-5:5:1000' -> ('W1[0,0]', start, stop, count)."""
    name, sep, rng = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME=START:STOP:COUNT, e.g. W1[0,0]=-5:5:1000")
    try:
        layer, i, j = parse_weight(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    parts = rng.split(":")
    bad = argparse.ArgumentTypeError(
        f"{text!r}: malformed range {rng!r}: expected START:STOP:COUNT with numbers "
        f"START and STOP and an integer COUNT >= 1, e.g. -5:5:1000")
    if len(parts) != 3:
        raise bad
    try:
        start, stop = float(parts[0]), float(parts[1])
        count = int(parts[2])
    except ValueError:
        raise bad from None
    if not (math.isfinite(start) and math.isfinite(stop)) or count < 1:
        raise bad
    return f"{layer}[{i},{j}]", start, stop, count


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**32 - 1, got {value}")
    return value


#: Dask's network address schemes.  (inproc:// is left out: such a
#: scheduler exists only inside its own process, never this command's.)
_SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
#: HOST:PORT, with an IPv6 host in brackets.
_HOST_PORT_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d+)$")


def _scheduler_address(text):
    """'tcp://10.0.0.5:8786' (or '10.0.0.5:8786', tcp) -> unchanged; a usage
    error for anything that is not [SCHEME://]HOST:PORT, before connecting."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    if scheme not in _SCHEDULER_SCHEMES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: unknown address scheme {scheme!r}; use one of "
            f"{', '.join(_SCHEDULER_SCHEMES)}, e.g. tcp://10.0.0.5:8786")
    m = _HOST_PORT_RE.match(rest)
    if m is None or not 0 < int(m.group(2)) < 2 ** 16:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a scheduler address: expected [SCHEME://]HOST:PORT with a "
            f"port from 1 to 65535, e.g. tcp://10.0.0.5:8786")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse with one error prefix, ``nndfast: error:``, for the command
    and every subcommand (argparse would write ``nndfast grid: error:``)."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{PROG}: error: {message}\n")


# The one rule for placing options: every option may come before or after
# the subcommand, and an option the chosen command does not use is an error
# (never silently ignored).  The subcommand's copies default to SUPPRESS so
# they never overwrite a value given earlier.
_COMMON_DEFAULTS = {"threads": None, "seed": None, "json": False, "plot": None,
                    "quick": False}
#: Options of the default run only, refused with a subcommand.
_DEMO_ONLY = ("quick",)


def _add_common(parser, suppress):
    d = (lambda key: argparse.SUPPRESS) if suppress else _COMMON_DEFAULTS.get
    parser.add_argument("--threads", type=_positive_int, metavar="N", default=d("threads"),
                        help="threads for the grid searches and training (default: OMP_NUM_THREADS "
                             "or the usable cores)")
    parser.add_argument("--seed", type=_seed, metavar="K", default=d("seed"),
                        help="draw the weights as the tutorial does, after "
                             "np.random.seed(K) (default: a fresh seed, printed)")
    parser.add_argument("--json", action="store_true", default=d("json"),
                        help="print machine-readable JSON instead of text")
    parser.add_argument("--plot", metavar="DIR", default=d("plot"),
                        help='write PNG plots into DIR (needs: pip install "nndfast[plot]")')
    # (parsed after a subcommand too, so that it is refused there, not
    # ignored; listed only in the default run's help)
    parser.add_argument("--quick", action="store_true", default=d("quick"),
                        help=argparse.SUPPRESS if suppress else
                        "smaller grids (the demonstration in a few seconds)")


def add_grid_arguments(parser):
    """The ``grid`` subcommand's own arguments.

    Backends (a Dask ``--scheduler ADDRESS`` later) add their option here
    and their branch in :func:`grid_backend`.
    """
    parser.add_argument("axes", nargs="+", type=parse_axis, metavar="NAME=START:STOP:COUNT",
                        help="a weight and its values, e.g. W1[0,0]=-5:5:1000 "
                             "(COUNT evenly spaced values from START to STOP)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        type=_scheduler_address,
                        help="run the search on the Dask cluster whose scheduler is at "
                             "ADDRESS, e.g. tcp://10.0.0.5:8786 "
                             '(needs: pip install "nndfast[dask]")')


def build_parser():
    from nndfast import __version__
    parser = _Parser(
        prog=PROG,
        description="Part 3 of 'Neural Networks Demystified', measured live: brute-force "
                    "grid search with nndfast's kernels beside the tutorial's Python loops, "
                    "then gradient descent and BFGS.  With no subcommand, runs the whole "
                    "demonstration.")
    _add_common(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{grid}")
    grid = sub.add_parser(
        "grid", help="brute-force chosen weights over chosen ranges",
        description="Brute-force chosen weights of the tutorial network over chosen ranges "
                    "with nndfast.grid_search; the other weights keep their drawn values.",
        epilog="example: nndfast grid 'W1[0,0]=-5:5:1000' 'W2[1,0]=-5:5:1000'  "
               "(quoted, because some shells, zsh for one, treat [ ] as a pattern)")
    _add_common(grid, suppress=True)
    add_grid_arguments(grid)
    grid.set_defaults(usage=grid)  # so grid errors print the grid usage
    return parser


def parse_args(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    for key, value in _COMMON_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    if args.command is not None:
        for key in _DEMO_ONLY:
            if getattr(args, key) != _COMMON_DEFAULTS[key]:
                args.usage.error(f"--{key} applies to the default run only, "
                                 f"not to {PROG} {args.command}")
    if args.plot is not None and os.path.exists(args.plot) and not os.path.isdir(args.plot):
        parser.error(f"--plot {args.plot}: exists and is not a directory")
    return parser, args


# ---------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------
#: Seconds to wait for a Dask scheduler given with --scheduler.
_CONNECT_TIMEOUT = 10


def grid_backend(args):
    """The grid_search to run for these arguments.

    ``--scheduler ADDRESS`` gives grid_search bound to a Dask client
    connected to that scheduler; otherwise the local grid_search.
    """
    import nndfast
    address = getattr(args, "scheduler", None)
    if address is None:
        return nndfast.grid_search
    from nndfast.distributed import connect
    client = connect(address, timeout=_CONNECT_TIMEOUT)
    return functools.partial(nndfast.grid_search, client=client)


# ---------------------------------------------------------------------------
# nndfast grid
# ---------------------------------------------------------------------------
def run_grid(args, parser):
    import nndfast
    from nndfast._threads import resolve_num_threads
    names = [a[0] for a in args.axes]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        parser.error(f"weight {dup[0]} given more than once")
    axes = {name: np.linspace(start, stop, count) for name, start, stop, count in args.axes}
    seed = args.seed
    plots = _plotting.load(args, err)
    full_output = plots is not None and len(axes) <= 2
    NN, _ = make_networks(seed)
    try:
        search = grid_backend(args)
    except ImportError as exc:
        parser.error(str(exc))
    except ValueError as exc:  # an address Dask refuses that the syntax check let by
        parser.error(f"argument --scheduler: {exc}")
    except (OSError, TimeoutError) as exc:
        parser.error(f"could not reach the Dask scheduler at {args.scheduler}: {exc}")
    try:
        res = search(NN, nndfast.X, nndfast.y, axes, full_output=full_output,
                     num_threads=args.threads, progress=not args.json)
    except (ValueError, MemoryError) as exc:
        hint = ("; --plot needs the full surface: plot fewer values or drop --plot"
                if full_output else "")
        parser.error(f"{exc}{hint}")
    threads = resolve_num_threads(args.threads)
    record = {
        "seed": seed, "threads": threads,
        "axes": [{"weight": n, "start": a, "stop": b, "count": c} for n, a, b, c in args.axes],
        "shape": [c for _, _, _, c in args.axes],
        "evaluations": int(res.evaluations), "seconds": float(res.seconds),
        "evaluations_per_second": res.evaluations / res.seconds if res.seconds > 0 else None,
        "best_cost": float(res.best_cost), "best_index": [int(i) for i in res.best_index],
        "best_weights": {k: float(v) for k, v in res.best_weights.items()}}
    status = 0
    if args.plot is not None:
        if plots is None:
            status = 1
        elif len(axes) > 2:
            err(f"{PROG} grid: --plot draws 1 or 2 weights; {len(axes)} given, no plot written")
            record["plots"] = []
        else:
            record["plots"] = plots.grid_plot(args.plot, list(axes), list(axes.values()),
                                              res.costs, res.best_weights, res.best_cost)
    if args.json:
        print_json(record)
        return status
    print(f"Searched {len(axes)} weight{'s' if len(axes) > 1 else ''} over "
          f"{' x '.join(f'{c:,}' for c in record['shape'])} = "
          f"{human_count(res.evaluations)} points in {human_time(res.seconds)} "
          f"on {threads} thread{'s' if threads != 1 else ''}"
          + (f" ({record['evaluations_per_second']:,.0f} evaluations/s)"
             if record["evaluations_per_second"] else ""))
    print(f"  other weights drawn with seed {seed} (replay with --seed {seed})")
    print(f"  best cost J = {res.best_cost:.6g} at {weights_text(res.best_weights)}")
    for f in record.get("plots", []):
        print(f"  plot: {f}")
    return status


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------
def main(argv=None):
    """Run the ``nndfast`` command; returns the exit status."""
    try:
        parser, args = parse_args(argv)
        if args.seed is None:
            args.seed = int(np.random.SeedSequence().entropy % 2 ** 32)
        if args.command == "grid":
            return run_grid(args, args.usage)
        return run_demo(args, grid_backend(args))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        err(f"{PROG}: interrupted")
        return 130
    except BrokenPipeError:
        # Output went to a closed pipe (`nndfast | head`): stop quietly.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 141


if __name__ == "__main__":
    sys.exit(main())
