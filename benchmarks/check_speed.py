"""Time to verdict of `mmuspec check`, next to SPIN's, over the standard grid.

For every scenario x era x (vCPUs, accesses) it runs the command as a user would (a
fresh process, Python start-up included), with the reductions on, once with the
compiled engine (the model translated to C, the default) and once with the interpreted
one, and prints one Markdown table.  SPIN's end-to-end time (spin -a, gcc, pan) on the
matching configuration of the Promela model in ../shared/anchors/spin/ is measured in
the same run: ksm-merge matches the model's default, cow-break its START_MERGED=1; the
other scenarios have no Promela counterpart.  The compiled engine's library is built
once per model and cached; the table's times use the cache, and the one-off build is
measured and printed first (compilation included, from a cold cache).

    python benchmarks/check_speed.py                  # the whole grid (long: about an hour on 2 cores)
    python benchmarks/check_speed.py --quick          # 2.6.32 and 5.13, ksm-merge and cow-break
    python benchmarks/check_speed.py --big            # the >= 10 M-state runs, serial and with all workers
    python benchmarks/check_speed.py --close          # medians of 5 alternating runs where SPIN is close
    python benchmarks/check_speed.py --close --config ksm-merge:5.13:3x2 --repeat 3
    python benchmarks/check_speed.py --scale          # serial, threads, partitions and SPIN (-DNCORE) side by side,
                                                      # 2.5-100 M states, and the scaling curve on 1 to all cores
    python benchmarks/check_speed.py --partition-memory   # what each process of a partitioned search holds,
                                                          # on Dask and on Ray actors

Figures come from one run on one machine; these machines are noisy, so compare
ratios within the table rather than with other runs.  ``--close`` alternates the
tools and reports medians.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPIN_DIR = ROOT.parent / "shared" / "anchors" / "spin"
MMUSPEC = [sys.executable, "-m", "mmuspec", "check"]
SPIN_ERA = {"2.6.32": ("1", "1"), "5.13": ("2", "2"), "6.10": ("3", "0"), "glisse-2019": ("4", "1")}
SCENARIOS = ["ksm-merge", "cow-break", "zap", "aging", "hmm-mirror", "kvm-and-device", "pfncache"]
NO_VCPUS = {"hmm-mirror", "pfncache"}  # run at their own size only
ERAS = ["2.6.32", "5.13", "6.10", "glisse-2019"]


@dataclass
class Run:
    verdict: str = "-"
    states: int = 0
    transitions: int = 0
    seconds: float = 0.0  # wall time from the command's start to its exit
    rss_mb: float = 0.0
    bytes_per_state: float = 0.0
    timed_out: bool = False
    search_seconds: float = 0.0  # the search alone, as the command reports it
    engine: str = "-"
    cpu_seconds: float = 0.0  # user + system time of the command and its children
    error: str = ""  # the last line of stderr of a run that gave no answer

    def rate(self) -> str:
        return f"{self.states / self.search_seconds:,.0f}" if self.search_seconds and not self.timed_out else "-"

    def cell(self) -> str:
        return f">{self.seconds:.0f}" if self.timed_out else f"{self.seconds:.2f}"


def python_env() -> dict[str, str]:
    """The environment as Python runs by default, with compiled bytecode cached: an
    environment that turns the cache off (PYTHONDONTWRITEBYTECODE) would time the
    compilation of mmuspec's own modules in every run, which no installed copy does."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def autogroup_nice() -> str | None:
    """This session's autogroup weight (as a nice value), where the kernel has autogroups."""
    try:
        return Path("/proc/self/autogroup").read_text().split()[-1]
    except (OSError, IndexError):
        return None


def same_weight(nice: str | None) -> None:
    """In a new session's child: weigh its autogroup as this session's, so that a run
    given a weight (see scheduler_note) keeps it in the processes it times."""
    if nice is not None and nice != "0":
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(nice)


def run_mmuspec(args: list[str], timeout: float, env: dict[str, str] | None = None) -> Run:
    """One `mmuspec check` process; peak RSS is the main process's (GNU time's %M)."""
    start = time.perf_counter()
    # A session of its own, so that a timeout stops the search and its workers, not only
    # GNU time (an orphaned search would hold the pipes open and load the machine).
    nice = autogroup_nice()
    proc = subprocess.Popen(["/usr/bin/time", "-f", "MAXRSS_KB=%M CPU=%U+%S", *MMUSPEC, *args, "--json", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**python_env(), "PYTHONPATH": str(ROOT / "src"), **(env or {})},
                            start_new_session=True, preexec_fn=lambda: same_weight(nice))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return Run(timed_out=True, seconds=timeout)
    seconds = time.perf_counter() - start
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        # The model refuses this configuration (e.g. a device mirror in an era before v5.5).
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("MAXRSS_KB=")]
        return Run(verdict="refused", seconds=seconds, error=lines[-1].strip() if lines else f"exit {proc.returncode}")
    rss = re.search(r"MAXRSS_KB=(\d+)", err)
    cpu = re.search(r"CPU=([\d.]+)\+([\d.]+)", err)
    return Run(data["verdict"], data["states"], data["transitions"], seconds,
               int(rss.group(1)) / 1024 if rss else 0.0, data.get("bytes_per_state") or 0.0, False,
               data.get("seconds") or 0.0, data.get("engine") or "-",
               float(cpu.group(1)) + float(cpu.group(2)) if cpu else 0.0)


def spin_ready() -> bool:
    """Whether SPIN can be timed here; when not, one line on stderr says why, and the
    SPIN columns show "-" while mmuspec is timed as usual."""
    if not (SPIN_DIR / "e2e.sh").is_file():
        why = f"{SPIN_DIR} is absent"
    elif not shutil.which("spin"):
        why = "spin is not on PATH"
    else:
        return True
    print(f"check_speed: SPIN comparison skipped ({why}); timing mmuspec alone", file=sys.stderr, flush=True)
    return False


SPIN = {"ready": False}


def run_spin(scenario: str, era: str, vcpus: int, accesses: int, timeout: float) -> tuple[str, str]:
    if scenario not in ("ksm-merge", "cow-break") or not SPIN["ready"]:
        return "-", "-"
    era_flag, cp = SPIN_ERA[era]
    extra = ["-DSTART_MERGED=1"] if scenario == "cow-break" else []
    try:
        out = subprocess.run(["bash", str(SPIN_DIR / "e2e.sh"), era_flag, cp, str(vcpus), str(accesses), *extra],
                             capture_output=True, text=True, timeout=timeout).stdout
    except subprocess.TimeoutExpired:
        return "timeout", "-"
    match = re.search(r"spin_e2e_seconds=([\d.]+) verdict=(\w+) states=(\d+)", out)
    return (f"{float(match.group(1)):.2f}", f"{int(match.group(3)):,}") if match else ("error", "-")


def compile_once(timeout: float) -> None:
    """The one-off build of the compiled engine: from an empty cache, then from the cache."""
    with tempfile.TemporaryDirectory() as cold:
        config = ["ksm-merge", "--vcpus", "1", "--accesses", "1"]
        first = run_mmuspec(config, timeout, env={"XDG_CACHE_HOME": cold})
        again = run_mmuspec(config, timeout, env={"XDG_CACHE_HOME": cold})
    print(f"compiled engine: one-off build, {first.seconds:.2f} s end to end from an empty cache "
          f"(engine {first.engine}); {again.seconds:.2f} s with the build cached")
    print()


def grid(args: argparse.Namespace) -> None:
    scenarios = ["ksm-merge", "cow-break"] if args.quick else SCENARIOS
    eras = ["2.6.32", "5.13"] if args.quick else ERAS
    workers = str(os.cpu_count() or 1)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"{'spin ' + subprocess.run(['spin', '-V'], capture_output=True, text=True).stdout.strip() if shutil.which('spin') else 'no spin'}")
    print()
    compile_once(args.timeout)
    print("| scenario | era | size | verdict | states | transitions | compiled s | compiled, "
          f"{workers} workers s | interpreted s | compiled states/s | interpreted states/s | B/state | peak MB "
          "| SPIN e2e s | SPIN states | ratio |")
    print("|" + "---|" * 16)
    for scenario in scenarios:
        for era in eras:
            sizes = [(0, 0)] if scenario in NO_VCPUS else [(v, a) for v in (1, 2, 3) for a in (1, 2, 3)]
            for vcpus, accesses in sizes:
                base = [scenario, "--era", era]
                if vcpus:
                    base += ["--vcpus", str(vcpus), "--accesses", str(accesses)]
                fast = run_mmuspec([*base, "--workers", "1"], args.timeout)
                if fast.verdict == "refused":
                    print(f"| {scenario} | {era} | - | refused: the era has no such subscriber |" + " |" * 12,
                          flush=True)
                    break  # every size of it is refused alike
                wide = run_mmuspec([*base, "--workers", workers], args.timeout)
                slow = run_mmuspec([*base, "--engine", "interpreted", "--workers", "1"], args.timeout)
                verdict = fast.verdict
                if not slow.timed_out and (slow.states, slow.transitions) != (fast.states, fast.transitions):
                    verdict += f" (MISMATCH: interpreted {slow.states:,} states, {slow.transitions:,} transitions)"
                spin_s, spin_states = run_spin(scenario, era, vcpus, accesses, args.timeout)
                ratio = (f"{fast.seconds / float(spin_s):.2f}"
                         if not fast.timed_out and spin_s not in ("-", "timeout", "error") else "-")
                size = f"{vcpus}x{accesses}" if vcpus else "default"
                print(f"| {scenario} | {era} | {size} | {verdict} | {fast.states:,} "
                      f"| {fast.transitions:,} | {fast.cell()} | {wide.cell()} | {slow.cell()} | {fast.rate()} "
                      f"| {slow.rate()} | {fast.bytes_per_state:.0f} | {fast.rss_mb:.0f} | {spin_s} "
                      f"| {spin_states} | {ratio} |", flush=True)


BIG = [
    ["ksm-merge", "--era", "5.13", "--vcpus", "3", "--accesses", "6"],  # about 20 M states with the reductions
    ["ksm-merge", "--era", "6.10", "--vcpus", "3", "--accesses", "3", "--reduce", "none"],  # over 100 M without
]


def big(args: argparse.Namespace) -> None:
    """The large configurations, with the compiled engine: serially, with all local
    workers (chunks expanded by the compiled core in worker processes), and for the
    reduced one on a Dask LocalCluster too."""
    workers = str(os.cpu_count() or 1)
    for config in BIG:
        for extra in (["--workers", "1"], ["--workers", workers]):
            r = run_mmuspec([*config, *extra], args.timeout * 20)
            print(f"{' '.join(config)} {' '.join(extra)}: {r.verdict}, {r.states:,} states, {r.transitions:,} "
                  f"transitions, {r.seconds:.1f} s end to end, {r.rate()} states/s, {r.bytes_per_state:.1f} B/state, "
                  f"peak {r.rss_mb:.0f} MB, engine {r.engine}", flush=True)
    try:
        from dask.distributed import LocalCluster
    except ImportError:
        print("dask.distributed is not installed: no cluster run")
        return
    with LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, dashboard_address=None) as cluster:
        r = run_mmuspec([*BIG[0], "--cluster", cluster.scheduler_address], args.timeout * 20)
        print(f"{' '.join(BIG[0])} --cluster {cluster.scheduler_address} (Dask LocalCluster): {r.verdict}, "
              f"{r.states:,} states, {r.transitions:,} transitions, {r.seconds:.1f} s, engine {r.engine}", flush=True)


# The configurations where SPIN's end-to-end time and mmuspec's were within a factor of
# three of each other in the last whole-grid run, at 3 vCPUs.
CLOSE = [f"ksm-merge:{era}:3x{n}" for era in ("2.6.32", "5.13", "6.10") for n in (1, 2, 3)]


def close(args: argparse.Namespace) -> None:
    """Medians of alternating runs of both tools, one configuration at a time."""
    workers = str(os.cpu_count() or 1)
    print(f"| configuration | mmuspec, 1 worker s | mmuspec, {workers} workers s | SPIN e2e s | ratio | runs |")
    print("|" + "---|" * 6)
    for config in args.config or CLOSE:
        scenario, era, size = config.split(":")
        vcpus, accesses = size.split("x")
        base = [scenario, "--era", era, "--vcpus", vcpus, "--accesses", accesses]
        serial, parallel, spin = [], [], []
        for _ in range(args.repeat):
            serial.append(run_mmuspec([*base, "--workers", "1"], args.timeout).seconds)
            parallel.append(run_mmuspec([*base, "--workers", workers], args.timeout).seconds)
            spin_s, _states = run_spin(scenario, era, int(vcpus), int(accesses), args.timeout)
            if spin_s not in ("-", "timeout", "error"):
                spin.append(float(spin_s))
        one, many = statistics.median(serial), statistics.median(parallel)
        theirs = f"{statistics.median(spin):.2f}" if spin else "-"
        ratio = f"{min(one, many) / statistics.median(spin):.2f}" if spin else "-"
        print(f"| {scenario} {era} {size} | {one:.2f} | {many:.2f} | {theirs} | {ratio} | {args.repeat} |", flush=True)


# Configurations of 10-200 M states for the scaling table: (scenario arguments, the
# matching Promela configuration for SPIN or None).
SCALE = [
    (["ksm-merge", "--era", "5.13", "--vcpus", "3", "--accesses", "3"], ("2", "2", "3", "3")),  # 2.5 M; SPIN's twin
    (["ksm-merge", "--era", "5.13", "--vcpus", "4", "--accesses", "2"], None),  # 13.9 M states
    (["ksm-merge", "--era", "5.13", "--vcpus", "3", "--accesses", "6"], None),  # 20.4 M states
    (["kvm-and-device", "--era", "5.13", "--vcpus", "3", "--accesses", "2"], None),  # 44.2 M states
    (["kvm-and-device", "--era", "6.10", "--vcpus", "3", "--accesses", "3"], None),  # 100.5 M states
]
CURVE = SCALE[2][0]  # the scaling curve's configuration


def run_spin_cores(era_cp_nv_n: tuple[str, str, str, str], cores: int, timeout: float) -> str:
    """SPIN's end-to-end time, alone (cores 1) or with its multi-core mode (-DNCORE)."""
    if not SPIN["ready"]:
        return "-"
    env = {**os.environ, "PAN_CFLAGS": f"-DNCORE={cores}"} if cores > 1 else None
    try:
        out = subprocess.run(["bash", str(SPIN_DIR / "e2e.sh"), *era_cp_nv_n], capture_output=True, text=True,
                             timeout=timeout, env=env).stdout
    except subprocess.TimeoutExpired:
        return f">{timeout:.0f}"
    match = re.search(r"spin_e2e_seconds=([\d.]+) verdict=(\w+) states=(\d+)", out)
    return f"{float(match.group(1)):.1f} ({int(match.group(3)):,} states)" if match else "error"


def scheduler_note() -> str:
    """How this run's processes weigh against the rest of the machine.  With autogroups on
    (Linux's default on desktops), nice only orders processes within one session: each
    session gets an equal share of the CPUs whatever its processes' nice, unless its group
    weight is changed (``/proc/self/autogroup``)."""
    try:
        enabled = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        enabled = False
    if not enabled:
        return f"nice {os.nice(0)}, scheduler autogroups off"
    return (f"nice {os.nice(0)}, scheduler autogroups on, the timed processes' groups at nice {autogroup_nice()} "
            f"(other sessions' at nice 0)")


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def scale(args: argparse.Namespace) -> None:
    """Serial, threaded and partitioned searches of the same configurations in one run,
    alternating, with CPU time beside wall time (a loaded machine stretches the wall time
    of every column, the parallel ones most), then SPIN alone and with -DNCORE, then the
    scaling curve on one configuration (CURVE): 1 to all cores."""
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores; load average at start {os.getloadavg()[0]:.1f}; {scheduler_note()} "
          f"(other work on the machine stretches wall times; CPU times are user+sys of all processes); "
          f"medians of {args.repeat} alternating runs")
    print()
    print(f"| configuration | states | transitions | serial s (CPU s) | --threads {cores} s (CPU s) | speed-up "
          f"| CPU threads / serial | --partitions {cores} s | peak MB serial / threads | SPIN s | SPIN -DNCORE={cores} s "
          f"| same counts |")
    print("|" + "---|" * 12)
    every: list[str] = []
    for config, promela in SCALE:
        serial, threaded = [], []
        for _ in range(args.repeat):
            serial.append(run_mmuspec([*config], args.timeout * 20))
            threaded.append(run_mmuspec([*config, "--threads", str(cores)], args.timeout * 20))
        failed = [r for r in [*serial, *threaded] if not r.states]
        if failed:
            print(f"| {' '.join(config)} | run failed: {failed[0].error or 'timed out'} |" + " |" * 10, flush=True)
            continue
        one, many = median_run(serial), median_run(threaded)
        parted = run_mmuspec([*config, "--partitions", str(cores)], args.timeout * 20) if args.partitions else Run()
        same = all((r.states, r.transitions) == (one.states, one.transitions) for r in [*serial, *threaded])
        if parted.states:
            same = same and (parted.states, parted.transitions) == (one.states, one.transitions)
        spin_one = run_spin_cores(promela, 1, args.timeout * 20) if promela else "-"
        spin_many = run_spin_cores(promela, cores, args.timeout * 20) if promela else "-"
        print(f"| {' '.join(config)} | {one.states:,} | {one.transitions:,} | {one.seconds:.1f} ({one.cpu_seconds:.1f}) "
              f"| {many.seconds:.1f} ({many.cpu_seconds:.1f}) | {one.seconds / many.seconds:.2f}x "
              f"| {many.cpu_seconds / one.cpu_seconds if one.cpu_seconds else 0:.2f} "
              f"| {parted.cell() if parted.states else '-'} | {one.rss_mb:.0f} / {many.rss_mb:.0f} | {spin_one} "
              f"| {spin_many} | {'yes' if same else 'NO'} |", flush=True)
        every.append(f"{' '.join(config)}: serial " + ", ".join(f"{r.seconds:.1f}" for r in serial)
                     + f" s; --threads {cores} " + ", ".join(f"{r.seconds:.1f}" for r in threaded) + " s")
    print()
    print("every run, in the order taken:")
    for line in every:
        print(f"* {line}")
    print()
    config = CURVE if any(c == CURVE for c, _ in SCALE) else SCALE[-1][0]
    curve = {n: [run_mmuspec([*config, "--threads", str(n)], args.timeout * 20) for _ in range(args.repeat)]
             for n in range(1, cores + 1)}
    medians = {n: median_run(runs) for n, runs in curve.items() if all(r.states for r in runs)}
    base = median_run(curve[1]).seconds
    print(f"scaling on {' '.join(config)} (median of {args.repeat}; 1 thread is the serial search): " + ", ".join(
        f"{n} {'thread' if n == 1 else 'threads'} {m.seconds:.1f} s ({base / m.seconds:.2f}x, CPU {m.cpu_seconds:.1f} s)"
        for n, m in medians.items()))
    if args.partitions:
        print()
        memory_per_partition(args)


def memory_per_partition(args: argparse.Namespace) -> None:
    """What each process of a partitioned search holds, as processes are added, on Dask
    actors (a LocalCluster per run) and on Ray actors (one local Ray for all the runs,
    started first): the start-up is timed apart from the search."""
    import functools
    from importlib.util import find_spec

    from mmuspec.checking import CheckSpec, Reductions, build_kernel
    from mmuspec.explore.cluster import ray_session
    from mmuspec.explore.partitioned import partitioned_bfs
    from mmuspec.model import load_scenario
    from mmuspec.native.search import NativeKernel, build_native_kernel, load, native_bfs

    def same(a: Any, b: Any) -> bool:
        lengths = [{e: len(w.actions) for e, w in r.witnesses.items()} for r in (a, b)]
        return (a.states, a.transitions, a.depth) == (b.states, b.transitions, b.depth) and lengths[0] == lengths[1]

    spec = CheckSpec(load_scenario("ksm-merge").scaled(args.partition_vcpus, args.partition_accesses), "5.13")
    kernel = build_kernel(spec, Reductions())
    native = load(kernel)
    factory = functools.partial(build_native_kernel, functools.partial(build_kernel, spec, Reductions()),
                                native.built.path.read_bytes())
    print(f"ksm-merge --era 5.13 --vcpus {args.partition_vcpus} --accesses {args.partition_accesses}; "
          f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}")
    print("| backend | partitions | states | transitions | search s | start s | states/s | states per process "
          "(min-max) | MB held per process (max) | RSS MB (private) per process (max) | MB sent between processes, all "
          "| counts = serial |")
    print("|" + "---|" * 12)
    serial = native_bfs(native, symmetry=True, por=True)
    print(f"| serial (this process) | - | {serial.states:,} | {serial.transitions:,} | {serial.seconds:.1f} | - "
          f"| {serial.states / serial.seconds:,.0f} | - | {serial.bytes_per_state * serial.states / 2**20:.0f} | - "
          "| - | - |", flush=True)
    for backend in args.backends:
        if backend == "ray" and find_spec("ray") is None:
            print("| ray | - | ray is not installed (pip install 'mmuspec[ray]'): not measured |")
            continue
        before = time.perf_counter()
        with ray_session("ray:local", cpus=max(args.partition_counts)) if backend == "ray" else \
                contextlib.nullcontext():
            session = time.perf_counter() - before
            for count in args.partition_counts:
                began = time.perf_counter()
                result, parts = partitioned_bfs(NativeKernel(kernel, native), factory, partitions=count,
                                                address="ray:local" if backend == "ray" else None, symmetry=True,
                                                por=True)
                start_up = time.perf_counter() - began - result.seconds + session
                session = 0.0  # the Ray session's start is the first run's
                held = [(p["table_bytes"] + p["link_bytes"] + p["frontier_bytes"]) / 2**20 for p in parts]
                print(f"| {backend} | {count} | {result.states:,} | {result.transitions:,} | {result.seconds:.1f} "
                      f"| {start_up:.1f} | {result.states / result.seconds:,.0f} "
                      f"| {min(p['states'] for p in parts):,}-{max(p['states'] for p in parts):,} | {max(held):.0f} "
                      f"| {max(p['rss'] for p in parts) / 2**20:.0f} "
                      f"({max(p['private'] for p in parts) / 2**20:.0f}) "
                      f"| {sum(p['sent_bytes'] for p in parts) / 2**20:.0f} "
                      f"| {'yes' if same(result, serial) else 'NO'} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small part of the grid")
    parser.add_argument("--big", action="store_true", help="only the >= 10 M-state run and the cluster run")
    parser.add_argument("--close", action="store_true",
                        help="medians of alternating runs where SPIN and mmuspec are close (see --config)")
    parser.add_argument("--config", action="append", metavar="SCENARIO:ERA:VxA",
                        help="with --close: a configuration, e.g. ksm-merge:5.13:3x2 (repeatable)")
    parser.add_argument("--repeat", type=int, default=5, help="with --close: runs of each tool (default 5)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run (default 300)")
    parser.add_argument("--scale", action="store_true",
                        help="serial, --threads, --partitions and SPIN (alone and -DNCORE) on 10-200 M states")
    parser.add_argument("--no-partitions", dest="partitions", action="store_false",
                        help="with --scale: skip the partitioned (Dask) runs")
    parser.add_argument("--partition-counts", type=int, nargs="+", default=[1, 2, 4], metavar="N",
                        help="with --scale: partitions for the memory-per-process table (default 1 2 4)")
    parser.add_argument("--backends", nargs="+", choices=("dask", "ray"), default=["dask", "ray"],
                        help="actors of the memory-per-process table (default: dask ray)")
    parser.add_argument("--partition-config", nargs=2, type=int, default=[3, 3], metavar=("VCPUS", "ACCESSES"),
                        help="ksm-merge 5.13 configuration of the memory-per-process table (default 3 3)")
    parser.add_argument("--partition-memory", action="store_true",
                        help="only the memory-per-process table of --scale (see --partition-counts)")
    args = parser.parse_args()
    args.partition_vcpus, args.partition_accesses = args.partition_config
    if args.partition_memory:
        memory_per_partition(args)
        return
    if args.scale and args.repeat == 5:
        args.repeat = 3
    SPIN["ready"] = not args.big and spin_ready()
    if args.scale:
        scale(args)
    elif args.big:
        big(args)
    elif args.close:
        close(args)
    else:
        grid(args)


if __name__ == "__main__":
    main()
