"""Corpus counterexamples as real tests: a harness run on the kernel with the fix reverted and as shipped.

Each reproducer names a harness (a standalone C file in ``harness/``, TAP output, in the
style of tools/testing/selftests), the kernel that lacks the fix (``before``: the fix
reverted by a patch in ``patches/``, or a shipped kernel that never had it) and the
kernel that has it (``after``).  The test must fail on the first and pass on the second.
Where no userspace lever reaches a step of the model's counterexample, the ``levers``
patch adds pauses or a start value at the model's step boundaries, inert unless a test
writes its module parameter; it is applied to both kernels, so the fix is the only
difference.

``outcome`` decides a run from what the guest printed: the harness's TAP lines and exit
status, and the console for an oops, which ends a run before the harness can report.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmuspec.emulate.boot import Job
from mmuspec.emulate.kernels import KernelSpec, root
from mmuspec.emulate.serial import BootOutput
from mmuspec.errors import UsageError

NBFAIL = "mmuspec_nbfail"  # also provides /proc/mmuspec_pairs
OOPS = re.compile(r"general protection fault|BUG: |Oops|Kernel panic|kernel BUG|KASAN|Poison overwritten|"
                  r"INFO: task .* blocked for more than")


@dataclass(frozen=True)
class Reproducer:
    id: str  # the corpus entry (B14: the leak found by the review, model-review-2 §D)
    title: str
    fix: str  # the commit (or stable update) that fixed it
    harness: str  # harness/NAME.c
    before: KernelSpec
    after: KernelSpec
    args: tuple[str, ...] = ()
    append: str = ""  # kernel command line for both boots
    timeout: float = 900  # seconds for one boot, build not included
    setup: str = ""  # shell lines before the harness (insmod ...)
    needs_kvm: bool = False  # the harness runs a guest under the emulated kernel's KVM

    def job(self) -> Job:
        script = f"{self.setup}\nsection repro-{self.id} /bin/{self.harness} {' '.join(self.args)}\n"
        return Job(f"repro-{self.id}", script, needs_kvm=self.needs_kvm)


LEVERS = "levers"
PFNCACHE_LEVERS = "pfncache-levers"
REPRODUCERS: dict[str, Reproducer] = {r.id: r for r in (
    Reproducer(
        "B2", "mm/mmu_notifiers: ensure range_end() is paired with range_start()",
        "c2655835fd8c", "b2-range-end-pairing",
        before=KernelSpec("6.1", ("revert-c2655835fd8c",), (NBFAIL,)),
        after=KernelSpec("6.1", (), (NBFAIL,)), setup=f"insmod /lib/modules/{NBFAIL}.ko"),
    Reproducer(
        "B6", "KVM: x86/mmu: Fix an sign-extension bug with mmu_seq that hangs vCPUs",
        "6.1.y stable (int mmu_seq -> unsigned long)", "b6-mmu-seq-sign",
        before=KernelSpec("6.1", (LEVERS, "revert-b6-mmu-seq-unsigned-long")),
        after=KernelSpec("6.1", (LEVERS,)), args=("3",), timeout=1200, needs_kvm=True),
    Reproducer(
        "B11", "mm/mmu_notifier.c: fix race in mmu_interval_notifier_remove()",
        "319561669a59", "b11-interval-remove",
        before=KernelSpec("6.1", (LEVERS, "revert-319561669a59")),
        after=KernelSpec("6.1", (LEVERS,)), append="slub_debug=P"),
    Reproducer(
        "B12", "KVM: Fix multiple races in gfn=>pfn cache refresh",
        "58cd407ca4c6 (its retry rule reverted in 6.1.192)", "b12-pfncache-refresh",
        before=KernelSpec("6.1", (PFNCACHE_LEVERS, "revert-58cd407ca4c6-retry-rule")),
        after=KernelSpec("6.1", (PFNCACHE_LEVERS,)), needs_kvm=True),
    Reproducer(
        # The fix is in v6.18, not in 6.12.118: the kernel before is 6.12.118 as shipped,
        # the kernel after the same with the fix's one hunk applied.
        "B13", "KVM: x86/mmu: Return -EAGAIN if userspace deletes/moves memslot during prefault",
        "3ccbf6f47098 (v6.18; applied to 6.12.118)", "b13-prefault-memslot-delete",
        before=KernelSpec("6.12"), after=KernelSpec("6.12", ("prefault-eagain-3ccbf6f47098",)),
        args=("10",), needs_kvm=True),
    Reproducer(
        "B14", "mm/mmu_notifier: finish non-blocking interval invalidation on error (the OOM reaper leak)",
        "6.12.118 stable; mmuspec's one-line proposal on 6.1", "nb-itree-leak",
        before=KernelSpec("6.12", ("revert-itree-end-on-hlist-failure",), (NBFAIL,)),
        after=KernelSpec("6.12", (), (NBFAIL,)), args=("15",),
        setup=f"insmod /lib/modules/{NBFAIL}.ko"),
    Reproducer(
        "B14-6.1", "the same leak on 6.1.192 as shipped, and mmuspec's one-line fix on it",
        "mmuspec's proposal (model-review-2 §D)", "nb-itree-leak",
        before=KernelSpec("6.1", (), (NBFAIL,)),
        after=KernelSpec("6.1", ("itree-end-on-hlist-failure",), (NBFAIL,)), args=("15",),
        setup=f"insmod /lib/modules/{NBFAIL}.ko"),
)}


def find(repro_id: str) -> Reproducer:
    try:
        return REPRODUCERS[repro_id]
    except KeyError:
        raise UsageError(f"no reproducer {repro_id!r}; known: {', '.join(REPRODUCERS)}") from None


@dataclass
class Outcome:
    verdict: str  # pass, fail, skip, error
    reason: str
    attempts: int | None
    seconds: float | None  # the harness's run time (to the failure, when it failed)
    tap: list[str]


# "# attempt N at T s" starts an attempt; "# attempt N at T s: ..." names the moment it failed
# (B6: the guest's last write), which is then the time to the failure.
_ATTEMPT = re.compile(r"^# attempt (\d+) at ([\d.]+) s(:)?")
_PRINTK_TIME = re.compile(r"^\[\s*(\d+\.\d+)\]")


def _since(console_line: str, start: float | None) -> float | None:
    """Seconds from the harness's start (guest uptime) to a console line's printk time."""
    match = _PRINTK_TIME.match(console_line)
    return None if match is None or start is None else round(float(match.group(1)) - start, 2)


def outcome(output: BootOutput, console: str, repro_id: str, timed_out: bool) -> Outcome:
    """Decide a run: TAP and exit status when the harness finished, the console when it did not."""
    section = output.sections.get(f"repro-{repro_id}")
    lines = section.lines if section else []
    tap = [x for x in lines if x.startswith(("ok ", "not ok ", "#", "1..", "TAP version"))]
    matches = [m for m in map(_ATTEMPT.match, lines) if m]
    attempts = [(int(m.group(1)), float(m.group(2))) for m in matches]
    failed_at = next((float(m.group(2)) for m in matches if m.group(3)), None)  # the first failure
    count = attempts[-1][0] if attempts else (1 if section else None)
    seconds = section.seconds if section else None
    oops = OOPS.search(console)
    if section is None:
        return Outcome("error", "the harness never started" + (" (boot timed out)" if timed_out else ""),
                       None, None, tap)
    if section.rc is None:
        if oops:
            line = next(x for x in console.splitlines() if OOPS.search(x)).strip()
            return Outcome("fail", f"the kernel oopsed during the harness: {line}", count,
                           _since(line, section.start), tap)
        return Outcome("error", "the harness did not finish" + (" (boot timed out)" if timed_out else ""),
                       count, None, tap)
    failed = [x for x in tap if x.startswith("not ok")]
    if failed:
        return Outcome("fail", failed[0], count, failed_at if failed_at is not None else seconds, tap)
    if section.rc == 4 or any("# SKIP" in x for x in tap):
        return Outcome("skip", next((x for x in tap if "SKIP" in x), "skipped"), count, seconds, tap)
    if section.rc == 0 and any(x.startswith("ok ") for x in tap):
        if oops:
            line = next(x for x in console.splitlines() if OOPS.search(x)).strip()
            return Outcome("fail", f"the harness passed but the kernel reported: {line}", count, seconds, tap)
        return Outcome("pass", [x for x in tap if x.startswith("ok ")][-1], count, seconds, tap)
    return Outcome("error", f"harness exit status {section.rc} without a TAP verdict", count, seconds, tap)


def results_path() -> Path:
    return root() / "repro" / "results.json"


def load_results() -> list[dict[str, Any]]:
    path = results_path()
    return json.loads(path.read_text()) if path.exists() else []


def record(entry: dict[str, Any]) -> None:
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [*load_results(), {**entry, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, indent=1) + "\n")
    tmp.replace(path)


def listing(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each reproducer with its kernels and the last outcome recorded on each."""
    rows = []
    for r in REPRODUCERS.values():
        runs = {}
        for side, spec in (("before", r.before), ("after", r.after)):
            last = [e for e in results if e.get("id") == r.id and e.get("side") == side]
            runs[side] = {"kernel": spec.label(), "expect": "fail" if side == "before" else "pass",
                          "last": last[-1] if last else None}
        rows.append({"id": r.id, "title": r.title, "fix": r.fix, "harness": f"{r.harness}.c",
                     "kvm_in_guest": r.needs_kvm, **runs})
    return rows
