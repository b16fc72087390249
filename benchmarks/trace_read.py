"""Throughput and memory of `mmuspec trace stats` on a large trace.

Writes a synthetic trace of the requested size (repeating the published line
formats, with advancing timestamps and gfns), then reads it with `mmuspec trace
stats` in a fresh process and prints lines/s, MB/s and peak RSS (GNU time's %M):
the reader streams, so peak memory should not grow with the trace.

    python benchmarks/trace_read.py                 # 256 MB, then 1 GB
    python benchmarks/trace_read.py --sizes 64
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from gnu_time import run_timed

LINES = [
    " CPU {v}/KVM-99536{v} [00{v}] d.... {t:.6f}: kvm_exit: vcpu {v} reason EPT_VIOLATION rip 0xffffffff81a0b2c4 "
    "info1 0x0000000000000181 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000\n",
    " CPU {v}/KVM-99536{v} [00{v}] d.... {t:.6f}: kvm_page_fault: vcpu {v} rip 0xffffffff81a0b2c4 "
    "address 0x{gpa:016x} error_code 0x181\n",
    " CPU {v}/KVM-99536{v} [00{v}] d.... {t:.6f}: kvm_tdp_mmu_spte_changed: as id 0 gfn {gfn:x} level 1 "
    "old_spte 0 new_spte 1f2e3d005\n",
    "            ksmd-61     [001] ..... {t:.6f}: kvm_unmap_hva_range: mmu notifier unmap range: "
    "0x00007f1c2a400000 -- 0x00007f1c2a401000\n",
    "            ksmd-61     [001] ..... {t:.6f}: ksm_merge_with_ksm_page: ksm pfn 2044477 rmap_item "
    "00000000fd98c937 mm 000000004a7b2c11 error 0\n",
]


def write_trace(path: Path, size: int) -> int:
    written = lines = 0
    t = 1000.0
    with open(path, "w", encoding="utf-8") as handle:
        while written < size:
            chunk = []
            for i in range(5000):
                t += 0.000001
                gfn = (lines + i) % 1_000_000
                chunk.append(LINES[i % len(LINES)].format(v=i % 4, t=t, gpa=gfn << 12, gfn=gfn))
            text = "".join(chunk)
            handle.write(text)
            written += len(text)
            lines += len(chunk)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024], help="trace sizes in MB")
    args = parser.parse_args()
    print("| trace MB | lines | wall s | lines/s | MB/s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for mb in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "big.txt"
            lines = write_trace(path, mb * 2**20)
            run = run_timed(["trace", "stats", str(path), "--json"], check=True)
        wall, rss = run.wall, run.rss_mb
        print(f"| {mb} | {lines:,} | {wall:.1f} | {lines / wall:,.0f} | {mb / wall:.1f} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
