"""Depth vs width in deep linear SSMs [DepthWidth] (Bao, Yu, Jiang, Li 2025): one module per part.

* `models`: SISO / deep linear SSMs, transfer functions, parameter norms (R1, R5);
* `construction`: the constructive deep factorisation of a shallow SSM and minimal-depth bounds (R2-R4);
* `training`: projected (norm-constrained) training of deep and wide models (E2, E3).

The names of `models` are re-exported here (`ssmlab.theory.expressivity.DeepLinearSSM`).
"""

from __future__ import annotations

from . import construction as construction
from . import training as training
from .models import (
    NORM_KINDS as NORM_KINDS,
)
from .models import (
    DeepLinearSSM as DeepLinearSSM,
)
from .models import (
    NormKind as NormKind,
)
from .models import (
    SISOLayer as SISOLayer,
)
from .models import (
    balanced_factors as balanced_factors,
)
from .models import (
    check_bound as check_bound,
)
from .models import (
    check_norm_kind as check_norm_kind,
)
from .models import (
    check_x64 as check_x64,
)
from .models import (
    deep_to_shallow as deep_to_shallow,
)
from .models import (
    l1_gain as l1_gain,
)
from .models import (
    layer_impulse_response as layer_impulse_response,
)
from .models import (
    layer_norm as layer_norm,
)
from .models import (
    layer_output as layer_output,
)
from .models import (
    layer_transfer as layer_transfer,
)
from .models import (
    min_shallow_width as min_shallow_width,
)
from .models import (
    parameter_norm as parameter_norm,
)
from .models import (
    random_shallow_ssm as random_shallow_ssm,
)
from .models import (
    shallow_from_residues as shallow_from_residues,
)
from .models import (
    shallow_gain_bound as shallow_gain_bound,
)
from .models import (
    shallow_width_lower_bound as shallow_width_lower_bound,
)
