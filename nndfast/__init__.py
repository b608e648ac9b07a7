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
from nndfast._threads import openmp_enabled
from nndfast.data import X, y
from nndfast.grid import GridResult, grid_search
from nndfast.network import Neural_Network, computeNumericalGradient
from nndfast.train import gradient_check, gradient_descent, trainer

__version__ = "0.1.0"

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
