"""Shared helpers: build a model and search it, as `mmuspec check` does."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from mmuspec.checking import CheckSpec, run_check
from mmuspec.explore import SearchResult
from mmuspec.model import Kernel, load_scenario, parse_assignments

SCENARIOS = ("ksm-merge", "cow-break", "zap", "aging")
ERAS = ("2.6.32", "3.7", "5.13", "6.10", "glisse-2019")
ARCHES = ("x86", "arm64", "ppc", "mips")


def spec(scenario: str, era: str = "5.13", *sets: str, vcpus: int | None = None,
         accesses: int | None = None) -> CheckSpec:
    sc = load_scenario(scenario).scaled(vcpus, accesses)
    return CheckSpec(sc, era, parse_assignments(sets))


def check(scenario: str, era: str = "5.13", *sets: str, vcpus: int | None = None,
          accesses: int | None = None, first: bool = False) -> SearchResult:
    _, result = run_check(spec(scenario, era, *sets, vcpus=vcpus, accesses=accesses), stop_on_violation=first)
    return result


def kernel(scenario: str, era: str = "5.13", *sets: str, vcpus: int | None = None) -> Kernel:
    return spec(scenario, era, *sets, vcpus=vcpus).kernel()


def reachable(start: bytes, successors: Callable[[bytes], list[tuple[int, bytes, int]]]) -> Iterator[bytes]:
    """Every state reachable from ``start`` through ``successors``, in breadth-first order."""
    seen, queue = {start}, deque([start])
    while queue:
        s = queue.popleft()
        yield s
        for _, n, _ in successors(s):
            if n not in seen:
                seen.add(n)
                queue.append(n)


def outcome(result: SearchResult) -> tuple[object, ...]:
    """What a reduction must not change: the verdict, the violated property, the
    warnings, and the answer to every reachability question."""
    return (
        result.verdict,
        result.violation.event if result.violation else None,
        tuple(w.event for w in result.warnings),
        tuple(sorted((e, result.reachable(e)) for e in result.event_kinds)),
    )


def run_cli(capsys, *argv):
    """``mmuspec ARGV`` in this process: (exit status, stdout, stderr); an argparse error's
    SystemExit counts as the status it carries."""
    from mmuspec.cli import main

    try:
        status = main(list(argv))
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def runnable_spec(name: str, eras: tuple[str, ...] = ("6.10", "5.13"),
                  sizes: tuple[tuple[int | None, int | None], ...] = ((2, 1), (None, None))) -> CheckSpec:
    """Scenario ``name`` at the first era and size (vCPUs, accesses) the model accepts."""
    from mmuspec.errors import MmuspecError

    for era in eras:
        for vcpus, accesses in sizes:
            try:
                the_spec = spec(name, era, vcpus=vcpus, accesses=accesses)
                the_spec.kernel()
                return the_spec
            except MmuspecError:
                continue
    raise AssertionError(f"{name} runs in none of {eras}")
