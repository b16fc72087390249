"""Time of `mmuspec trace validate` on a trace of a million page events (target: 10 s).

The trace is a recorded lab run of `zap` (tests/lab/data/zap: the host MADV_DONTNEEDs guest
pages while the guest refaults them) repeated end to end with its timestamps shifted, so
every line is a real 6.18 line and every page keeps unmapping and refaulting; the checker
runs in a fresh process, as a user runs it, and must still admit every page.  For scale:
TLA+ trace validation, the nearest published anchor, spends 7-16 s on traces of 10^2-10^3
events.

    python benchmarks/validate_speed.py                  # 10^6 events, then 3x10^6
    python benchmarks/validate_speed.py --events 200000
"""

from __future__ import annotations

import argparse
import json
import lzma
import re
import sys
import tempfile
from pathlib import Path

from gnu_time import run_timed

from mmuspec.traces.conformance import Mapping

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "tests" / "lab" / "data" / "zap" / "trace.txt.xz"
TS = re.compile(r"(\s)(\d+\.\d{6}):")


def _page(line: str, hva: int, gfn: int) -> int:
    if "kvm_unmap_hva_range" in line:
        return (int(line.split("unmap range: ")[1].split(" --")[0], 16) - hva) // 4096
    return int(line.split("gfn ")[1].split()[0], 16) - gfn


def write_trace(path: Path, events: int) -> int:
    """Repeat the recorded run's body until it holds ``events`` page events; returns them."""
    lines = lzma.decompress(RECORDED.read_bytes()).decode().splitlines(keepends=True)
    lab = Mapping.from_header(lines[0])
    assert lab is not None and lab.hva is not None and lab.gfn is not None and lab.pages is not None, RECORDED
    hva, gfn, pages = lab.hva, lab.gfn, lab.pages
    header = [line for line in lines if line.startswith("#")]
    start = next(i for i, line in enumerate(lines) if "mmuspec-lab start" in line)
    end = next(i for i, line in enumerate(lines) if "mmuspec-lab end" in line)
    body = [line for line in lines[start + 1:end] if "kvm_unmap_hva_range" in line or "kvm_mmu_spte_requested" in line]
    # Rounds after the first leave out each page's first touch (a map before any unmap of
    # it): its SPTE is still there from the round before, so the guest would not fault.
    unmapped: set[int] = set()
    again = []
    for line in body:
        page = _page(line, hva, gfn)
        if "kvm_unmap_hva_range" in line:
            unmapped.add(page)
        if "kvm_unmap_hva_range" in line or page in unmapped:
            again.append(line)
    first = float(TS.search(body[0]).group(2))  # type: ignore[union-attr]
    span = float(TS.search(body[-1]).group(2)) - first + 0.001  # type: ignore[union-attr]
    written = 0
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(header)
        out.write(lines[start])
        round_ = 0
        while written < events:
            shift = round_ * span
            chunk = body if round_ == 0 else again
            out.writelines(TS.sub(lambda m, s=shift: f"{m.group(1)}{float(m.group(2)) + s:.6f}:", line) for line in chunk)
            written += sum(0 <= _page(line, hva, gfn) < pages for line in chunk)
            round_ += 1
        end_ts = TS.search(lines[end]).group(2)  # type: ignore[union-attr]
        out.write(lines[end].replace(end_ts, f"{float(end_ts) + round_ * span:.6f}"))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 3_000_000])
    args = parser.parse_args()
    # CPU time beside wall time: on a shared machine the wall time is mostly waiting for a core.
    print("| page events | trace MB | wall s | CPU s | events per CPU s | peak RSS MB | admitted |")
    print("|---|---|---|---|---|---|---|")
    for n in args.events:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "zap-repeated.txt"
            write_trace(path, n)
            mb = path.stat().st_size / 2**20
            run = run_timed(["trace", "validate", str(path), "--era", "6.18", "--json"])
        if run.proc.returncode not in (0, 1):
            sys.exit(f"validate failed ({run.proc.returncode}): {run.proc.stderr.strip()}")
        data = json.loads(run.proc.stdout)
        wall, cpu, rss = run.wall, run.cpu_seconds, run.rss_mb
        print(f"| {data['events']:,} | {mb:.0f} | {wall:.1f} | {cpu:.1f} | {data['events'] / cpu:,.0f} | {rss:.0f} | "
              f"{data['admitted']} of {data['pages']} |", flush=True)


if __name__ == "__main__":
    main()
