"""Plotting glue for the ``nndfast`` command (helper): the ``--plot`` option.

Loads the figures module nndfast._plots (the ``plot`` extra: matplotlib)
and creates the output directory, or says in one line what is missing.
"""
import os

from nndfast._format import PROG

__all__ = ["load"]


def load(args, err):
    """Import the plotting module if --plot was given; None (with one line) if
    matplotlib is missing."""
    if args.plot is None:
        return None
    try:
        from nndfast import _plots
    except ImportError as exc:
        if exc.name is not None and exc.name.partition(".")[0] != "matplotlib":
            raise
        err(f'{PROG}: --plot needs matplotlib, which is not installed: '
            f'pip install "nndfast[plot]"')
        return None
    try:
        os.makedirs(args.plot, exist_ok=True)
    except OSError as exc:
        err(f"{PROG}: --plot {args.plot}: cannot create the directory: {exc.strerror}")
        return None
    return _plots
