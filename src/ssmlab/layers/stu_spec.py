"""Typed specs of the STU layers: `STUSpec` (layer "stu", eq. 4 by default) and `ARSTUSpec` ("ar_stu", eq. 6).

The fields are the registered factories' options (`layers.stu.make_stu` / `make_ar_stu`). `preset`
names a set of structural options (`kind`, `branches`, `filter_delay`, `k_u`, `m_y_mode`, `k_y`, `init`,
`alpha`); each of those fields left at None keeps the preset's value, a value overrides it. A spec always
names its preset: `use_tensordot_approx=True` (the `STUApprox` class, whose own default preset is
"flash") builds the spec's preset too, so set `preset="flash"` for the Flash STU line of work.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from .spec import Dtype, LayerSpec, positive, register_spec

STUPreset = Literal["paper_eq4", "paper_ar_stu", "official", "flash", "flash_hankel_l"]  # layers.stu.PRESETS
STUOrder = Literal["auto", "frequency", "contract_first", "features", "transfer"]


@dataclasses.dataclass(frozen=True)
class _STUFamilySpec(LayerSpec):
    """The options shared by "stu" and "ar_stu" (see the module docstring)."""

    num_filters: int = 24
    preset: STUPreset = "paper_eq4"
    order: STUOrder = "auto"
    ar_method: Literal["scan", "associative"] = "scan"
    use_cache: bool = True
    use_tensordot_approx: bool = False
    kind: Literal["hankel", "hankel_l"] | None = None
    branches: Literal["both", "plus"] | None = None
    filter_delay: int | None = None
    k_u: int | None = None
    m_y_mode: Literal["none", "fixed_eq4", "learnable"] | None = None
    k_y: int | None = None
    init: Literal["zeros", "official", "normal"] | None = None
    alpha: float | None = None
    dtype: Dtype = "float32"

    def check(self) -> None:
        positive(self, "num_filters")
        for name in ("k_u", "k_y"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"layer.{name} must be >= 0 (None = the preset's value); got {value}.")
        if self.filter_delay is not None and self.filter_delay not in (0, 1, 2, 3):
            raise ValueError(f"layer.filter_delay must be 0, 1, 2 or 3 (paper eq. 4: 2); got {self.filter_delay}.")


@register_spec
@dataclasses.dataclass(frozen=True)
class STUSpec(_STUFamilySpec):
    """Layer "stu": the exact STU, paper eq. (4) with preset "paper_eq4" [STU, §3]."""

    name: ClassVar[str] = "stu"


@register_spec
@dataclasses.dataclass(frozen=True)
class ARSTUSpec(_STUFamilySpec):
    """Layer "ar_stu": AR-STU, eq. (6) with learnable M^y (preset "paper_ar_stu") [STU, §5]."""

    name: ClassVar[str] = "ar_stu"
    preset: STUPreset = "paper_ar_stu"
