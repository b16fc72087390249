"""Speed and memory of `mmuspec simulate` as guest memory grows.

Each row is one fresh `mmuspec simulate` process (one era, 5.13) on the vdi
workload's shape scaled to a total guest memory, for 10 simulated minutes at
default KSM tuning (pages_to_scan=100, sleep_millisecs=20).  Peak memory is the
process's maximum RSS (GNU time's %M).

    python benchmarks/simulate_speed.py              # 1 .. 64 GiB
    python benchmarks/simulate_speed.py --target     # only 8 VMs x 4 GiB (the target row)
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from gnu_time import run_timed

ROOT = Path(__file__).resolve().parents[1]
BASE = (ROOT / "src" / "mmuspec" / "workloads" / "vdi.toml").read_text(encoding="utf-8")
SIZES = [(1, 1.0), (2, 1.0), (4, 1.0), (8, 1.0), (8, 2.0), (8, 4.0), (8, 8.0), (16, 4.0)]


def workload(vms: int, gib: float) -> str:
    text = re.sub(r"count = \d+", f"count = {vms}", BASE, count=1)
    return re.sub(r"memory_gib = [\d.]+", f"memory_gib = {gib}", text, count=1)


def run(vms: int, gib: float, duration: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"vdi-{vms}x{gib}.toml"
        path.write_text(workload(vms, gib), encoding="utf-8")
        run = run_timed(["simulate", str(path), "--era", "5.13", "--duration", str(duration),
                         "--out", str(Path(tmp) / "out"), "--json"], check=True)
    return run.wall, run.rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", action="store_true", help="only 8 VMs x 4 GiB")
    parser.add_argument("--duration", type=float, default=600.0, help="simulated seconds (default 600)")
    args = parser.parse_args()
    sizes = [(8, 4.0)] if args.target else SIZES
    print("| VMs x GiB | guest memory GiB | pages | simulated s | wall s | x real time | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for vms, gib in sizes:
        wall, rss = run(vms, gib, args.duration)
        pages = int(vms * gib * 262144)
        print(f"| {vms} x {gib:g} | {vms * gib:g} | {pages:,} | {args.duration:g} | {wall:.1f} | "
              f"{args.duration / wall:.1f} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
