"""The command line of the real kernel in the loop: ``mmuspec lab`` and ``mmuspec trace validate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mmuspec.errors import EXIT_FOUND, EXIT_SAFE, EXIT_USAGE, UsageError
from mmuspec.model import ERAS
from mmuspec.staging import staged_dir

LAB_WORKLOADS = ("ksm-merge", "cow-break", "zap", "aging", "memslot")


def add_lab_parser(sub: Any) -> None:
    lab = sub.add_parser(
        "lab", help="run a real KVM guest on this host, trace it, check it against the model, measure costs",
        description="Run WORKLOAD as a real guest on the running kernel (a small VMM on /dev/kvm), record "
        "the kvm, kvmmmu and ksm tracepoints, and report: data integrity as the guest checked it, whether "
        "every page's recorded events are a behaviour of the model of this kernel's era, measured costs "
        "(DIR/costs.toml, for simulate/sweep/reevaluate --costs), and the simulator's prediction of the "
        "same run beside what was measured.  Needs root, /dev/kvm and KSM; it sets KSM and tracefs for the "
        "run and restores them on success, failure, Ctrl-C and a crash of the guest, and unmerges what KSM "
        "merged.  A second run at once refuses.",
        epilog="workloads:\n"
        "  ksm-merge  identical guest pages merged by KSM while the guest reads them\n"
        "  cow-break  the same, then the guest writes the merged pages (COW breaks)\n"
        "  zap        the host MADV_DONTNEEDs guest pages and writes through the hva while the guest\n"
        "             reads and writes them\n"
        "  aging      the host MADV_COLDs and MADV_PAGEOUTs guest memory while the guest uses it\n"
        "  memslot    the host deletes or moves the data memslot under the running guest\n\n"
        "examples:\n  sudo mmuspec lab ksm-merge\n  sudo mmuspec lab zap --vcpus 2 --seconds 5 --out out/zap\n"
        "  sudo mmuspec lab cow-break --json > cow.json\n\n"
        "exit status: 0 integrity held and the trace conforms, 1 it did not, 2 this host cannot run it\n"
        "(one line says what is missing), 130 Ctrl-C (the host is restored first).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    lab.add_argument("workload", choices=LAB_WORKLOADS, metavar="WORKLOAD")
    lab.add_argument("--pages", type=int, default=64, help="guest data pages (default 64, at most 65536)")
    lab.add_argument("--vcpus", type=int, default=1, help="vCPU threads (default 1, at most 16)")
    lab.add_argument("--seconds", type=float, help="run time (default 3-6 s by workload, at most 600)")
    lab.add_argument("--period-us", type=int, help="time between host actions (zap, aging, memslot)")
    lab.add_argument("--pages-to-scan", type=int, default=1000, help="KSM pages_to_scan during the run (default 1000)")
    lab.add_argument("--sleep-millisecs", type=int, default=10, help="KSM sleep_millisecs during the run (default 10)")
    lab.add_argument("--write-after", type=float, help="cow-break: seconds of reads before the writes (default half)")
    lab.add_argument("--seed", type=int, default=1, help="seed of the host actions (default 1)")
    lab.add_argument("--era", choices=list(ERAS), metavar="ERA",
                     help="the model's era (default: the newest preset not newer than the running kernel)")
    lab.add_argument("--out", metavar="DIR", help="where the run's files go (default out/lab-WORKLOAD)")
    lab.add_argument("--json", action="store_true", help="print result.json instead of the report")
    lab.add_argument("--quiet", action="store_true", help="no progress on stderr")


def add_validate_parser(tsub: Any) -> None:
    tv = tsub.add_parser(
        "validate", help="is every page's recorded sequence of events a behaviour of the model of an era?",
        description="Map each event of an ftrace text (trace, trace_pipe, trace-cmd report; .gz/.xz) to the "
        "model's observable steps on a guest page (an unmap by ksmd or by the mm, an SPTE installed, a KSM "
        "merge, an ageing call, a change_pte, a shadow page zapped) and check, page by page, that the "
        "sequence is one the model of ERA can produce, with its threads repeating their work.  Prints how "
        "many sequences are admitted and, for the first that is not, the event and the model states there.",
        epilog="examples:\n  mmuspec trace validate out/lab-ksm-merge/trace.txt --era 6.10\n"
        "  mmuspec trace validate t.txt --era 6.10 --workload zap --hva 0x7f0000000000 --gfn 0x100000 --pages 4096\n\n"
        "A trace written by `mmuspec lab` says in its first line where guest memory is; for another trace\n"
        "--hva, --gfn and --pages say it (without --gfn, SPTE events are left out).  exit status: 0 every\n"
        "sequence admitted, 1 one is not, 2 bad input.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    tv.add_argument("file", metavar="FILE")
    tv.add_argument("--era", required=True, choices=list(ERAS), metavar="ERA")
    tv.add_argument("--workload", choices=LAB_WORKLOADS,
                    help="which host activity the model runs beside the guest (default: the lab header's, else ksm-merge)")
    tv.add_argument("--hva", type=lambda s: int(s, 0), help="host virtual address of guest page 0")
    tv.add_argument("--gfn", type=lambda s: int(s, 0), help="guest frame number of guest page 0")
    tv.add_argument("--pages", type=int, help="how many guest pages")
    tv.add_argument("--json", action="store_true")


def cmd_validate(args: argparse.Namespace) -> int:
    from mmuspec.report.lab import validate_json, verdict_lines
    from mmuspec.traces.conformance import Mapping, read_header, validate
    from mmuspec.traces.page_model import automaton
    from mmuspec.traces.reader import open_trace

    with open_trace(args.file) as stream:
        header, _ = read_header(iter(stream))
    workload = args.workload or _header_value(args.file, "workload") or "ksm-merge"
    mapping = None
    if args.hva is not None or args.gfn is not None or args.pages is not None:
        base = header or Mapping()
        mapping = Mapping(args.hva if args.hva is not None else base.hva,
                          args.gfn if args.gfn is not None else base.gfn,
                          args.pages if args.pages is not None else base.pages, base.vcpu_tids)
    with open_trace(args.file) as stream:
        verdict = validate(stream, automaton(args.era, workload), mapping)
        stream.require_lines()
        if args.json:
            print(json.dumps(validate_json(verdict, args.file), indent=2))
        else:
            print("\n".join(verdict_lines(verdict, args.file)))
        stream.require_whole()  # a cut compressed trace: its prefix was reported, then bad input
    return EXIT_SAFE if verdict.ok else EXIT_FOUND


def _header_value(path: str, key: str) -> str | None:
    from mmuspec.traces.conformance import HEADER
    from mmuspec.traces.reader import open_trace

    with open_trace(path) as stream:
        first = next(iter(stream), "")
    if not first.startswith(HEADER):
        return None
    for part in first.split():
        if part.startswith(f"{key}="):
            return part.split("=", 1)[1]
    return None


def cmd_lab(args: argparse.Namespace) -> int:
    from mmuspec.lab.host import HostUnavailable
    from mmuspec.lab.run import LabOptions, now_utc, run_lab, running_on_terminal
    from mmuspec.report.lab import lab_json, lab_profile, lab_text, timeline_plot

    if not 1 <= args.pages <= 65536 or not 1 <= args.vcpus <= 16 or args.vcpus > args.pages:
        raise UsageError("--pages must be 1..65536 and --vcpus 1..16 and at most --pages")
    if args.seconds is not None and not 0 < args.seconds <= 600:
        raise UsageError("--seconds must be in (0, 600]")
    options = LabOptions(args.workload, args.pages, args.vcpus, args.seconds, args.period_us, args.pages_to_scan,
                         args.sleep_millisecs, args.write_after, seed=args.seed, era=args.era)
    out = args.out or f"out/lab-{args.workload}"
    seconds = options.resolved().seconds or 1.0
    try:
        with staged_dir(out) as staging, _progress(args.workload, seconds, not args.quiet and running_on_terminal()) as tick:
            say = (lambda text: None) if args.quiet or running_on_terminal() else (
                lambda text: print(f"mmuspec lab: {text}", file=sys.stderr))
            result = run_lab(options, staging, tick, say)
            data = lab_json(result)
            (staging / "result.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            (staging / "costs.toml").write_text(lab_profile(result, now_utc()), encoding="utf-8")
            timeline_plot(result, staging / "timeline.png")
    except HostUnavailable as exc:
        print(f"mmuspec lab: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(data, indent=2) if args.json else lab_text(result, Path(out)))
    return EXIT_SAFE if result.ok else EXIT_FOUND


class _progress:
    """A bar of the guest's run time on a terminal; nothing otherwise."""

    def __init__(self, workload: str, seconds: float, enabled: bool) -> None:
        self.enabled, self.seconds, self.workload = enabled, seconds, workload
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn(f"lab {self.workload}"), BarColumn(), TextColumn("{task.completed:.1f}/"
                            f"{self.seconds:g} s"), TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task("run", total=self.seconds)
        return lambda t: self.bar.update(task, completed=t)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
