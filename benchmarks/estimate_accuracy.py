"""How close ``mmuspec check --estimate`` comes to the exhaustive state count.

Prints one row per configuration: the exhaustive count (with the quotients, without
partial-order reduction, as the estimate walks representatives), the estimate from
the default 1000 walks, their ratio, and the seconds each took.  Usage:
``python benchmarks/estimate_accuracy.py``.
"""

from __future__ import annotations

import time

from mmuspec.checking import CheckSpec, Reductions, build_kernel, run_check
from mmuspec.explore.estimate import estimate
from mmuspec.model import load_scenario

CONFIGS = [("ksm-merge", "5.13", 1, 2), ("ksm-merge", "5.13", 2, 2), ("cow-break", "2.6.32", 2, 2),
           ("zap", "6.10", 2, 2), ("aging", "5.13", 2, 2), ("ksm-merge", "glisse-2019", 3, 1), ("zap", "5.13", 3, 2)]


def main() -> None:
    print("| scenario | era | size | states | estimate | ratio | search s | estimate s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, era, vcpus, accesses in CONFIGS:
        spec = CheckSpec(load_scenario(name).scaled(vcpus, accesses), era)
        started = time.perf_counter()
        _, result = run_check(spec, reductions=Reductions(por=False))
        searched = time.perf_counter() - started
        guess = estimate(build_kernel(spec, Reductions()))
        print(f"| {name} | {era} | {vcpus}x{accesses} | {result.states:,} | {guess.states:,} | "
              f"{guess.states / result.states:.2f} | {searched:.2f} | {guess.seconds:.2f} |")


if __name__ == "__main__":
    main()
