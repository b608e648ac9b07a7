"""nndfast: the "Neural Networks Demystified" network at hardware speed (API).

``from nndfast import *`` replaces the tutorial's ``from partTwo import *``
(and ``partFour``, ``partFive``, ``partSix``): it gives X, y, Neural_Network
(Part 7's ``Neural_Network(Lambda=...)`` included), computeNumericalGradient
and trainer, plus grid_search, gradient_descent and gradient_check, with the
tutorial's names, shapes and in-place behaviour, computed by compiled
Cython/OpenMP kernels.

nndfast.reference has the same API in plain numpy, written the tutorial's
way; it is what the kernels are tested and benchmarked against.
"""


def _require_built_kernels():
    """Raise one clear ImportError if this is a source folder whose kernels
    (every _*.pyx beside this file) have no extension module for this Python.

    Without it, the first ``from nndfast import _openmp`` fails with Python's
    "partially initialized module ... (most likely due to a circular import)",
    which points the wrong way.  Installed packages ship no .pyx, so this
    costs them one directory listing.
    """
    import glob
    import os
    import sys
    from importlib.machinery import EXTENSION_SUFFIXES

    here = os.path.dirname(os.path.abspath(__file__))
    unbuilt = [os.path.basename(pyx)[:-4] for pyx in sorted(glob.glob(os.path.join(here, "_*.pyx")))
               if not any(os.path.exists(pyx[:-4] + suffix) for suffix in EXTENSION_SUFFIXES)]
    if unbuilt:
        raise ImportError(
            f"nndfast was imported from its source folder {here}, whose compiled kernels "
            f"are not built for this Python ({sys.version.split()[0]}): no extension module "
            f"for {', '.join(unbuilt)}.  To use nndfast, install it with `pip install .` and "
            "run Python outside the source tree, whose folder on sys.path (the current "
            "directory, for `python -c`, `-m` and the prompt) hides the installed package.  "
            "To work on nndfast in place, build the kernels with "
            "`python setup.py build_ext --inplace`.")


_require_built_kernels()
del _require_built_kernels

from nndfast._threads import openmp_enabled
from nndfast.data import X, y
from nndfast.grid import GridResult, grid_search
from nndfast.network import Neural_Network, computeNumericalGradient
from nndfast.train import gradient_check, gradient_descent, trainer

__version__ = "0.1.0"

#: Submodules reachable as attributes without importing them at ``import
#: nndfast`` (PEP 562), as scipy does for its own: ``import nndfast;
#: nndfast.reference`` works, and a program that never uses the reference
#: does not pay for it.
_LAZY_SUBMODULES = ("reference",)


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module(f"nndfast.{name}")   # sets the attribute too
    raise AttributeError(f"module 'nndfast' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))

__all__ = [
    "X",
    "y",
    "Neural_Network",
    "computeNumericalGradient",
    "grid_search",
    "GridResult",
    "gradient_descent",
    "gradient_check",
    "trainer",
    "openmp_enabled",
]
