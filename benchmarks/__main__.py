"""Run every benchmark module (`python -m benchmarks [--only NAME] [--full]`).

Each `benchmarks/bench_*.py` defines `main(full: bool = False)` and prints, for each case, the
time of each variant and its ratio to a reference measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path


def main() -> None:
    """Discover and run the benchmark modules."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", help="run only bench_<NAME> (repeatable)")
    parser.add_argument("--full", action="store_true", help="larger sizes (minutes; GPU-sized where possible)")
    args = parser.parse_args()
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    for name in names:
        if args.only and name.removeprefix("bench_") not in args.only and name not in args.only:
            continue
        print(f"== {name} ==")
        importlib.import_module(f"benchmarks.{name}").main(full=args.full)


if __name__ == "__main__":
    main()
