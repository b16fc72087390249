"""``mmuspec kernels build|boot|run`` and ``mmuspec repro``: real kernels of other eras under qemu."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from mmuspec.emulate import binaries, boot, kernels, repro, seed
from mmuspec.errors import EXIT_BOUNDED, EXIT_FOUND, EXIT_SAFE, UsageError

KERNELS_EPILOG = """\
examples:
  mmuspec kernels build 6.1 6.12          build both (cached by version, config and patches)
  mmuspec kernels build 6.1 --patch levers --patch revert-319561669a59
  mmuspec kernels boot 6.12 --accel kvm   boot with a hello initramfs; boot time, guest /dev/kvm
  mmuspec kernels run 6.1 seed --out runs/6.1
                                          ksm-merge and cow-break under the emulated kernel's
                                          KVM, with every kvm/kvmmmu/ksm tracepoint
  mmuspec kernels summarize runs/6.1      read that run's data.log again (counts, conformance)

Needs linux-source-6.1 / linux-source-6.12, qemu-system-x86, busybox-static (Debian).
Builds go to ~/.cache/mmuspec (nice -n 19, -j2); nothing here runs in `make test`.
"""

REPRO_EPILOG = """\
examples:
  mmuspec repro --list --json      every reproducer, its kernels, the last outcomes
  mmuspec repro B11                build both kernels if needed, run before and after
  mmuspec repro B14 --side before  only the kernel without the fix
  mmuspec repro B6 --emit DIR      write the harness as a standalone kselftest-style C file

exit status: 0 the test failed before the fix and passed after it; 1 it did not;
4 a run was skipped, did not finish or was not run; 2 bad usage.
"""


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    k = sub.add_parser("kernels", help="build and boot real 6.1 and 6.12 kernels under qemu",
                       description="Build small kernels from Debian's linux-source packages, boot them "
                       "under qemu, and run the lab's workloads inside them.", epilog=KERNELS_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    ksub = k.add_subparsers(dest="kernels_command", metavar="COMMAND")
    b = ksub.add_parser("build", help="build (or find cached) kernels")
    b.add_argument("series", nargs="+", choices=kernels.SERIES)
    b.add_argument("--patch", action="append", default=[], help="a patch from emulate/patches/SERIES")
    b.add_argument("--module", action="append", default=[], help="an external module from emulate/modules")
    b.add_argument("--jobs", type=int, default=2)
    bt = ksub.add_parser("boot", help="boot a built kernel with a hello initramfs")
    bt.add_argument("series", choices=kernels.SERIES)
    r = ksub.add_parser("run", help="run workloads inside a built kernel")
    r.add_argument("series", choices=kernels.SERIES)
    r.add_argument("what", choices=("seed",))
    r.add_argument("--out", type=Path, help="write console, data, traces and summary.json here")
    r.add_argument("--pages", type=int, default=64)
    r.add_argument("--seconds", type=int, default=6)
    sm = ksub.add_parser("summarize", help="analyse again the data.log a seed run kept in its --out folder")
    sm.add_argument("dir", type=Path)
    sm.add_argument("--json", action="store_true")
    for p in (bt, r):
        p.add_argument("--accel", default="auto", choices=boot.ACCELS)
        p.add_argument("--timeout", type=float, default=1200, help="kill qemu after this many seconds")
        p.add_argument("--json", action="store_true")
    rp = sub.add_parser("repro", help="run a corpus bug's harness on kernels with and without its fix",
                        description="Turn a corpus counterexample into a real test: the harness fails on "
                        "the kernel without the fix (reverted, or as shipped) and passes on the kernel with it.",
                        epilog=REPRO_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    rp.add_argument("id", nargs="?", help=f"{', '.join(repro.REPRODUCERS)} (see --list)")
    rp.add_argument("--list", action="store_true", help="list the reproducers and their last outcomes")
    rp.add_argument("--json", action="store_true")
    rp.add_argument("--side", choices=("before", "after", "both"), default="both")
    rp.add_argument("--accel", default="auto", choices=boot.ACCELS)
    rp.add_argument("--emit", type=Path, metavar="DIR", help="write the harness C file and ksft.h to DIR")
    rp.add_argument("--keep", type=Path, metavar="DIR", help="keep each boot's console and data logs here")


def _log(text: str) -> None:
    print(f"mmuspec: {text}", file=sys.stderr, flush=True)


def cmd_kernels(args: argparse.Namespace) -> int:
    if args.kernels_command == "build":
        for series in args.series:
            built = kernels.build(kernels.KernelSpec(series, tuple(args.patch), tuple(args.module)), _log, args.jobs)
            took = "cached" if built.build_seconds is None else \
                f"{'incremental ' if built.incremental else ''}build {built.build_seconds:.0f} s"
            print(f"{built.spec.label()}: {built.version} in {built.path} ({took})")
        return EXIT_SAFE
    if args.kernels_command not in ("boot", "run", "summarize"):
        raise UsageError("mmuspec kernels: give build, boot, run or summarize (mmuspec kernels --help)")
    if args.kernels_command == "summarize":
        return _seed_summary(args.dir, None, args.json)
    spec = kernels.KernelSpec(args.series)
    built = kernels.cached(spec) or kernels.build(spec, _log)
    if args.kernels_command == "boot":
        job = boot.Job("hello", "section hello sh -c 'cat /proc/version; ls -l /dev/kvm 2>&1; "
                       "grep -c . /proc/cpuinfo >/dev/null; grep -o -w -E \"svm|npt\" /proc/cpuinfo | sort -u'\n")
        result = boot.boot(built, [job], {}, accel=args.accel, timeout=args.timeout, memory_mb=512)
        summary = {"kernel": result.output.kernel, "accel": result.accel, "wall_seconds": result.wall_seconds,
                   "boot_uptime": result.output.boot_uptime, "halt_uptime": result.output.halt_uptime,
                   "guest_kvm": result.output.facts.get("guest_kvm"), "timed_out": result.timed_out,
                   "kvm_messages": [x.strip() for x in result.console.splitlines() if "kvm" in x.lower()][:10]}
        print(json.dumps(summary, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in summary.items()))
        return EXIT_SAFE if result.output.complete else EXIT_BOUNDED
    job = seed.seed_job(pages=args.pages, seconds=args.seconds)
    bins = binaries.initramfs_binaries([], vmm=True)
    out = args.out or Path(tempfile.mkdtemp(prefix="mmuspec-seed-"))
    result = boot.boot(built, [job], bins, accel=args.accel, timeout=args.timeout, memory_mb=1024, keep=out)
    return _seed_summary(out, {"accel": result.accel, "wall_seconds": result.wall_seconds,
                               "timed_out": result.timed_out}, args.json)


def _seed_summary(folder: Path, boot_facts: dict[str, Any] | None, as_json: bool) -> int:
    """Analyse a seed boot's data.log in ``folder``; writes the per-workload files and summary.json."""
    data = folder / "data.log"
    if not data.exists():
        raise UsageError(f"{data}: no such file (give the --out folder of `mmuspec kernels run`)")
    summary_path = folder / "summary.json"
    if boot_facts is None and summary_path.exists():  # keep what the boot measured
        old = json.loads(summary_path.read_text())
        boot_facts = {k: old[k] for k in ("accel", "wall_seconds", "timed_out") if k in old}
    summary = {**(boot_facts or {}), **seed.analyse(data.read_text(errors="replace"), folder)}
    summary_path.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1) if as_json else seed.report(summary))
    return EXIT_SAFE if any(w["vmm_status"] == "ok" for w in summary["workloads"]) else EXIT_BOUNDED


def _run_side(r: repro.Reproducer, side: str, accel: str, keep: Path | None) -> dict[str, Any]:
    spec = r.before if side == "before" else r.after
    built = kernels.cached(spec) or kernels.build(spec, _log)
    bins = binaries.initramfs_binaries([r.harness], vmm=False)
    result = boot.boot(built, [r.job()], bins, accel=accel, timeout=r.timeout, append=r.append,
                       keep=keep / f"{r.id}-{side}" if keep else None)
    got = repro.outcome(result.output, result.console, r.id, result.timed_out)
    entry: dict[str, Any] = {"id": r.id, "side": side, "kernel": spec.label(), "version": built.version,
             "accel": result.accel, "verdict": got.verdict, "reason": got.reason, "attempts": got.attempts,
             "harness_seconds": got.seconds, "wall_seconds": result.wall_seconds, "tap": got.tap}
    repro.record(entry)
    return entry


def cmd_repro(args: argparse.Namespace) -> int:
    if args.list:
        rows = repro.listing(repro.load_results())
        if args.json:
            print(json.dumps({"schema": "mmuspec.repro-list/1", "reproducers": rows}, indent=1))
        else:
            for row in rows:
                last = {s: (row[s]["last"] or {}).get("verdict", "not run") for s in ("before", "after")}
                print(f"{row['id']:7} {row['before']['kernel']:45} {last['before']:8} "
                      f"{row['after']['kernel']:34} {last['after']:8} {row['title']}")
        return EXIT_SAFE
    if not args.id:
        raise UsageError("mmuspec repro: give a reproducer id or --list (mmuspec repro --help)")
    r = repro.find(args.id)
    if args.emit:
        args.emit.mkdir(parents=True, exist_ok=True)
        (args.emit / f"{r.harness}.c").write_text(binaries.harness_source(r.harness))
        (args.emit / binaries.HEADER).write_text(binaries.header_source())
        print(f"wrote {args.emit / (r.harness + '.c')} and {args.emit / binaries.HEADER}")
        return EXIT_SAFE
    if shutil.which("qemu-system-x86_64") is None:
        raise UsageError("qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
    sides = ("before", "after") if args.side == "both" else (args.side,)
    entries = [_run_side(r, side, args.accel, args.keep) for side in sides]
    if args.json:
        print(json.dumps({"schema": "mmuspec.repro/1", "id": r.id, "runs": entries}, indent=1))
    else:
        for e in entries:
            secs = f", {e['harness_seconds']} s" if e["harness_seconds"] is not None else ""
            print(f"{r.id} {e['side']:6} {e['kernel']}: {str(e['verdict']).upper()} "
                  f"(attempts {e['attempts']}{secs}; {e['accel']}, boot {e['wall_seconds']} s) {e['reason']}")
    verdicts = {str(e["side"]): e["verdict"] for e in entries}
    expected = {"before": "fail", "after": "pass"}
    if any(v in ("skip", "error") for v in verdicts.values()):
        return EXIT_BOUNDED
    return EXIT_SAFE if all(verdicts[s] == expected[s] for s in verdicts) else EXIT_FOUND
