"""The versions, devices and code revision recorded with every run (experiments and training)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_sha() -> str:
    """Short commit hash of the source tree, or "unknown" outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict[str, str | int]:
    """ssmlab/jax versions, backend, devices, process count, float64 status and git revision."""
    import jax

    from . import __version__

    return {
        "ssmlab": __version__,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": ", ".join(str(d) for d in jax.devices()),
        "process_count": jax.process_count(),
        "x64": str(jax.config.jax_enable_x64),
        "git": git_sha(),
    }
