import numpy as np
from numpy.typing import NDArray

def simd_isa() -> str: ...

def all_finite(v: NDArray[np.float64]) -> bool: ...

def adaptive_teams(on: bool) -> None: ...

def search(
    X: NDArray[np.float64],
    y: NDArray[np.float64],
    W: NDArray[np.float64],
    H: int,
    values: NDArray[np.float64],
    vstart: NDArray[np.int64],
    vlen: NDArray[np.int64],
    which: NDArray[np.int64],
    ustride: NDArray[np.int64],
    ostride: NDArray[np.int64],
    out: NDArray[np.float64],
    out_offset: int,
    rowout: bool,
    tile: int,
    etile: int,
    qbatch: int,
    p0: int,
    p1: int,
    chunk: int,
    nblock: int,
    nfold: int,
    reg: bool,
    scale: float,
    pen0: float,
    pen: NDArray[np.float64],
    num_threads: int,
) -> tuple[float, int]: ...
