import numpy as np
from numpy.typing import NDArray

def simd_isa() -> str: ...

def all_finite(v: NDArray[np.float64]) -> bool: ...

def adaptive_teams(on: bool) -> None: ...

class GridKernel:
    def __init__(self, plan: object) -> None: ...

def search(
    kernel: GridKernel,
    out: NDArray[np.float64],
    out_offset: int,
    rowout: bool,
    p0: int,
    p1: int,
    chunk: int,
    num_threads: int,
) -> tuple[float, int]: ...
