"""B3: diagonal recurrence modes — sequential scan vs associative scan vs FFT convolution.

One LTI diagonal SSM y = Re(C x), x_t = a x_{t-1} + B u_t with H channels in and out; the
reference is the sequential `lax.scan`. The convolution route builds the kernel and never
the state, so its cost does not grow with N.
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr

from ssmlab.layers.linear_ssm import LinearSSM

from .harness import compare


def main(full: bool = False) -> None:
    """Print recurrence timings for a batch of sequences at several (N, L)."""
    grid = [(16, 1024), (64, 1024), (64, 4096)] if not full else [(16, 4096), (64, 16384), (256, 16384)]
    for N, L in grid:
        model = LinearSSM(state_size=N, d_model=32, complex_state=True, key=jr.key(0))
        us = jr.normal(jr.key(1), (4, L, 32), jnp.float32)
        apply = eqx.filter_jit(lambda mm, x: jax.vmap(mm)(x))
        variants = {"sequential": ("recurrent", "sequential"), "associative": ("recurrent", "associative"),
                    "fft_conv": ("convolution", "sequential"), "frequency": ("frequency", "sequential")}
        fns = {name: partial(apply, model.with_mode(mode, method), us) for name, (mode, method) in variants.items()}

        def err(out, ref):
            return float(jnp.max(jnp.abs(out - ref)) / jnp.max(jnp.abs(ref)))

        compare("recurrence", fns, reference="sequential", check=err, tol=1e-3, repeats=10,
                params={"B": 4, "H": 32, "N": N, "L": L, "dtype": "float32"})


if __name__ == "__main__":
    main()
