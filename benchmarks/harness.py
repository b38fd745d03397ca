"""Benchmark harness: interleaved timing of variants in one process, with a correctness check first.

Rules (see the performance spec): every variant is jit-compiled once (compile time recorded
separately), outputs are compared against a reference before any timing row is written,
variants run interleaved (A, B, A, B, ...) so machine drift cancels, and each row reports the
median time, IQR and the ratio to the reference variant measured in the same run.
Rows are printed as a table and appended as JSON lines to `benchmarks/results.jsonl`.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

RESULTS = Path(__file__).with_name("results.jsonl")


def _block(x):
    return jax.tree_util.tree_map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, x)


def compare(case: str, variants: dict[str, Callable[[], object]], *, reference: str, repeats: int = 20,
            check: Callable[[object, object], float] | None = None, tol: float = 1e-6,
            params: dict | None = None, outputs: dict | None = None) -> list[dict]:
    """Time zero-argument callables side by side; return one row per variant with `ratio` to `reference`.

    `outputs`, when given, receives each variant's output of the first (checked) call, so a caller needing
    them (deviations, residuals) does not run the variants again.

    `check(out, ref_out)` returns an error that must be <= `tol` for every variant, else the
    case raises instead of printing timings. Each call is timed by the wall clock and by the
    process CPU time (all threads), and both medians and ratios are reported: on a shared,
    oversubscribed host the CPU-time ratio is the less noisy of the two.
    """
    if reference not in variants:
        raise ValueError(f"reference {reference!r} is not among the variants {list(variants)}.")
    compile_s, outs = {}, {}
    for name, fn in variants.items():
        t0 = time.perf_counter()
        outs[name] = _block(fn())
        compile_s[name] = time.perf_counter() - t0
    if outputs is not None:
        outputs.update(outs)
    errors = {name: (check(out, outs[reference]) if check else 0.0) for name, out in outs.items()}
    bad = {n: e for n, e in errors.items() if not e <= tol}
    if bad:
        raise AssertionError(f"{case}: variants disagree with {reference!r} beyond {tol:g}: {bad}")
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0, c0 = time.perf_counter(), time.process_time()
            _block(fn())
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    ref_med = float(np.median(times[reference]))
    ref_cpu = float(np.median(cpu[reference]))
    rows = []
    for name, ts in times.items():
        med = float(np.median(ts))
        q1, q3 = np.percentile(ts, [25, 75])
        rows.append({"case": case, "variant": name, "t_med_ms": med * 1e3, "t_iqr_ms": float(q3 - q1) * 1e3,
                     "t_compile_s": compile_s[name], "ratio_vs_ref": med / ref_med, "reference": reference,
                     "speedup_vs_ref": ref_med / med, "t_cpu_med_ms": float(np.median(cpu[name])) * 1e3,
                     "speedup_cpu_vs_ref": ref_cpu / max(float(np.median(cpu[name])), 1e-12),
                     "error": errors[name], **(params or {}),
                     "device": str(jax.devices()[0]), "jax": jax.__version__, "machine": platform.machine()})
    _emit(rows)
    return rows


def _emit(rows: list[dict]) -> None:
    for r in rows:
        extra = {k: v for k, v in r.items() if k not in {"case", "variant", "t_med_ms", "t_iqr_ms", "t_compile_s",
                                                        "ratio_vs_ref", "speedup_vs_ref", "reference", "error",
                                                        "device", "jax", "machine", "t_cpu_med_ms",
                                                        "speedup_cpu_vs_ref"}}
        print(f"{r['case']:<22} {r['variant']:<22} {r['t_med_ms']:10.3f} ms  ±{r['t_iqr_ms']:.3f}  "
              f"x{r['speedup_vs_ref']:7.2f} | cpu {r['t_cpu_med_ms']:10.3f} ms x{r['speedup_cpu_vs_ref']:7.2f} "
              f"vs {r['reference']:<14} err {r['error']:.1e}  {extra}")
    with RESULTS.open("a") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
