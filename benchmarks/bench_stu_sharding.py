"""Model-parallel STU: the K x H x H spectral weights sharded over devices with `jax.sharding`, vs one device.

The question of the robustness issue: does sharding the STU's M^phi matrices (output columns split
over a "model" mesh axis; inputs replicated, each device computes its slice of the output
channels, XLA inserts the gathers) pay at large H? The module forces as many host devices as the
machine has cores when it is run on its own (`python -m benchmarks.bench_stu_sharding`), so it
measures on CPU as well as on a multi-accelerator host. Both variants compute the same function,
checked before timing.
"""

from __future__ import annotations

import functools
import os

if __name__ == "__main__":  # standalone: split the host into devices before JAX starts
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={os.cpu_count() or 1}").strip()

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from benchmarks.harness import compare
from ssmlab import STU


def shard_spectral_weights(layer: STU, mesh) -> STU:
    """`layer` with M^phi± [K, H_in, H_out] split over the output channels (mesh axis "model"), rest replicated."""
    split = NamedSharding(mesh, P(None, None, "model"))
    whole = NamedSharding(mesh, P())

    def place(path, x):
        if not eqx.is_array(x):
            return x
        name = jax.tree_util.keystr(path)
        return jax.device_put(x, split if ("m_phi" in name or "m_u" in name) and x.ndim == 3 else whole)

    return jax.tree_util.tree_map_with_path(place, layer)


@eqx.filter_jit
def _forward(layer, u):
    return jax.vmap(layer)(u)


def main(full: bool = False) -> None:
    devices = jax.devices()
    if len(devices) < 2:
        print("bench_stu_sharding: one device only; run `python -m benchmarks.bench_stu_sharding` "
              "(forces one host device per core) or on a multi-accelerator host.")
        return
    mesh = jax.make_mesh((len(devices),), ("model",), axis_types=(jax.sharding.AxisType.Auto,))
    sizes = [(8, 256, 512), (8, 256, 1024)] + ([(8, 1024, 2048)] if full else [])
    for batch, length, width in sizes:
        layer = STU(d_model=width, seq_len=length, num_filters=24, init="normal", key=jr.key(0))
        sharded = shard_spectral_weights(layer, mesh)
        u = jr.normal(jr.key(1), (batch, length, width), layer.m_phi_plus.dtype)
        u_rep = jax.device_put(u, NamedSharding(mesh, P()))
        compare(f"stu_sharded B{batch} L{length} H{width}",
                {"one_device": functools.partial(_forward, layer, u),
                 f"sharded_{len(devices)}": functools.partial(_forward, sharded, u_rep)},
                reference="one_device", repeats=5 if not full else 10,
                check=lambda a, b: float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b))), tol=1e-5,
                params={"devices": len(devices)})


if __name__ == "__main__":
    main()
