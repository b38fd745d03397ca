"""B-S4: the S4 kernel by Cauchy + Woodbury (`core.s4_kernel`) vs the dense matrix-power kernel.

H channels of a HiPPO-LegS S4 layer (N states, bilinear). The dense route forms each channel's
N x N Ā and B̄ and runs K_l = C Ā^l B̄ as a `lax.scan` of matrix-vector products, O(L N²) per
channel; the Cauchy route evaluates the generating function at L/2 + 1 roots of unity and
inverts one FFT, O(L N) per channel. C = C̃ (I - Ā^L)^{-1} is precomputed in float64 outside
the timing, so both routes produce the same kernel (checked before timing).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import lax

from ssmlab.core.s4_kernel import dense_equivalent
from ssmlab.layers.s4 import S4

from .harness import compare


def _dense_system(layer: S4, length: int):
    """Per-channel dense (Ā, B̄, C) in complex64, C from C̃ by a float64 matrix power."""
    rows = [dense_equivalent(layer.lam[h], layer.p[h], layer.b[h], layer.c_tilde[h], float(np.exp(layer.log_dt[h])),
                             length=length) for h in range(layer.d.shape[0])]
    return tuple(jnp.asarray(np.stack(x), jnp.complex64) for x in zip(*rows, strict=True))


@partial(jax.jit, static_argnames="length")
def dense_power_kernel(a_bar, b_bar, c, *, length: int):
    """K_l[h] = Re C_h Ā_h^l B̄_h by repeated matrix-vector products, [length, H]."""
    def one(a, b, cc):
        def step(x, _):
            return a @ x, jnp.real(cc @ x)
        return lax.scan(step, b, None, length=length)[1]

    return jax.vmap(one)(a_bar, b_bar, c).T


def main(full: bool = False) -> None:
    """Print Cauchy-vs-dense kernel timings for H = 32 channels at several (N, L)."""
    grid = [(16, 1024), (64, 1024), (64, 4096)] if not full else [(16, 4096), (64, 16384), (256, 16384)]
    H = 32
    for N, L in grid:
        layer = S4(d_model=H, state_size=N, dt_min=1e-2, dt_max=1e-1, key=jr.key(0))
        dense = _dense_system(layer, L)
        cauchy = jax.jit(partial(S4.kernel, length=L))

        def err(out, ref):
            return float(jnp.max(jnp.abs(out - ref)) / jnp.max(jnp.abs(ref)))

        fns = {"dense_powers": partial(dense_power_kernel, *dense, length=L), "cauchy": partial(cauchy, layer)}
        compare("s4_kernel", fns, reference="dense_powers", check=err, tol=1e-3, repeats=10,
                params={"H": H, "N": N, "L": L, "dtype": "float32"})


if __name__ == "__main__":
    main()
