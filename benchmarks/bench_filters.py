"""STU spectral filters: dense `eigh`, the Lanczos method and the former ARPACK method, side by side.

All run in float64 on the host. Where dense is feasible the three are timed interleaved and
checked to agree (eigenvalues to 1e-12·σ_1); beyond, "lanczos" (Lanczos with full
reorthogonalisation, stopped at convergence) is timed against "arpack" (scipy `eigsh`, ncv =
2K + 1, the method before issue 17) up to L = 65,536 (quick) or 1,048,576 (full), with each
residual max|Zφ − σφ|/σ_1 in the row. Wall-clock time: the host is shared, so read the ratios.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ssmlab.core.hankel import hankel_operator, spectral_filters

from .harness import compare


def _eig_err(out, ref) -> float:
    return float(np.max(np.abs(out[0] - ref[0])) / ref[0][0])


def _residual(L: int, sigma, phi) -> float:
    return float(np.abs(hankel_operator(seq_len=L).matmat(phi) - phi * sigma[None, :]).max() / sigma[0])


def dense_vs_lanczos(L: int, K: int, repeats: int) -> list[dict]:
    """Side-by-side timing (reference: dense) where dense eigh is still feasible."""
    fns = {m: partial(spectral_filters, seq_len=L, num_filters=K, method=m, warn=False)
           for m in ("dense", "lanczos", "arpack")}
    return compare("filters", fns, reference="dense", check=_eig_err, tol=1e-12, repeats=repeats,
                   params={"L": L, "K": K, "kind": "hankel"})


def lanczos_vs_arpack(L: int, K: int, repeats: int) -> list[dict]:
    """New Lanczos against the former ARPACK run at lengths where a dense L x L matrix does not fit."""
    fns = {m: partial(spectral_filters, seq_len=L, num_filters=K, method=m, warn=False) for m in ("arpack", "lanczos")}
    outs: dict = {}
    rows = compare("filters_large", fns, reference="arpack", check=_eig_err, tol=1e-12, repeats=repeats,
                   params={"L": L, "K": K, "dense_matrix_GiB": L * L * 8 / 2**30}, outputs=outs)
    resid = {m: _residual(L, *outs[m]) for m in fns}
    for r in rows:
        r["residual_over_sigma1"] = resid[r["variant"]]
        print(f"  {r['variant']:<10} residual max|Zφ-σφ|/σ_1 = {resid[r['variant']]:.1e}")
    return rows


def main(full: bool = False) -> None:
    """Print dense / Lanczos / ARPACK ratios and large-L Lanczos vs ARPACK timings (K = 24)."""
    K = 24
    for L in ([256, 512, 1024] if not full else [512, 1024, 2048, 4096, 8192]):
        dense_vs_lanczos(L, K, repeats=3 if L <= 2048 else 1)
    for L in ([65_536] if not full else [16_384, 65_536, 262_144, 1_048_576]):
        lanczos_vs_arpack(L, K, repeats=5 if L <= 65_536 else 1)


if __name__ == "__main__":
    main()
