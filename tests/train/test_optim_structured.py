"""S4 and S5 inside SequenceModel: recurrent fields go to the no-decay SSM group; forward/grad run."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

from ssmlab.layers import s4, s5
from ssmlab.models import make_model
from ssmlab.train.optim import param_roles


@pytest.mark.parametrize(("name", "cls", "fields"), [("s4", s4.S4, s4.RECURRENT_FIELDS),
                                                     ("s5", s5.S5, s5.RECURRENT_FIELDS)])
def test_roles_and_model(key, name, cls, fields):
    model, state = make_model(layer=name, d_model=4, depth=1, d_out=3, seq_len=8, key=key,
                              layer_options={"state_size": 4})
    layer = model.blocks[0].layer
    assert isinstance(layer, cls)
    roles = param_roles(layer)
    for f in fields:
        assert getattr(roles, f) == "recurrent", f
    assert roles.c_re == "default" and roles.d == "default"

    @eqx.filter_jit
    def loss(m, x):
        out, _ = jax.vmap(lambda xi: m(xi, state, inference=True), axis_name="batch")(x)
        return jnp.sum(out**2)

    x = jnp.ones((2, 8, 1))
    grads = eqx.filter_grad(loss)(model, x)
    g = getattr(grads.blocks[0].layer, fields[0])
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.max(jnp.abs(g))) > 0
