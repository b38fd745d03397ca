"""B-S6: selective scan sequential vs associative per L, and the Mamba block vs the LRU block (fwd + bwd).

Scan: one sequence, D channels x N states, float32, `core.selective_scan` with method "sequential" (fused
lax.scan, the reference) and "associative" (materialised [L, D·N] coefficients + lax.associative_scan).
Blocks: a batch through `Mamba` (d_model H, expand 2, N states per inner channel) and through `LRU` (width
H, N states), each timed as value_and_grad of a sum of squares over every parameter; the LRU is the
reference. A third variant, `lru_same_states`, gives the LRU as many real state numbers as the Mamba block
carries (E·N real = E·N/2 complex states, E = 2H), so the ratio separates state size from selectivity.
The default run is short (L up to 4,096); `--full` goes to L = 65,536.
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ssmlab.core.selective_scan import selective_scan
from ssmlab.layers.lru import LRU
from ssmlab.layers.mamba import Mamba

from .harness import compare


def _scan_inputs(L: int, D: int, N: int):
    rng = np.random.default_rng(0)
    u = rng.standard_normal((L, D))
    delta = np.log1p(np.exp(rng.standard_normal((L, D)) - 3.0))
    A = -np.broadcast_to(np.arange(1, N + 1), (D, N))
    B, C = rng.standard_normal((L, N)), rng.standard_normal((L, N))
    return tuple(jnp.asarray(x, jnp.float32) for x in (u, delta, A, B, C, np.ones(D)))


def _rel_err(out, ref):
    return float(jnp.max(jnp.abs(out - ref)) / jnp.max(jnp.abs(ref)))


def bench_scan(lengths, D: int = 64, N: int = 16, repeats: int = 10) -> None:
    """Sequential vs associative selective scan for each L (one sequence, float32)."""
    fns = {m: jax.jit(partial(selective_scan, method=m)) for m in ("sequential", "associative")}
    for L in lengths:
        args = _scan_inputs(L, D, N)
        compare("selective_scan", {m: partial(f, *args) for m, f in fns.items()}, reference="sequential",
                check=_rel_err, tol=1e-3, repeats=repeats, params={"L": L, "D": D, "N": N, "dtype": "float32"})


def _grad_fn():
    @eqx.filter_jit
    def value_and_grad(model, x):
        return eqx.filter_value_and_grad(lambda m: jnp.sum(jax.vmap(m)(x) ** 2))(model)

    return value_and_grad


def bench_blocks(grid, H: int = 64, N: int = 16, batch: int = 8, repeats: int = 5) -> None:
    """Mamba block vs LRU block, fwd + bwd, for each (method, L); both at width H and N states (and the LRU
    with the Mamba block's E·N real state numbers)."""
    vg = _grad_fn()
    expand = 2
    for method, L in grid:
        mamba = Mamba(d_model=H, d_state=N, expand=expand, scan_method=method, key=jr.key(0))
        lru = LRU(d_model=H, state_size=N, scan_method=method, key=jr.key(1))
        lru_big = LRU(d_model=H, state_size=expand * H * N // 2, scan_method=method, key=jr.key(1))
        x = jr.normal(jr.key(2), (batch, L, H), jnp.float32)
        compare("block_fwd_bwd", {"lru": partial(vg, lru, x), "mamba": partial(vg, mamba, x),
                                  "lru_same_states": partial(vg, lru_big, x)}, reference="lru",
                repeats=repeats, params={"B": batch, "L": L, "H": H, "N": N, "method": method, "expand": expand})


def main(full: bool = False) -> None:
    """Scan timings per L, then block timings; --full: L to 65,536 (GPU-sized)."""
    bench_scan([256, 1024, 4096] if not full else [1024, 4096, 16384, 65536], repeats=5 if not full else 10)
    grid = [("sequential", 1024)] if not full else [(m, L) for m in ("sequential", "associative")
                                                    for L in (1024, 4096, 16384)]
    bench_blocks(grid, batch=4 if not full else 8)


if __name__ == "__main__":
    main()
