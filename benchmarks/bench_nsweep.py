"""N-sweep of gradient descent on the time-domain SSM: one vmapped jit program vs a Python loop over N.

All variants run the same descent (`theory.learning_dynamics.sweep.descend_one`, padded to N_max with a mask,
so the per-N program is compiled once). Reference `python_loop`: one call per N of the former
route, autodiff through the masked time-domain model at every step (`gradient="autodiff"`).
`vmap_autodiff` is that route vmapped over N (the sweep before issue 17); `*_gain` is the default
route through the total gain (ŷ = P g for A = aI: same loss, exact gradient, O(L + N) per step),
as a loop and vmapped. `vmap_gain_lr_grid` runs two learning-rate settings per N in one program
(2 x the runs; its check compares the first setting). Outputs (convergence steps and total-gain
records) must agree to 1e-9.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ssmlab.theory.learning_dynamics.closed_forms import max_stable_learning_rate
from ssmlab.theory.learning_dynamics.sweep import descend_one, latent_masks, sweep_data, sweep_descent

from .harness import compare


def log_grid(count: int, top: int) -> np.ndarray:
    """`count` distinct integers from 1 to `top`, roughly log-spaced (rounding merges small values)."""
    for points in range(count, 10 * count):
        ns = np.unique(np.round(np.geomspace(1, top, points)).astype(int))
        if len(ns) >= count:
            return ns
    raise ValueError(f"cannot place {count} distinct integers in [1, {top}].")


def main(full: bool = False) -> None:
    """Time the balanced-tied sweep (fixed learning rate) over a log grid of N."""
    n_grid, steps, length = (32, 5000, 64) if full else (8, 1000, 32)
    ns = log_grid(n_grid, 256 if full else 64)
    with jax.enable_x64(True):
        u, y, s_g, e_g, floor = sweep_data(length, 0.5, 0)
        gain0 = 1e-3 * s_g / e_g
        lr = 0.05 * max_stable_learning_rate("balanced_tied", n=int(ns.max()), sigma_g=s_g, eta_g=e_g, length=length)
        lrs = jnp.full(len(ns), lr)
        static = dict(n_max=int(ns.max()), a=0.5, gain0=gain0, floor=floor, gap=0.01, steps=steps, record_every=100)
        masks = latent_masks(ns, n_max=int(ns.max()))
        variants = {}
        for gradient in ("autodiff", "gain"):
            vmapped = jax.jit(partial(sweep_descent, "balanced_tied", **static, gradient=gradient))
            one = jax.jit(partial(descend_one, "balanced_tied", a=0.5, gain0=gain0, floor=floor, gap=0.01,
                                  steps=steps, record_every=100, gradient=gradient))

            def loop(one=one):
                outs = [one(masks[i], lrs[i], u, y) for i in range(len(ns))]
                return jnp.stack([o[0] for o in outs]), jnp.stack([o[1] for o in outs])

            variants["python_loop" if gradient == "autodiff" else "python_loop_gain"] = loop
            variants[f"vmap_{gradient}"] = partial(vmapped, jnp.asarray(ns), lrs, u, y)
        grid = jax.jit(partial(sweep_descent, "balanced_tied", **static))
        lr_grid = jnp.stack([lrs, 0.5 * lrs])
        variants["vmap_gain_lr_grid"] = lambda: tuple(o[0] for o in grid(jnp.asarray(ns), lr_grid, u, y))

        def err(out, ref):
            return float(max(jnp.max(jnp.abs(out[0] - ref[0])), jnp.max(jnp.abs(out[1] - ref[1])) / s_g * e_g))

        compare("nsweep_gd", variants, reference="python_loop", check=err, tol=1e-9, repeats=3 if full else 7,
                params={"n_values": len(ns), "steps": steps, "length": length, "n_max": int(ns.max())})


if __name__ == "__main__":
    main()
