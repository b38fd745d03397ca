"""B-gen: generating N steps — STU exact O(t) stepping vs FutureFill vs distilled LDS vs LRU stepping.

Autoregressive generation: the next input is built from the last output, u_{t+1} = tanh(y_t), so no
route can precompute the convolution; one jitted `lax.scan` runs N steps from the zero state. The
STU is built for seq_len = N (the exact route keeps N inputs). Exact routes (FutureFill, dyadic and
epoched) must reproduce the exact route's N outputs before any time is printed; the distilled LDS
(approximate) and the LRU (another model) are timed and their deviation reported, not gated.
After the table: tokens/s per route and N, and the log-log slope of time vs N next to the theory
(exact 2, epoched FutureFill 1.5, dyadic FutureFill 1 + log² factors, LDS 1, LRU 1).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from ssmlab.layers.lru import LRU
from ssmlab.layers.stu import STU

from .harness import compare

THEORY = {"stu_exact": 2.0, "futurefill_epoched": 1.5, "futurefill_dyadic": 1.0, "lds_distilled": 1.0,
          "lru": 1.0}


@eqx.filter_jit
def _generate(stepper, u0, steps_like):
    """Outputs [N, H] of N feedback steps u_{t+1} = tanh(y_t) (N = steps_like.shape[0])."""

    def body(carry, _):
        state, u = carry
        state, y = stepper.step(state, u)
        return (state, jnp.tanh(y)), y

    return jax.lax.scan(body, (stepper.init_state(), u0), steps_like)[1]


def _variants(N: int, H: int, lds_size: int):
    stu = STU(d_model=H, seq_len=N, num_filters=24, preset="flash", init="normal", key=jr.key(0))
    lru = LRU(state_size=64, d_model=H, key=jr.key(1))
    u0 = jr.normal(jr.key(2), (H,), jnp.float32)
    steps = jnp.zeros((N, 0), jnp.float32)  # only its length matters
    steppers = {"stu_exact": (stu.stepper("exact"), True), "futurefill_dyadic": (stu.stepper("futurefill"), True),
                "futurefill_epoched": (stu.stepper("futurefill_epoched"), True),
                "lds_distilled": (stu.stepper("lds", state_size=lds_size), False), "lru": (lru, False)}
    return {name: (lambda s=s, exact=exact: {"y": _generate(s, u0, steps), "exact": exact})
            for name, (s, exact) in steppers.items()}


def _err(out, ref):
    e = float(jnp.max(jnp.abs(out["y"] - ref["y"])) / jnp.max(jnp.abs(ref["y"])))
    return e if out["exact"] else 0.0  # approximate routes are reported below, not gated


def main(full: bool = False) -> None:
    """Time N-step generation per route; print tokens/s and log-log slopes."""
    grid = [256, 1024, 4096] if not full else [256, 1024, 4096, 16384]
    H, lds_size = 8, 32
    times: dict[str, list[float]] = {}
    for N in grid:
        fns = _variants(N, H, lds_size)
        outs: dict = {}
        rows = compare("generation", fns, reference="stu_exact", check=_err, tol=1e-3, repeats=3 if N > 1024 else 5,
                       params={"N": N, "H": H, "K": 24, "lds_state": lds_size, "dtype": "float32"}, outputs=outs)
        for r in rows:
            times.setdefault(r["variant"], []).append(r["t_med_ms"] / 1e3)
        ref = outs["stu_exact"]["y"]
        dev = float(jnp.max(jnp.abs(outs["lds_distilled"]["y"] - ref)) / jnp.max(jnp.abs(ref)))
        print(f"  N={N}: distilled LDS (P={lds_size}) deviates from exact generation by {dev:.2e} (max, relative)")
    print(f"{'route':<20}" + "".join(f"{'tok/s N=' + str(n):>16}" for n in grid) + f"{'slope':>8}{'theory':>8}")
    for name, ts in times.items():
        slope = float(np.polyfit(np.log(grid), np.log(ts), 1)[0])
        rates = "".join(f"{n / t:16.0f}" for n, t in zip(grid, ts, strict=True))
        print(f"{name:<20}{rates}{slope:8.2f}{THEORY[name]:8.1f}")
    last = {name: ts[-1] for name, ts in times.items()}
    print(f"ratios at N={grid[-1]} (time / exact): "
          + ", ".join(f"{k} {v / last['stu_exact']:.3g}" for k, v in last.items()))


if __name__ == "__main__":
    main()
