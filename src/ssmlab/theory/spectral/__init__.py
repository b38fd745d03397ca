"""Spectral filtering theory of the STU [STU, §3, Theorem 3.1, App. A-B]: one module per part.

* `construction`: the explicit STU weights of Theorem 3.1 (two Z branches) and Theorem B.1 (one Z_L
  bank) for a symmetric, marginally stable LDS, and the least-squares fit of the same weights on data.

All float64 (wrap callers in `jax.enable_x64(True)`); the STU maths itself is `ssmlab.core.stu`.
"""

from __future__ import annotations

from . import construction as construction
from .construction import DELAY as DELAY
from .construction import K_U as K_U
from .construction import construction_weights as construction_weights
from .construction import design_matrix as design_matrix
from .construction import least_squares_weights as least_squares_weights
