"""Output helpers for the ``nndfast`` command (helper): human-readable times
and counts, weight lists, strict JSON, and text to stdout or stderr.

Pure Python (json, math, sys); shared by the command line (nndfast.cli) and
the Part 3 replay (nndfast.demo).
"""
import json
import math
import sys

__all__ = ["PROG", "human_time", "human_count", "ratio", "weights_text", "Output",
           "print_json", "err"]

#: The command's name, as it prefixes its messages.
PROG = "nndfast"


def human_time(seconds):
    """A duration in the unit a person would use: µs, ms, s, min, h, days, years."""
    s = float(seconds)
    if not math.isfinite(s):
        return "inf"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs" if s >= 1e-5 else f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    if s < 120:
        return f"{s:.3g} s"
    if s < 2 * 3600:
        return f"{s / 60:.3g} min"
    if s < 2 * 86400:
        return f"{s / 3600:.3g} h"
    year = 365.25 * 86400
    if s < 2 * year:
        return f"{s / 86400:.3g} days"
    years = s / year
    if years < 1e3:
        return f"{years:.3g} years"
    if years < 1e4:
        return f"{years:,.0f} years"
    mantissa, exponent = f"{years:.1e}".split("e")
    return f"{mantissa}e{int(exponent)} years"


def human_count(n):
    """1,000,000 style below 10^12, 1e+27 style above."""
    if n < 10 ** 12:
        return f"{int(n):,}"
    mantissa, exponent = f"{float(n):.0e}".split("e")
    return f"{mantissa}e{int(exponent)}" if mantissa != "1" else f"10^{int(exponent)}"


def ratio(slow, fast):
    """slow / fast, inf when fast took no time."""
    return slow / fast if fast > 0 else float("inf")


def weights_text(best_weights):
    """{"W1[0,0]": 1.5} -> 'W1[0,0] = 1.5000'."""
    return ", ".join(f"{name} = {value:.4f}" for name, value in best_weights.items())


class Output(object):
    """Text to stdout, or nothing in --json mode."""

    def __init__(self, quiet):
        self.quiet = quiet

    def __call__(self, text=""):
        if not self.quiet:
            print(text, flush=True)


def print_json(record):
    """Strict JSON: a non-finite number (a zero-time ratio) becomes null."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    print(json.dumps(clean(record), indent=2, allow_nan=False))


def err(text):
    """One line to stderr."""
    print(text, file=sys.stderr, flush=True)
