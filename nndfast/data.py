"""The tutorial's data (API; Part 1): hours of sleep and study, and test scores.

X is normalized by each column's maximum and y divided by 100, exactly as the
tutorial does, so X has shape (3, 2) and y has shape (3, 1).
"""
import numpy as np

__all__ = ["X", "y", "X_raw", "y_raw"]

#: Raw inputs, one row per student: (hours of sleep, hours of study), shape (3, 2).
X_raw = np.array(([3, 5], [5, 1], [10, 2]), dtype=float)
#: Raw test scores out of 100, shape (3, 1).
y_raw = np.array(([75], [82], [93]), dtype=float)

#: Normalized inputs, shape (3, 2): each column divided by its maximum.
X = X_raw / np.amax(X_raw, axis=0)
#: Normalized scores, shape (3, 1): divided by 100.
y = y_raw / 100
