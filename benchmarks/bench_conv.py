"""B1: causal FFT convolution vs direct (dense Toeplitz einsum) convolution across L.

The reference is the direct O(L^2) convolution, measured in the same run; the FFT path
should win beyond a crossover length (about 64 on a 2-core CPU).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ssmlab.core.fftconv import causal_conv

from .harness import compare


def _toeplitz_conv(u, k):
    L = u.shape[0]
    idx = jnp.arange(L)[:, None] - jnp.arange(L)[None, :]
    toe = jnp.where(idx[:, :, None] >= 0, k[jnp.clip(idx, 0, L - 1)], 0.0)  # [L, L, H]
    return jnp.einsum("tsh,sh->th", toe, u)


def main(full: bool = False) -> None:
    """Print FFT vs direct timings for B=4 sequences of H=64 channels."""
    lengths = (16, 64, 256, 1024, 2048) if not full else (16, 64, 256, 1024, 4096, 8192)
    rng = np.random.default_rng(0)
    fft_fn = jax.jit(jax.vmap(causal_conv, (0, None)))
    direct_fn = jax.jit(jax.vmap(_toeplitz_conv, (0, None)))
    for L in lengths:
        u = jnp.asarray(rng.normal(size=(4, L, 64)), jnp.float32)
        k = jnp.asarray(rng.normal(size=(L, 64)) / np.sqrt(L), jnp.float32)

        def err(out, ref):
            return float(jnp.max(jnp.abs(out - ref)) / jnp.max(jnp.abs(ref)))

        compare("causal_conv", {"direct_toeplitz": partial(direct_fn, u, k), "fft": partial(fft_fn, u, k)},
                reference="direct_toeplitz", check=err, tol=1e-4, repeats=10 if L > 1024 else 20,
                params={"B": 4, "H": 64, "L": L, "dtype": "float32"})


if __name__ == "__main__":
    main()
