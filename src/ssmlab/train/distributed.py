"""Multi-process start-up: where process 0 listens, how many processes there are, and which one this is.

One training run = N processes (one per host, or several on one machine), each running the same
`ssmlab train --distributed ...` command. `initialize_distributed` calls
`jax.distributed.initialize` once, before any JAX computation, with the settings read here:

* `SSMLAB_COORDINATOR` = "host:port" of process 0 (JAX's own `JAX_COORDINATOR_ADDRESS` also works),
* `SSMLAB_NUM_PROCESSES` = N,
* `SSMLAB_PROCESS_ID` = 0 .. N-1,
* `SSMLAB_INIT_TIMEOUT` = seconds to wait for all N processes to connect (default 300).

Unset values are left to JAX's cluster auto-detection (SLURM: `SLURM_NTASKS`, `SLURM_PROCID` and the
step's node list; also Open MPI, Kubernetes, Cloud TPU). On CPU the cross-process collectives use
gloo (`jax_cpu_collectives_implementation`). A coordinator on a loopback address (127.0.0.1,
localhost) binds to 127.0.0.1 only, so a one-machine run opens no port on other interfaces.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import jax

ENV_FLAG = "SSMLAB_DISTRIBUTED"
ENV_COORDINATOR = "SSMLAB_COORDINATOR"
ENV_NUM_PROCESSES = "SSMLAB_NUM_PROCESSES"
ENV_PROCESS_ID = "SSMLAB_PROCESS_ID"
ENV_INIT_TIMEOUT = "SSMLAB_INIT_TIMEOUT"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def distributed_requested(flag: bool = False, environ: Mapping[str, str] = os.environ) -> bool:
    """True when multi-process start-up was asked for by flag or by SSMLAB_DISTRIBUTED=1."""
    return flag or environ.get(ENV_FLAG, "0").lower() in ("1", "true", "yes")


def _int_env(environ: Mapping[str, str], name: str, low: int) -> int | None:
    text = environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low:
        raise ValueError(f"{name}={text!r} must be an integer >= {low}; fix or unset the environment variable.")
    return value


def _split_address(address: str, name: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name}={address!r} must be host:port of process 0 (e.g. 127.0.0.1:12355 or "
                         "node001:12355).")
    return host, int(port)


def launch_settings(environ: Mapping[str, str] = os.environ) -> dict:
    """Keyword arguments for `jax.distributed.initialize` from the SSMLAB_* (and JAX_*) environment.

    Keys that are not set are left out, so JAX auto-detects them (SLURM and other clusters).
    Raises ValueError naming the variable when a value is malformed or out of range.
    """
    kwargs: dict = {"initialization_timeout": _int_env(environ, ENV_INIT_TIMEOUT, 1) or 300}
    name = ENV_COORDINATOR if environ.get(ENV_COORDINATOR) else "JAX_COORDINATOR_ADDRESS"
    address = environ.get(name, "").strip()
    if address:
        host, port = _split_address(address, name)
        kwargs["coordinator_address"] = address
        if host in LOOPBACK and not environ.get("JAX_COORDINATOR_BIND_ADDRESS"):
            kwargs["coordinator_bind_address"] = f"127.0.0.1:{port}"
    num = _int_env(environ, ENV_NUM_PROCESSES, 1)
    pid = _int_env(environ, ENV_PROCESS_ID, 0)
    if num is not None:
        kwargs["num_processes"] = num
    if pid is not None:
        kwargs["process_id"] = pid
    if num is not None and pid is not None and pid >= num:
        raise ValueError(f"{ENV_PROCESS_ID}={pid} must be < {ENV_NUM_PROCESSES}={num} (ids run 0..{num - 1}).")
    return kwargs


def initialize_distributed(flag: bool = False) -> bool:
    """Call `jax.distributed.initialize` once if requested (flag or SSMLAB_DISTRIBUTED=1); return whether it ran.

    A second call in the same process (e.g. two runs in one script) does nothing.
    """
    if not distributed_requested(flag):
        return False
    if jax.distributed.is_initialized():
        return True
    kwargs = launch_settings()
    if jax.config.jax_cpu_collectives_implementation is None:  # JAX < 0.5 has no CPU collectives by default
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(**kwargs)
    except ValueError as err:  # JAX found neither settings nor a known cluster
        raise ValueError(f"multi-process start-up failed ({err}): set {ENV_COORDINATOR}=host:port of process 0, "
                         f"{ENV_NUM_PROCESSES} and {ENV_PROCESS_ID} on every process, or launch under SLURM "
                         "(srun); see docs/distributed.md.") from err
    return True

