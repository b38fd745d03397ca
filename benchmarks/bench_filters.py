"""STU spectral filters: dense `eigh` (top-K subset) against Lanczos on the FFT Hankel matvec.

Both run in float64 on the host. Where dense is feasible the two are timed side by side and
checked to agree (eigenvalues to 1e-12·σ_1); beyond, Lanczos alone is timed, up to
L = 65,536 (quick) or 1,048,576 (full), with its residual max|Zφ − σφ|/σ_1 reported.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ssmlab.core.hankel import hankel_operator, spectral_filters

from .harness import compare


def _eig_err(out, ref) -> float:
    return float(np.max(np.abs(out[0] - ref[0])) / ref[0][0])


def dense_vs_lanczos(L: int, K: int, repeats: int) -> list[dict]:
    """Side-by-side timing (reference: dense) where dense eigh is still feasible."""
    fns = {m: partial(spectral_filters, seq_len=L, num_filters=K, method=m, warn=False)
           for m in ("dense", "lanczos")}
    return compare("filters", fns, reference="dense", check=_eig_err, tol=1e-12, repeats=repeats,
                   params={"L": L, "K": K, "kind": "hankel"})


def lanczos_only(L: int, K: int, repeats: int) -> list[dict]:
    """Lanczos alone at lengths where a dense L x L matrix does not fit; residual in the row."""
    sigma, phi = spectral_filters(seq_len=L, num_filters=K, method="lanczos")
    resid = float(np.abs(hankel_operator(seq_len=L).matmat(phi) - phi * sigma[None, :]).max() / sigma[0])
    fn = partial(spectral_filters, seq_len=L, num_filters=K, method="lanczos", warn=False)
    return compare("filters_large", {"lanczos": fn}, reference="lanczos", repeats=repeats,
                   params={"L": L, "K": K, "residual_over_sigma1": resid,
                           "dense_matrix_GiB": L * L * 8 / 2**30})


def main(full: bool = False) -> None:
    """Print dense vs Lanczos ratios and large-L Lanczos timings (K = 24)."""
    K = 24
    for L in ([256, 512, 1024] if not full else [512, 1024, 2048, 4096, 8192]):
        dense_vs_lanczos(L, K, repeats=3 if L <= 2048 else 1)
    for L in ([65_536] if not full else [16_384, 65_536, 262_144, 1_048_576]):
        lanczos_only(L, K, repeats=2 if L <= 65_536 else 1)


if __name__ == "__main__":
    main()
