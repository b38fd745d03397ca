"""Parameter roles declared on dataclass fields: `eqx.field(metadata={"role": "recurrent"})`.

A field of an Equinox module may carry one of the roles

* ``"frozen"``: never trained (the STU's spectral filters; static `FrozenArray` buffers or leaves);
* ``"recurrent"``: SSM / AR parameters, trained without weight decay at a reduced learning rate;
* ``"default"``: an ordinary weight (the role of every field that declares none).

The role belongs to the field, so anything that partitions parameters (the optimiser's groups,
`trainable`, parameter counts) reads it from the class alone, without knowing the layer. This
module is below every floor (layers declare, train/ reads); it imports nothing of ssmlab.
"""

from __future__ import annotations

import dataclasses
import functools

ROLE_KEY = "role"
ROLES = ("frozen", "recurrent", "default")


@functools.cache
def declared_roles(cls: type) -> dict[str, str]:
    """{field name: role} of the fields of dataclass `cls` that declare `metadata={"role": ...}`.

    Raises ValueError for a role that is not one of ROLES, naming the class and the field.
    """
    if not dataclasses.is_dataclass(cls):
        return {}
    roles = {}
    for f in dataclasses.fields(cls):
        if ROLE_KEY not in f.metadata:
            continue
        role = f.metadata[ROLE_KEY]
        if role not in ROLES:
            raise ValueError(f"field {cls.__name__}.{f.name} declares metadata role {role!r}; a role must be one of "
                             f"{ROLES} (e.g. eqx.field(metadata={{'role': 'recurrent'}})).")
        roles[f.name] = role
    return roles


def fields_with_role(cls: type, role: str) -> tuple[str, ...]:
    """Names of the fields of `cls` declaring `role`, in field order."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}; got {role!r}.")
    return tuple(name for name, r in declared_roles(cls).items() if r == role)
