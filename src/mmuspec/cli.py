"""The ``mmuspec`` command line."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mmuspec.single_blas_thread  # noqa: F401  (first: before anything imports numpy)
from mmuspec import __version__, cli_kernels, cli_lab, cli_review, ctrl_c, failures
from mmuspec.api import finish
from mmuspec.checking import NO_REDUCTIONS, CheckSpec, Reductions, run_check, run_matrix
from mmuspec.cliparser import Parser, add_everywhere
from mmuspec.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from mmuspec.explore.cluster import check_reachable, default_workers
from mmuspec.model import (
    DEFAULT_ERA,
    ERAS,
    EVENTS,
    SWITCHES,
    Variant,
    builtin_names,
    era_config,
    load_scenario,
    load_variant,
    parse_assignments,
)
from mmuspec.model.registry import FUNCTIONS, STEPS
from mmuspec.model.scenario import scenario_names
from mmuspec.report.check_report import exit_status, trace_file
from mmuspec.report.matrix import LEGEND, matrix_text
from mmuspec.report.progress import job_progress, search_progress, simulation_progress
from mmuspec.report.trace_text import format_trace, trace_lines
from mmuspec.staging import staged_dir
from mmuspec.suggest import check_builtin, did_you_mean
from mmuspec.wording import counted

ARCHES = [str(c) for c in SWITCHES["arch"].choices]
# The eras of the change_pte story, which the matrix shows unless told otherwise; the
# others exist for the real-bugs corpus (mmuspec bugs).
MATRIX_ERAS = ("2.6.32", "3.7", "5.13", "6.10", "glisse-2019")

CHECK_EPILOG = """\
examples:
  mmuspec check ksm-merge                         the seed's era (5.13) on x86
  mmuspec check ksm-merge --era 2.6.32 --set kvm.change_pte=none --set mm.change_pte_fallback=none
                                                  2.6.32 with no notification at all: finds the race
  mmuspec check seq-wrap --era 6.1                a vCPU that can never finish: a lasso trace
  mmuspec check cow-break --era 5.13 --arch arm64 --vcpus 2 --accesses 3
  mmuspec check zap --set kvm.fault_retry_checks=seq_only --trace-out race.json
  mmuspec replay race.json                        re-run the saved counterexample
  mmuspec check ksm-merge --variant examples/variants/prefetch_in_change_pte.py
  mmuspec check --matrix                          every scenario x era x arch
  mmuspec check examples/expect/zap.toml          also judge the file's [expect] table
  mmuspec check ksm-merge --coverage              steps fired, steps never enabled, switches exercised
  mmuspec check ksm-merge --vcpus 3 --smoke 5 --format tap
                                                  a 5-second pre-commit check, as kselftest TAP

exit status:
  0    every property holds in every interleaving and no WARN fired (a proof);
       with an [expect] table for the era: every expectation holds
  1    a property was violated or a WARN fired (every one is reported);
       with an [expect] table for the era: an expectation does not hold
  2    bad usage or input, or a --cluster that cannot be reached
  3    an internal error in mmuspec (mmuspec --debug ... shows the traceback)
  4    nothing found, but the search was bounded (--max-states, --max-depth,
       --max-memory, --preemptions, --smoke) or random (--random): not a proof
  5    the environment failed: a worker process was killed or memory ran out
       (the figures reached are said; with --checkpoint, the last checkpoint is kept)
  130  interrupted by Ctrl-C: the figures so far are printed and, with
       --checkpoint, a final checkpoint is written (--resume continues it)
  141  stdout was closed before the report was written (| head): status unknown

SCENARIO is a built-in name (mmuspec scenarios) or a path to a TOML file.
Switches: mmuspec switches.  Eras: mmuspec eras.  The --json object is
documented field by field in docs/json.md (schema "mmuspec.check/1").
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="mmuspec",
        description="An executable specification of the Linux MMU-notifier protocol between the "
        "primary MMU, KVM's secondary MMU and KSM, across kernel history, with an exhaustive "
        "interleaving checker.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser(
        "check",
        help="explore every interleaving of a scenario and check the properties",
        description="Explore every interleaving of a scenario's threads under one kernel era and "
        "report whether data_integrity and no_use_after_free hold, whether the era's kernel "
        "assertions fire, and which observations are reachable; a violation comes with its "
        "shortest trace.",
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("scenario", nargs="?", metavar="SCENARIO", help="built-in scenario name or TOML path")
    check.add_argument("--era", default=DEFAULT_ERA, choices=list(ERAS), metavar="ERA",
                       help=f"kernel era preset: {', '.join(ERAS)} (default {DEFAULT_ERA})")
    check.add_argument("--arch", choices=ARCHES, help="shorthand for --set arch=ARCH")
    check.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                       help="override one switch of the era (repeatable; see 'mmuspec switches')")
    check.add_argument("--variant", metavar="FILE.py", help="a Python file replacing named model steps")
    check.add_argument("--vcpus", type=int, metavar="N", help="number of vCPUs (default: the scenario's, else 1)")
    check.add_argument("--accesses", type=int, metavar="N",
                       help="guest accesses per vCPU (default: the scenario's, else 2)")
    check.add_argument("--subscriber", choices=("kvm", "hmm", "both"),
                       help="which secondary MMUs subscribe, in a scenario that declares KVM and a device "
                       "mirror (kvm-and-device): KVM, the device (mmu_interval_notifier), or both "
                       "(default: the scenario's); with --matrix, for the scenarios that declare both")
    check.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    check.add_argument("--first", action="store_true",
                       help="stop at the first violation (fastest verdict; reachability left undetermined)")
    search = check.add_argument_group(
        "search", "Exhaustive BFS by default.  Bounded and random searches are not proofs; they say what they covered.")
    search.add_argument("--reduce", default="symmetry,seq,values,por", metavar="LIST",
                        help="reductions that keep every verdict: symmetry (interchangeable vCPUs), seq "
                        "(mmu_notifier_seq up to equality with snapshots), values (data values up to renaming), "
                        "por (partial-order reduction: persistent sets from the steps' declared footprints; "
                        "an observation's witness is then the shortest among the interleavings kept), or none "
                        "(default: symmetry,seq,values,por)")
    search.add_argument("--exact", action="store_true", help="keep whole states instead of 64-bit fingerprints")
    search.add_argument("--max-states", type=int, metavar="N", help="stop after N states")
    search.add_argument("--max-depth", type=int, metavar="D", help="explore executions of at most D steps")
    search.add_argument("--max-memory", type=byte_size, metavar="SIZE",
                        help="stop cleanly (exit 4, with the figures reached; with --checkpoint, a final one to "
                        "--resume) before this process's resident memory would pass SIZE (e.g. 4G), counting the "
                        "next doubling of its tables; worker processes are not counted")
    search.add_argument("--preemptions", type=int, metavar="K",
                        help="explore only executions with at most K preemptions (context bounding)")
    search.add_argument("--random", type=int, metavar="N", dest="walks",
                        help="run N random walks instead (each replayable; --max-depth bounds them, default 200)")
    search.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the random walks (default 0)")
    search.add_argument("--workers", type=int, metavar="N",
                        help="local worker processes (same verdict and states as 1; default: the compiled core "
                        "searches in this process, the interpreter on all cores)")
    search.add_argument("--threads", type=int, default=1, metavar="N",
                        help="threads of the compiled core's search in this process (same states, counts and "
                        "witnesses as 1; default 1)")
    search.add_argument("--table-memory", type=byte_size, metavar="SIZE",
                        help="a fixed visited set of SIZE bytes (e.g. 12G) with 8-byte entries, the frontier and "
                        "parent links in files under $TMPDIR: the compiled core's biggest searches")
    search.add_argument("--partitions", type=int, metavar="N",
                        help="split the visited set and the frontier by hash across N actors: Dask's on N local "
                        "processes or on --cluster tcp://..., Ray's on --cluster ray://HOST:PORT, ray:auto or "
                        "ray:local (a local Ray of N processes) (same states and counts; bounds apply per level)")
    search.add_argument("--engine", choices=("auto", "compiled", "interpreted"), default="auto",
                        help="auto (default): the compiled core (the model translated to C and built with the "
                        "system compiler, cached) where it can run the search, else the interpreter; the output "
                        "says which ran")
    search.add_argument("--cluster", metavar="ADDRESS",
                        help="run on an existing Dask scheduler (tcp://host:8786) or Ray cluster (ray://host:10001, "
                        "ray:auto), or on a Ray started for this command (ray:local); with --random, a swarm of walks")
    search.add_argument("--checkpoint", metavar="FILE", help="save the search to FILE every --checkpoint-every seconds")
    search.add_argument("--checkpoint-every", type=float, default=60.0, metavar="S", help="default 60")
    search.add_argument("--resume", metavar="FILE", help="continue the search saved in FILE")
    search.add_argument("--minimize", action="store_true",
                        help="shrink counterexamples: drop steps they do not need, prefer fewer thread switches")
    check.add_argument("--trace-out", metavar="FILE.json",
                       help="save the counterexample (or first WARN) for 'mmuspec replay'")
    check.add_argument("--witnesses", action="store_true", help="also print a witness trace for every reachable observation")
    check.add_argument("--trace-format", choices=("text", "ftrace"), default="text",
                       help="print counterexamples as mmuspec text (default) or as the kernel's tracepoint lines")
    check.add_argument("--matrix", action="store_true", help="check every scenario x era x arch and print a table")
    check.add_argument("--eras", metavar="E1,E2",
                       help="with --matrix: the eras, or all (default: the change_pte story, "
                       + ", ".join(MATRIX_ERAS) + ")")
    check.add_argument("--arches", metavar="A1,A2", help="with --matrix: the arches (default all)")
    check.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    cli_review.add_check_options(check)

    replay = sub.add_parser("replay", help="re-run a trace saved by check --trace-out",
                            description="Rebuild the model a trace was found in and re-execute the trace step "
                            "by step; exit 1 when it reaches the same violation or warning again.")
    replay.add_argument("trace", metavar="FILE.json")
    replay.add_argument("--json", action="store_true", help="print the replayed trace as JSON")
    replay.add_argument("--variant", metavar="FILE.py",
                        help="the variant the trace was found with (checked against the hash the trace records)")
    replay.add_argument("--trust-embedded-variant", action="store_true",
                        help="run the variant source embedded in the trace file (only for a file you trust)")

    simulate = sub.add_parser(
        "simulate",
        help="simulate a VM fleet with KSM under several eras and measure exits, sharing and costs",
        description="Simulate a workload (VMs, their memory, guest page touches, KSM) under each era "
        "and print the eras side by side: VM exits by cause, change_pte calls, zaps, COW breaks, KSM's "
        "counters, guest time lost and host CPU.  What each era does to a page comes from the model.",
        epilog="examples:\n  mmuspec simulate vdi --out out/vdi\n"
        "  mmuspec simulate ltp-ksm02 --era 5.13 --era glisse-2019 --arch arm64 --out out/ksm02\n"
        "  mmuspec simulate my-fleet.toml --duration 120 --seed 7 --out out/fleet\n\n"
        "WORKLOAD is a built-in name (mmuspec workloads) or a TOML path.  Writes DIR/results.json,\n"
        "DIR/memory_saved.png and DIR/exits_per_second.png (DIR and its parents are created at the\n"
        "end); nothing is written when the run fails or is interrupted.  Progress goes to stderr: a\n"
        "bar with the rate and time left on a terminal, a line per phase otherwise.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulate.add_argument("workload", metavar="WORKLOAD", nargs="?",
                          help="a built-in workload or a TOML file; with --from-host/--from-trace, the base "
                               "for what they do not show (default vdi)")
    simulate.add_argument("--from-host", nargs="?", const="/", metavar="ROOT",
                          help="build the workload from this host: its VMs (kvm-vm and kvm-vcpu file "
                               "descriptors in /proc), their memory and KSM's settings and counters; ROOT "
                               "reads a recorded copy of /proc and /sys instead of /")
    simulate.add_argument("--from-trace", metavar="FILE",
                          help="build the workload from a recorded trace: its VMs and vCPUs, fault rate, "
                               "write share and KSM merge rate")
    simulate.add_argument("--era", action="append", choices=list(ERAS), metavar="ERA",
                          help="an era to simulate (repeatable; default all)")
    simulate.add_argument("--arch", choices=ARCHES, help="shorthand for --set arch=ARCH")
    simulate.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                          help="override a switch in every era simulated")
    simulate.add_argument("--variant", metavar="FILE.py",
                          help="also simulate each era with this variant (a proposed patch), as ERA+NAME (NAME: the file name without .py)")
    simulate.add_argument("--seed", type=int, help="random seed (default: the workload's)")
    simulate.add_argument("--duration", type=float, metavar="SECONDS", help="simulated time (default: the workload's)")
    simulate.add_argument("--out", required=True, metavar="DIR", help="where results.json and the plots go")
    simulate.add_argument("--json", action="store_true", help="print results.json instead of the table")
    simulate.add_argument("--plot-exits", choices=("total", "by-cause"), default="total",
                          help="exits_per_second.png: all exits (total, the default) or a panel per cause (by-cause)")
    simulate.add_argument("--log", action="store_true",
                          help="plot exits per second on a log scale (default: only where a spike, such as "
                               "a boot, is 20x the median and would hide the rest)")
    simulate.add_argument("--quiet", action="store_true", help="no progress on stderr")
    simulate.add_argument("--costs", action="append", default=[], metavar="FILE.toml",
                          help="a cost profile measured by `mmuspec lab` (repeatable; later files win)")

    sweep = sub.add_parser(
        "sweep",
        help="simulate a workload over a grid of parameters",
        description="Run `simulate` at every point of a parameter grid (and every era) and write a "
        "table (DIR/sweep.csv) and heat maps.  Points run on local processes, or on a Dask/Ray cluster.",
        epilog="example:\n  mmuspec sweep vdi --grid 'ksm.pages_to_scan=100,1000,4000' "
        "--grid 'access.write_fraction=0.05,0.2' --era 5.13 --era glisse-2019 --out out/sweep\n\n"
        "grid names: ksm.pages_to_scan, ksm.sleep_millisecs, ksm.max_page_sharing, vms.count, vms.vcpus,\n"
        "vms.memory_gib, content.zero|shared|duplicate, access.rate|write_fraction|working_set|zipf, costs.*",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("workload", metavar="WORKLOAD")
    sweep.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...", help="a parameter and its values")
    sweep.add_argument("--era", action="append", choices=list(ERAS), metavar="ERA", help="default 5.13 and glisse-2019")
    sweep.add_argument("--arch", choices=ARCHES)
    sweep.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE")
    sweep.add_argument("--seed", type=int)
    sweep.add_argument("--seeds", type=int, default=1, metavar="N",
                       help="run every point with N seeds from --seed on and show their spread (default 1)")
    sweep.add_argument("--duration", type=float, metavar="SECONDS")
    sweep.add_argument("--workers", type=int, metavar="N", help="local processes (default: all cores)")
    sweep.add_argument("--cluster", metavar="ADDRESS",
                       help="an existing Dask (tcp://...) or Ray (ray://..., ray:auto) cluster, or ray:local")
    sweep.add_argument("--out", required=True, metavar="DIR",
                       help="where sweep.csv and the heat maps go (created with its parents at the end)")
    sweep.add_argument("--quiet", action="store_true", help="no progress (a bar with the time left, or a line per point)")
    sweep.add_argument("--costs", action="append", default=[], metavar="FILE.toml",
                       help="a cost profile measured by `mmuspec lab` (repeatable; later files win)")

    reeval = sub.add_parser("reevaluate", help="write the change_pte reevaluation report (make reevaluation)",
                            description="Simulate every ready workload in the eras with a dead, absent and "
                            "working change_pte and write DIR/reevaluation.md with its plots.")
    reeval.add_argument("--out", default="reports", metavar="DIR", help="default: reports")
    reeval.add_argument("--duration", type=float, metavar="SECONDS", help="cut every workload to this long")
    reeval.add_argument("--seed", type=int)
    reeval.add_argument("--costs", action="append", default=[], metavar="FILE.toml",
                        help="a cost profile measured by `mmuspec lab`; the report says which values it measured")

    trace = sub.add_parser("trace", help="read kernel traces: stats, and what-if per era",
                           description="Read ftrace trace/trace_pipe text, `trace-cmd report` or `perf script` "
                           "output (gzip and xz too) and report on the MMU-notifier protocol.")
    tsub = trace.add_subparsers(dest="trace_command", metavar="COMMAND")
    tstats = tsub.add_parser(
        "stats", help="events, exits by reason, fault kinds, notifier-induced refaults, KSM, per vCPU and window",
        description="Count what a trace shows of the notifier protocol.  Unknown events are counted and "
        "skipped; malformed lines are reported with their number and never stop the run.",
        epilog="examples:\n  trace-cmd record -e kvm -e kvmmmu -e ksm ...; trace-cmd report > t.txt\n"
        "  mmuspec trace stats t.txt\n  mmuspec trace stats /sys/kernel/tracing/trace --json\n"
        "  mmuspec trace stats t.txt.xz --window 10 --plots out/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    tstats.add_argument("file", metavar="FILE", help="a trace (text, .gz or .xz; - for stdin)")
    tstats.add_argument("--json", action="store_true")
    tstats.add_argument("--window", type=float, default=1.0, metavar="SECONDS", help="time window (default 1 s)")
    tstats.add_argument("--plots", metavar="DIR", help="write events-per-window and per-vCPU plots to DIR")
    twhat = tsub.add_parser(
        "whatif", help="the exits each era would have taken on the recorded host activity",
        description="Use the trace's page faults and notifier invalidations as the simulator's workload and "
        "estimate, era by era, the VM exits, COW breaks and change_pte effects (needs kvm_page_fault, "
        "kvm_unmap_hva_range and kvmmmu:kvm_tdp_mmu_spte_changed in the trace).")
    twhat.add_argument("file", metavar="FILE")
    twhat.add_argument("--era", action="append", choices=list(ERAS), metavar="ERA", help="default all")
    twhat.add_argument("--recorded-era", choices=list(ERAS), metavar="ERA",
                       help="the era the trace was recorded under (default: inferred from its event formats)")
    twhat.add_argument("--arch", choices=ARCHES)
    twhat.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE")
    twhat.add_argument("--json", action="store_true")
    cli_lab.add_validate_parser(tsub)
    cli_lab.add_lab_parser(sub)

    bugs = sub.add_parser(
        "bugs", help="rediscover real kernel bugs: search each before its fix and after it",
        description="Search every entry of the real-bugs corpus (bugs/*.toml) twice, exhaustively: in the "
        "kernel before the fix, where the file expects a violated property or a kernel warning, and after it, "
        "where it expects safe.  Nothing is stored as an answer: each verdict comes from the search.  Exit 0 "
        "when every entry is as expected, 1 when one is not.",
        epilog="examples:\n  mmuspec bugs                       the whole corpus as a table\n"
        "  mmuspec bugs B2 B6 --json          two entries, as JSON\n"
        "  mmuspec bugs B1 --trace            the unfixed kernel's counterexample\n"
        "  mmuspec bugs B4 --trace --trace-format ftrace\n  mmuspec bugs --list\n"
        "  mmuspec bugs --variant examples/variants/trust_the_sequence.py",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    bugs.add_argument("ids", nargs="*", metavar="ID", help="entries to run (default: all), e.g. B2 H1")
    bugs.add_argument("--json", action="store_true", help="print one JSON object")
    bugs.add_argument("--trace", action="store_true", help="print the counterexample found before each fix")
    bugs.add_argument("--trace-format", choices=("text", "ftrace"), default="text",
                      help="with --trace: mmuspec text (default) or the kernel's tracepoint lines")
    bugs.add_argument("--list", action="store_true", help="list the entries and what each is, without searching")
    bugs.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    bugs.add_argument("--variant", metavar="FILE",
                      help="apply a variant (a proposed patch) on every side: does it fix or bring back a bug?")
    cli_review.add_ci_options(bugs, smoke=False)
    cli_review.add_check_all(sub)
    cli_review.add_diff(sub)
    cli_kernels.add_commands(sub)
    sub.add_parser("workloads", help="list the built-in workloads")
    sub.add_parser("eras", help="list the kernel eras and their switches")
    sub.add_parser("switches", help="list every switch, its values and the kernel code it selects")
    sub.add_parser("scenarios", help="list the built-in scenarios")
    steps = sub.add_parser("steps", help="list the model's steps and helpers (what a --variant can replace), "
                           "with the kernel file and function each mirrors, era by era",
                           description="List every step and helper of the model with the kernel code it mirrors: "
                           "file:function for each run of eras (all eras by default, or the --era given).  [I] marks "
                           "a location inferred from the eras on both sides, [U] one no kernel tree confirmed; "
                           "'(none)' an era whose kernel had no counterpart.")
    steps.add_argument("--era", metavar="ERA", help="show the locations of this era only")
    steps.add_argument("--arch", choices=ARCHES, default="x86", help="the arch whose handlers to show (default x86)")
    sub.add_parser("events", help="list the properties, warnings and observations")
    parser.add_argument("--version", action="version", version=f"mmuspec {__version__}")
    add_everywhere(parser, "--debug", action="store_true",
                   help="on an internal error (exit status 3), print the whole traceback")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "format", None) == "email":
            return _as_email(list(sys.argv[1:] if argv is None else argv))
        if args.command == "check":
            return cmd_check(args, parser)
        if args.command == "replay":
            return cmd_replay(args)
        if args.command == "simulate":
            return cmd_simulate(args)
        if args.command == "sweep":
            return cmd_sweep(args)
        if args.command == "bugs":
            return cmd_bugs(args)
        if args.command == "workloads":
            return cmd_workloads()
        if args.command == "trace":
            return cmd_trace(args, parser)
        if args.command == "reevaluate":
            return cmd_reevaluate(args)
        if args.command == "eras":
            return cmd_eras()
        if args.command == "switches":
            return cmd_switches()
        if args.command == "scenarios":
            return cmd_scenarios()
        if args.command == "steps":
            return cmd_steps(args)
        if args.command == "check-all":
            return cli_review.cmd_check_all(args)
        if args.command == "diff":
            return cli_review.cmd_diff(args)
        if args.command == "events":
            return cmd_events()
        if args.command == "lab":
            return cli_lab.cmd_lab(args)
        if args.command == "kernels":
            return cli_kernels.cmd_kernels(args)
        if args.command == "repro":
            return cli_kernels.cmd_repro(args)
        parser.print_help()
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        ctrl_c.say(f": {exc}" if str(exc) else "")  # a variant's code that never returned says where it was
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `mmuspec check ... | head` must not turn a violation into success; the
        # shell's own status for a writer whose reader left is 128 + SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        if ctrl_c.interrupted_meanwhile():  # numpy, for one, turns an interrupted import into an ImportError
            ctrl_c.say()
            return EXIT_INTERRUPTED
        return failures.report(exc, debug=args.debug, variant=getattr(args, "variant", None),
                               cluster=getattr(args, "cluster", None))


def _as_email(argv: list[str]) -> int:
    """``--format email``: the command's text report, captured, then printed for a mail
    (report/email.py) under the command line as the user typed it."""
    import io

    from mmuspec.report.email import email_text

    text_argv = [("text" if a == "email" and i and argv[i - 1] == "--format" else a.replace("--format=email",
                  "--format=text")) for i, a in enumerate(argv)]
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        status = main(text_argv)
    if captured.getvalue():  # bad input prints its one line on stderr and nothing here
        print(email_text(captured.getvalue(), argv))
    return status


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    for text in args.sets:  # names and choices first, to offer the closest ones
        name, _, raw = (x.strip() for x in text.partition("="))
        switch = SWITCHES.get(name)
        if "=" in text and switch is None:
            raise UsageError(f"--set {text!r}: unknown switch {name!r}{did_you_mean(name, SWITCHES)} "
                             "(see 'mmuspec switches')")
        if switch is not None and not isinstance(switch.default, bool) and raw not in switch.choices:
            choices = [str(c) for c in switch.choices]
            raise UsageError(f"switch {name}: {raw!r} is not one of {' | '.join(choices)}{did_you_mean(raw, choices)}")
    overrides = parse_assignments(args.sets)
    if args.arch:
        if "arch" in overrides and overrides["arch"] != args.arch:
            raise UsageError(f"--arch {args.arch} contradicts --set arch={overrides['arch']}")
        overrides["arch"] = args.arch
    return overrides


def byte_size(text: str) -> int:
    """A size such as 512M, 12G or 1.5T (powers of 1024), or plain bytes."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number, unit = text.strip().upper().removesuffix("B"), ""
    if number[-1:] in units:
        number, unit = number[:-1], number[-1]
    try:
        size = int(float(number) * units[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 512M, 12G)") from None
    if size < 1 << 20:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1M")
    return size


def parse_reductions(text: str) -> Reductions:
    names = {x.strip() for x in text.split(",") if x.strip()}
    if names == {"none"}:
        return NO_REDUCTIONS
    known = {"symmetry", "seq", "values", "por"}
    if not names or names - known:
        raise UsageError(f"--reduce {text!r}: use none or a list of {', '.join(sorted(known))}")
    return Reductions(symmetry="symmetry" in names, seq="seq" in names, values="values" in names, por="por" in names)


def _csv(text: str | None, allowed: Sequence[str], what: str) -> list[str]:
    if not text:
        return list(allowed)
    items = [x.strip() for x in text.split(",") if x.strip()]
    for item in items:
        if item not in allowed:
            raise UsageError(f"unknown {what} {item!r}{did_you_mean(item, allowed)}; known: {', '.join(allowed)}")
    return items


def cmd_check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    overrides = _overrides(args)
    if args.scenario:
        check_builtin("scenario", args.scenario, scenario_names())
    variant = load_variant(args.variant) if args.variant else None
    if args.matrix:
        return cmd_matrix(args, overrides, variant)
    if not args.scenario:
        raise UsageError("check needs a SCENARIO (or --matrix); built-in scenarios: " + ", ".join(builtin_names()))
    if args.max_states is not None and args.max_states < 1:
        raise UsageError("--max-states must be at least 1")
    for name in ("max_depth", "preemptions", "walks", "workers", "threads"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "preemptions" else 1):
            raise UsageError(f"--{name.replace('_', '-')} {value}: too small")
    if args.walks is not None and (args.preemptions is not None or args.resume or args.checkpoint
                                   or args.max_memory is not None):
        raise UsageError("--random cannot be combined with --preemptions, --checkpoint, --resume or --max-memory")
    if args.coverage and (args.walks is not None or args.cluster):
        raise UsageError("--coverage counts the steps of a BFS in this process: not with --random or --cluster")
    if (args.threads > 1 or args.table_memory) and (args.exact or (args.workers or 1) > 1 or args.cluster
                                                    or args.checkpoint or args.resume or args.engine == "interpreted"):
        raise UsageError("--threads and --table-memory run the compiled core in this process: not with --exact, "
                         "--workers, --cluster, --checkpoint, --resume or --engine interpreted")
    if args.partitions is not None:
        if args.partitions < 1:
            raise UsageError(f"--partitions {args.partitions}: too small")
        if (args.threads > 1 or args.table_memory or args.exact or (args.workers or 1) > 1 or args.checkpoint
                or args.resume or args.max_states is not None or args.walks is not None or args.preemptions
                is not None or args.coverage or args.smoke is not None or args.max_memory is not None):
            raise UsageError("--partitions runs a whole breadth-first search on Dask or Ray actors: not with "
                             "--threads, --table-memory, --exact, --workers, --checkpoint, --resume, --max-states, "
                             "--max-memory, --random, --preemptions, --coverage or --smoke")
    smoke = cli_review.check_smoke(args.smoke)
    scenario = _scenario(args.scenario, args)
    spec = CheckSpec(scenario, args.era, overrides, variant)
    _ = spec.config  # validates the era before any work
    reductions = parse_reductions(args.reduce)
    if args.estimate is not None:
        return cli_review.print_estimate(spec, args.estimate, args.seed)
    if args.trace_out and not Path(args.trace_out).resolve().parent.is_dir():
        raise UsageError(f"--trace-out {args.trace_out}: directory {Path(args.trace_out).parent} does not exist")
    if args.cluster:
        check_reachable(args.cluster)
    with search_progress(spec.label(), enabled=not args.quiet and not args.json) as progress:
        kernel, result = run_check(
            spec,
            stop_on_violation=args.first,
            exact=args.exact,
            max_states=args.max_states,
            max_depth=args.max_depth,
            preemptions=args.preemptions,
            walks=args.walks,
            seed=args.seed,
            reductions=reductions,
            workers=args.workers,
            engine=args.engine,
            cluster=args.cluster,
            checkpoint=args.checkpoint,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            minimize=args.minimize,
            progress=progress,  # type: ignore[arg-type]
            max_seconds=smoke,
            coverage=args.coverage,
            threads=args.threads,
            table_memory=args.table_memory or 0,
            partitions=args.partitions,
            max_memory=args.max_memory,
        )
    status = _print_check(args, spec, kernel, result)
    if args.trace_out:  # after the report: a full disk loses the file, never the verdict
        sys.stdout.flush()
        _write_trace(args.trace_out, spec, kernel, result)
    return status


def _print_check(args: argparse.Namespace, spec: CheckSpec, kernel: Any, result: Any) -> int:
    if args.json or args.format != "text" or args.trace_format != "ftrace":
        return cli_review.print_check(args, finish(spec, kernel, result, with_coverage=args.coverage))
    if args.trace_format == "ftrace":
        from mmuspec.report.check_report import headline_witness, verdict_text
        from mmuspec.report.ftrace import ftrace_lines

        print(f"# mmuspec check: {spec.label()}")
        print(f"# {verdict_text(result)}")
        witness = headline_witness(result)
        if witness is not None:
            print(f"# tracer: nop (counterexample for {witness.event}, {witness.length} steps; "
                  "lines starting with '# mmuspec' are model-only)")
            print("\n".join(ftrace_lines(kernel, witness.actions, spec.era)))
            others = [f"{w.event} ({w.length} steps)" for w in result.failures if w is not witness]
            if others:
                print(f"# also found {', '.join(others)}; --trace-format text or --json shows their traces")
    return exit_status(result)


def _write_trace(path: str, spec: CheckSpec, kernel: Any, result: Any) -> None:
    witness = result.violation or (result.warnings[0] if result.warnings else None)
    if witness is None:
        print(f"mmuspec: no violation or warning, so no trace was written to {path}", file=sys.stderr)
        return
    try:
        _atomic_write(path, json.dumps(trace_file(spec, kernel, witness), indent=2) + "\n")
    except OSError as exc:
        raise UsageError(f"--trace-out {path}: the trace of {witness.event} was not written "
                         f"({exc.strerror or exc}); the report above is complete") from None


def _atomic_write(path: str, text: str) -> None:
    target = Path(path)
    if not target.parent.exists():
        raise UsageError(f"{path}: directory {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _scenario(name: str, args: argparse.Namespace, *, matrix: bool = False) -> Any:
    """A scenario with --subscriber, --vcpus and --accesses applied; the matrix applies them
    only where they apply (a scenario that declares both subscribers, one with vCPUs)."""
    scenario = load_scenario(name)
    if args.subscriber and (not matrix or args.subscriber in scenario.subscribers):
        scenario = scenario.with_subscriber(args.subscriber)
    if matrix and not scenario.vcpus:
        return scenario
    return scenario.scaled(args.vcpus, args.accesses)


def cmd_matrix(args: argparse.Namespace, overrides: dict[str, Any], variant: Any) -> int:
    if "arch" in overrides:
        raise UsageError("--matrix covers every arch; use --arches to choose some")
    eras = list(ERAS) if args.eras == "all" else _csv(args.eras or ",".join(MATRIX_ERAS), list(ERAS), "era")
    arches = _csv(args.arches, ARCHES, "arch")
    names = [args.scenario] if args.scenario else builtin_names()
    scenarios = [_scenario(n, args, matrix=True) for n in names]
    started = time.perf_counter()
    total = len(scenarios) * len(eras) * len(arches)
    done = 0
    with search_progress("matrix", enabled=not args.quiet and not args.json) as progress:

        def on_cell(cell: Any) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                from mmuspec.explore import Progress

                progress(Progress(done, 0, 0, total - done, time.perf_counter() - started))  # type: ignore[operator]

        cells = run_matrix(scenarios, eras, arches, overrides, variant, on_cell, parse_reductions(args.reduce),
                           args.engine)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps([vars(c) for c in cells], indent=2))
    else:
        sizes = ", ".join(f"{s.name} {s.size_short()}" for s in scenarios)
        changed = "".join(f", {k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(overrides.items()))
        changed += f", variant {variant.path}" if variant is not None else ""
        print(f"mmuspec check --matrix{changed} ({sizes}; vCPUs x accesses, dev: device mirrors, gpc: pfn cache users)")
        print()
        print(matrix_text(cells, arches))
        print()
        print(LEGEND)
        print(f"\n{len(cells)} checks, {sum(c.states for c in cells):,} states in all, {elapsed:.1f} s",
              file=sys.stderr)
    return 1 if any(c.verdict in ("violation", "warning") for c in cells) else 0


def cmd_replay(args: argparse.Namespace) -> int:
    from mmuspec.replay import replay_trace

    done = replay_trace(args.trace, args.variant, args.trust_embedded_variant)
    lines, event, reached = done["lines"], done["event"], done["reproduced"]
    if args.json:
        print(json.dumps({"event": event, "reproduced": reached, "loop_start": done["loop_start"],
                          "trace": [x.to_json() for x in lines]}, indent=2))
    else:
        print(f"mmuspec replay: {done['spec'].label()}")
        print(format_trace(lines))
        print()
        if not reached:
            print(f"replayed {len(lines)} steps, but {done['why']}")
        elif done["loop_start"] is not None:
            print(f"replayed {len(lines)} steps: the same {done['kind']} ({event}): steps "
                  f"{done['loop_start'] + 1}-{len(lines)} come back to where they started, and repeat forever")
        else:
            print(f"replayed {len(lines)} steps: the same {done['kind']} ({event}) at step {len(lines)}")
    return 1 if reached else 0


def _sim_inputs(args: argparse.Namespace, default_eras: list[str]) -> tuple[Any, list[tuple[str, str, Any]], int]:
    """Workload, (label, era, config) per era, and seed; all validated before any work."""
    from mmuspec.simulate.workload import builtin_workloads, load_workload

    if getattr(args, "from_host", None) or getattr(args, "from_trace", None):
        workload = _built_workload(args)
    elif args.workload is None:
        raise UsageError("give a WORKLOAD (mmuspec workloads), --from-host or --from-trace FILE")
    else:
        check_builtin("workload", args.workload, builtin_workloads())
        workload = load_workload(args.workload)
    if args.duration is not None:
        workload = workload.with_duration(args.duration)
    from mmuspec.simulate.profile import with_profile

    workload = with_profile(workload, _profile(args))
    overrides = _overrides(args)
    eras = [(name, name, era_config(name, overrides)) for name in (args.era or default_eras)]
    return workload, eras, workload.seed if args.seed is None else args.seed


def _built_workload(args: argparse.Namespace) -> Any:
    """``--from-host``/``--from-trace``: the workload they build, each value's source printed
    to stderr before the run (and kept as comments in DIR/workload.toml)."""
    from mmuspec.simulate import from_host
    from mmuspec.simulate.workload import load_workload

    base = load_workload(args.workload or "vdi")
    values: list[Any] = []
    origin = []
    if args.from_host:
        values += from_host.from_host(Path(args.from_host))
        origin.append("--from-host" + ("" if args.from_host == "/" else f" {args.from_host}"))
    if args.from_trace:
        from mmuspec.traces.reader import open_trace
        from mmuspec.traces.stats import trace_stats

        with open_trace(args.from_trace) as stream:
            stats = trace_stats(stream)
        stream.require_lines()
        stream.require_whole()
        values += from_host.from_trace(stats, args.from_trace)
        origin.append(f"--from-trace {args.from_trace}")
        if stats.arch and not args.arch and not any(x.startswith("arch=") for x in args.sets):
            args.arch = stats.arch  # the eras are simulated on the recorded host's arch
            if not args.quiet:
                print(f"arch {stats.arch} (measured: the trace's vCPU events; --arch chooses another)",
                      file=sys.stderr)
    name = "host" if not args.from_trace else Path(args.from_trace).name.split(".")[0]
    workload, text = from_host.built_workload(base, values, " ".join(origin), name)
    args.built_workload_text = text
    if not args.quiet:
        print(f"workload {name} ({' '.join(origin)}; the rest is {base.source}'s, assumed):", file=sys.stderr)
        for v in values:
            print(f"  {v.text()}", file=sys.stderr)
    return workload


def _profile(args: argparse.Namespace) -> Any:
    """The cost profiles of --costs, merged (later files win), or None."""
    from mmuspec.simulate.profile import load_profile, merge_profiles

    return merge_profiles([load_profile(path) for path in getattr(args, "costs", [])])


def cmd_simulate(args: argparse.Namespace) -> int:
    from mmuspec.report.figures import simulation_figures
    from mmuspec.report.simulation import table_text
    from mmuspec.simulate.run import results_json, simulate_era

    workload, eras, seed = _sim_inputs(args, list(ERAS))
    variant = load_variant(args.variant) if args.variant else None
    runs: list[tuple[str, str, Any, Variant | None]] = [(label, era, config, None) for label, era, config in eras]
    if variant is not None:
        runs += [(f"{label}+{Path(variant.path).stem}", era, config, variant) for label, era, config in eras]
    phases = [(p.name, p.duration) for p in workload.phases]
    with staged_dir(args.out) as staging:
        results = []
        with simulation_progress(f"simulate {workload.name}", [r[0] for r in runs], phases,
                                 enabled=not args.quiet) as progress:
            for label, era, config, var in runs:
                tick = None if progress is None else functools.partial(progress, label)
                results.append(simulate_era(workload, label, era, config, seed, var, tick))
        data = results_json(workload, seed, results)
        (staging / "results.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        built = getattr(args, "built_workload_text", None)
        if built is not None:
            (staging / "workload.toml").write_text(built, encoding="utf-8")
        plots = simulation_figures(workload.name, data["series"], staging, exits=args.plot_exits,
                                   log=True if args.log else None)
    out = Path(args.out)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(table_text(workload, seed, results))
        written = ["results.json", *(["workload.toml"] if built is not None else []),
                   *(p.path.name for p in plots)]
        print(f"\nwrote {', '.join(str(out / name) for name in written)}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    import csv

    from mmuspec.report.figures import sweep_figures
    from mmuspec.report.sweep import frontier_text, summary_text
    from mmuspec.simulate.sweep import jobs_of, parse_grid, summarize, sweep

    workload, eras, seed = _sim_inputs(args, ["5.13", "glisse-2019"])
    grid = parse_grid(args.grid)
    if args.seeds < 1:
        raise UsageError(f"--seeds {args.seeds}: needs at least 1")
    runs = len(jobs_of(workload, grid, eras, list(range(args.seeds))))  # validates every grid value first
    if args.cluster:
        check_reachable(args.cluster)
    keys = list(grid)
    with staged_dir(args.out) as staging:
        with job_progress(f"sweep {workload.name}", runs, enabled=not args.quiet) as advance:
            rows = sweep(workload, grid, eras, seed, seeds=args.seeds, workers=args.workers or default_workers(),
                         cluster=args.cluster, on_row=lambda _row: advance())
        summary = summarize(rows, keys)
        for name, table in (("sweep.csv", rows), ("summary.csv", summary)):
            with open(staging / name, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(table[0]))
                writer.writeheader()
                writer.writerows(table)
        labels = [label for label, _, _ in eras]
        plots = sweep_figures(workload.name, grid, labels, summary, staging)
    out = Path(args.out)
    print(f"{runs} simulations for {len(rows)} points x eras x seeds; wrote {out / 'sweep.csv'}, "
          f"{out / 'summary.csv'} and {len(plots)} figures in {out}")
    print(summary_text(summary, keys, args.seeds))
    print(frontier_text(summary, keys, labels))
    return 0


def cmd_reevaluate(args: argparse.Namespace) -> int:
    from mmuspec.report.reevaluation import write_report

    with staged_dir(args.out) as staging:
        name = write_report(staging, duration=args.duration, seed=args.seed, profile=_profile(args)).name
    print(f"wrote {Path(args.out) / name}")
    return 0


def cmd_trace(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from mmuspec.traces.reader import open_trace

    if args.trace_command == "stats":
        from mmuspec.report.trace_stats import stats_json, stats_plots, stats_text
        from mmuspec.traces.stats import trace_stats

        if not (math.isfinite(args.window) and args.window > 0):
            raise UsageError(f"--window {args.window:g}: expected a positive number of seconds")
        with staged_dir(args.plots, "--plots") if args.plots else contextlib.nullcontext() as plots:
            with open_trace(args.file) as stream:
                stats = trace_stats(stream, window=args.window)
            stream.require_lines()
            for m in stats.malformed[:20]:
                print(f"{args.file}:{m.line}: malformed: {m.reason}", file=sys.stderr)
            if stats.unparsed > 20:
                print(f"{args.file}: ... and {stats.unparsed - 20} more malformed lines", file=sys.stderr)
            if plots is not None:
                drawn, notes = stats_plots(stats, args.window, plots)
                for note in notes:
                    print(f"mmuspec: --plots: {note}", file=sys.stderr)
                if stats.windows and not any(d.path.name == "events_per_second.png" for d in drawn):
                    print(f"{args.plots}: no events_per_second.png: the trace spans one {args.window:g} s window "
                          "(a point, not a line); a smaller --window draws it", file=sys.stderr)
        print(json.dumps(stats_json(stats, args.window), indent=2) if args.json
              else stats_text(args.file, stats, args.window))
        stream.require_whole()  # after the figures of the part read
        return 0
    if args.trace_command == "validate":
        return cli_lab.cmd_validate(args)
    if args.trace_command == "whatif":
        from mmuspec.report.trace_stats import whatif_text
        from mmuspec.traces import whatif as trace_whatif

        overrides = _overrides(args)
        with open_trace(args.file) as stream:
            recorded = trace_whatif.workload_from_trace(stream)
        stream.require_lines()
        if args.recorded_era:
            recorded = trace_whatif.with_recorded_era(recorded, args.recorded_era)
        if "arch" not in overrides and recorded.arch:
            overrides["arch"] = recorded.arch  # the recorded host's architecture, in every era
        eras = [(name, era_config(name, overrides)) for name in (args.era or list(ERAS))]
        result = trace_whatif.whatif(recorded, eras, trace_whatif.recorded_config(recorded, overrides.get("arch")))
        print(json.dumps(result.to_json(), indent=2) if args.json else whatif_text(args.file, result))
        stream.require_whole()
        return 0
    parser.parse_args(["trace", "--help"])
    return 2


def cmd_bugs(args: argparse.Namespace) -> int:
    from mmuspec.rediscover import load_corpus, rediscover, select
    from mmuspec.report import bugs as table

    chosen = select(load_corpus(), args.ids)
    if args.variant:
        from mmuspec.rediscover import with_variant

        variant = load_variant(args.variant)
        chosen = [with_variant(bug, variant) for bug in chosen]
    if args.list:
        for bug in chosen:
            print(f"{bug.id:<4} {bug.kind:<8} {bug.commit:<14} {bug.title}")
            print(f"     {bug.scenario}: before {bug.before.label} -> {bug.before.expect}; "
                  f"after {bug.after.label} -> {bug.after.expect}")
        return 0
    results = []
    with search_progress("bugs", enabled=not args.quiet and not args.json) as progress:
        for done, bug in enumerate(chosen):
            if progress is not None:
                from mmuspec.explore import Progress

                progress(Progress(done, 0, 0, len(chosen) - done, 0.0))  # type: ignore[operator]
            results.append((bug, *rediscover(bug)))
    if args.json:
        print(json.dumps(table.bugs_json(results), indent=2))
    elif args.format != "text":
        from mmuspec.report.ci import render

        print(render(cli_review.bugs_cases(results), args.format, "mmuspec bugs", "mmuspec.bugs"))
        return 0 if all(table.as_expected(r) for r in results) else 1
    else:
        if args.variant:
            print(f"mmuspec bugs --variant {args.variant}: every side runs the variant\n")
        print(table.table_text([table.row(r) for r in results]))
        print()
        print(table.summary(results, args.variant))
    if args.trace:
        for bug, before, *_ in results:
            witness = before.result.witnesses.get(before.found)
            if witness is None:
                print(f"\n{bug.id}: no counterexample before the fix ({before.found})")
                continue
            print(f"\n{bug.id} {bug.commit} {bug.title}\n{before.side.spec.label()}: {witness.event}, "
                  f"{witness.length} steps")
            if args.trace_format == "ftrace":
                from mmuspec.report.ftrace import ftrace_lines

                print("\n".join(ftrace_lines(before.kernel, witness.actions, before.side.spec.era)))
            else:
                print(format_trace(trace_lines(before.kernel, witness.actions, before.side.spec.era)))
            if witness.loop_start is not None:
                from mmuspec.report.check_report import loop_text

                print(loop_text(witness))
    return 0 if all(table.as_expected(r) for r in results) else 1


def cmd_workloads() -> int:
    from mmuspec.simulate.workload import builtin_workloads, load_workload

    for name in builtin_workloads():
        w = load_workload(name)
        print(f"{name:<12} {counted(w.vms, 'VM')} x {w.pages_per_vm * 4096 / 2**30:g} GiB, {w.duration:.0f} s: {w.description}")
    return 0


def cmd_eras() -> int:
    for era in ERAS.values():
        print(f"{era.name}  [{era.version}]  {era.commit} {era.title}")
        print(f"    {era.summary}")
        for name, value in era.switches.items():
            print(f"    {name} = {str(value).lower() if isinstance(value, bool) else value}")
        for note in era.notes:
            print(f"    note: {note}")
        print()
    return 0


def cmd_switches() -> int:
    for switch in SWITCHES.values():
        default = str(switch.default).lower() if isinstance(switch.default, bool) else switch.default
        print(f"{switch.name} = {switch.describe_choices()}   (default {default})")
        print(f"    {switch.summary}")
        print(f"    source: {switch.source}")
        print()
    return 0


def cmd_scenarios() -> int:
    from mmuspec.model.scenario import bug_scenario_names

    for title, names in (("General (the matrix checks these):", builtin_names()),
                         ("For the real-bugs corpus (mmuspec bugs):", bug_scenario_names())):
        print(title)
        for name in names:
            scenario = load_scenario(name)
            print(f"  {name:<18} {scenario.size_text()}: {scenario.description}")
    return 0


def cmd_steps(args: argparse.Namespace) -> int:
    from mmuspec.model.sources import history_text, location

    era = cli_review.era_name(args.era) if args.era else None

    def where(name: str) -> str:
        if era is None:
            return history_text(name, args.arch)
        here = location(name, era, args.arch)
        return f"{era} {here.label()}" if here is not None else f"{era} (none: no counterpart in this era)"

    print("Atomic steps (thread: name -- kernel function [lock]), each with where its kernel code is:")
    for info in STEPS.values():
        print(f"  {info.thread:<8} {info.name} -- {info.kernel} [{info.lock}]")
        print(f"           at {where(info.name)}")
    print("\nHelpers (called inside steps):")
    for name, fn in FUNCTIONS.items():
        if name in STEPS:
            continue
        doc = (fn.__doc__ or "").strip().splitlines()
        print(f"  {name}" + (f" -- {doc[0]}" if doc else ""))
        print(f"           at {where(name)}")
    return 0


def cmd_events() -> int:
    for event in EVENTS:
        print(f"{event.kind:<12} {event.id}: {event.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
