"""How much could partial-order reduction save on this model, with footprints far more
precise than the declared ones?  Measured, beside what the checker's own reduction saves.

Partial-order reduction skips interleavings of steps that commute.  Whether two steps
commute follows from their footprints (the fields each reads and writes), and a sound
reduction must also know what the other threads may *still* do.  This script gives the
reduction better footprints than any declaration could:

* every step's reads and writes are recorded field by field as it runs, in the state it
  runs in (``RecordingState``);
* what another thread may still do is the union of the footprints its steps were seen to
  have, over the whole state space explored first, at every program counter it can still
  reach (a declared footprint would have to cover at least that much).

With these it explores the unreduced state space twice more:

* **persistent sets** (one thread at a time): in a state, take only thread T's steps when
  no field they write is read or written by anything another thread may still do, no field
  they read is written by it, and none of them moves T's program counter back (the cycle
  proviso: every cycle then passes through a fully expanded state);
* **sleep sets**: a step is not taken again from a state reached through a step that
  commutes with it there (same footprint test), since the other order already covers it.

The first shows what a persistent-set (or stubborn-set, or ample-set) reduction of one
thread at a time could save with exact footprints; the second what sleep sets could save
in transitions (they save no states).  Each row
also says whether the reduced search found the same events as the full one, and puts the
checker's own reduction (``mmuspec check --reduce por``: declared footprints over groups of
fields, whole programs for the other threads) beside them.

Reads made by the final check (when every thread has finished, each page must hold the
guest's last write) are left out of the footprints: that check depends only on the final
state, and persistent sets keep every final state.

    python benchmarks/por_bound.py                         # 4 scenarios x 4 eras, 2 vCPUs x 1 access
    python benchmarks/por_bound.py --vcpus 2 --accesses 2 --scenario ksm-merge --era 5.13
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from mmuspec.checking import CheckSpec, Reductions, run_check
from mmuspec.model import Kernel, load_scenario
from mmuspec.model.footprints import record_steps, unobserved_final_check

SCENARIOS = ("ksm-merge", "cow-break", "zap", "aging")
ERAS = ("2.6.32", "5.13", "6.10", "glisse-2019")

Fields = frozenset[int]


@dataclass
class Step:
    action: int
    reads: set[int]
    writes: set[int]
    following: bytes
    events: int


def thread_steps(kernel: Kernel, s: bytes, t: int) -> tuple[set[int], list[Step]]:
    """Thread ``t``'s enabled steps in ``s`` with their footprints, and the fields read by
    the guards of its steps (another thread writing them could wake a waiting one)."""
    recorded = record_steps(kernel, s, t)
    guard_reads = set().union(*(r.guard_reads for r in recorded))
    steps = [
        Step(r.action, set(r.reads) | guard_reads, set(r.writes), r.following, r.events)
        for r in recorded
        if r.following is not None
    ]
    return guard_reads, steps


def all_steps(kernel: Kernel, s: bytes) -> list[Step]:
    return [step for t in range(len(kernel.threads)) for step in thread_steps(kernel, s, t)[1]]


def commute(a: Step, b: Step) -> bool:
    return not (a.writes & (b.reads | b.writes) or b.writes & a.reads)


def explore(kernel: Kernel, expand: Callable[[bytes], list[tuple[int, bytes, int]]]) -> tuple[int, int, int]:
    """Breadth-first: (states, transitions, events seen)."""
    init = kernel.initial()
    seen, frontier, transitions, events = {init}, [init], 0, 0
    while frontier:
        following = []
        for s in frontier:
            for _action, n, ev in expand(s):
                transitions += 1
                events |= ev
                if n not in seen:
                    seen.add(n)
                    following.append(n)
        frontier = following
    return len(seen), transitions, events


def learn_futures(kernel: Kernel) -> dict[tuple[int, int], tuple[Fields, Fields]]:
    """For each (thread, pc): what the thread's steps may read and write from there on,
    as seen over the whole unreduced state space."""
    here: dict[tuple[int, int], tuple[set[int], set[int]]] = defaultdict(lambda: (set(), set()))
    edges: dict[tuple[int, int], set[int]] = defaultdict(set)

    def expand(s: bytes) -> list[tuple[int, bytes, int]]:
        out = []
        for t, th in enumerate(kernel.threads):
            guard_reads, steps = thread_steps(kernel, s, t)
            reads, writes = here[(t, s[th.base])]
            reads |= guard_reads
            for step in steps:
                reads |= step.reads
                writes |= step.writes
                edges[(t, s[th.base])].add(step.following[th.base])
                out.append((step.action, step.following, step.events))
        return out

    explore(kernel, expand)
    futures = {}
    for t, pc in list(here):
        reads, writes, todo, done = set(), set(), [pc], set()
        while todo:
            p = todo.pop()
            if p in done:
                continue
            done.add(p)
            r, w = here.get((t, p), (set(), set()))
            reads |= r
            writes |= w
            todo.extend(edges.get((t, p), ()))
        futures[(t, pc)] = (frozenset(reads), frozenset(writes))
    return futures


def persistent_sets(kernel: Kernel, futures: dict[tuple[int, int], tuple[Fields, Fields]]) -> tuple[int, int, int]:
    none: tuple[Fields, Fields] = (frozenset(), frozenset())

    def expand(s: bytes) -> list[tuple[int, bytes, int]]:
        for t, th in enumerate(kernel.threads):
            guard_reads, steps = thread_steps(kernel, s, t)
            if not steps or any(step.following[th.base] <= s[th.base] for step in steps):
                continue
            reads = set(guard_reads).union(*(step.reads for step in steps))
            writes = set().union(*(step.writes for step in steps))
            alone = True
            for u, other in enumerate(kernel.threads):
                if u == t:
                    continue
                fr, fw = futures.get((u, s[other.base]), none)
                if fw & reads or fw & writes or fr & writes:
                    alone = False
                    break
            if alone:
                return [(step.action, step.following, step.events) for step in steps]
        return kernel.successors(s)

    return explore(kernel, expand)


def sleep_sets(kernel: Kernel) -> tuple[int, int]:
    """Breadth-first with sleep sets: (states, transitions taken).  A state reached again
    with a smaller sleep set takes the steps that woke up, and only those."""
    init = kernel.initial()
    sleep: dict[bytes, frozenset[int]] = {init: frozenset()}
    taken: dict[bytes, set[int]] = defaultdict(set)
    frontier, transitions = [init], 0
    while frontier:
        following: dict[bytes, None] = {}
        for s in frontier:
            steps = {step.action: step for step in all_steps(kernel, s)}
            asleep = sleep[s]
            before: list[int] = []
            for action, step in steps.items():
                if action in asleep:
                    continue
                if action not in taken[s]:
                    taken[s].add(action)
                    transitions += 1
                child_sleep = frozenset(
                    b for b in (*asleep, *before)
                    if b in steps and b >> 8 != action >> 8 and commute(steps[b], step)
                )
                before.append(action)
                n = step.following
                if n not in sleep:
                    sleep[n] = child_sleep
                    following[n] = None
                elif not sleep[n] <= child_sleep:
                    sleep[n] &= child_sleep
                    following[n] = None
        frontier = list(following)
    return len(sleep), transitions


def measure(scenario: str, era: str, vcpus: int, accesses: int) -> list[str]:
    spec = CheckSpec(load_scenario(scenario).scaled(vcpus, accesses), era)
    _, declared = run_check(spec, reductions=Reductions(False, False, False, True))
    kernel = spec.kernel()
    kernel.set_reductions(vcpus=False, seq=False, values=False)
    unobserved_final_check(kernel)
    start = time.perf_counter()
    states, transitions, events = explore(kernel, kernel.successors)
    futures = learn_futures(kernel)
    p_states, _p_transitions, p_events = persistent_sets(kernel, futures)
    s_states, s_transitions = sleep_sets(kernel)
    assert s_states == states, "sleep sets must keep every state"
    return [
        scenario, era, f"{vcpus}x{accesses}", f"{states:,}", f"{declared.states:,}",
        f"{1 - declared.states / states:.1%}", f"{p_states:,}", f"{1 - p_states / states:.1%}",
        "yes" if p_events == events else "NO", f"{transitions:,}", f"{s_transitions:,}",
        f"{1 - s_transitions / transitions:.1%}", f"{time.perf_counter() - start:.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", action="append", help="a scenario (repeatable; default: all four)")
    parser.add_argument("--era", action="append", help="an era (repeatable; default: 2.6.32 5.13 6.10 glisse-2019)")
    parser.add_argument("--vcpus", type=int, default=2)
    parser.add_argument("--accesses", type=int, default=1)
    args = parser.parse_args()
    header = [
        "scenario", "era", "size", "states", "--reduce por", "saved", "exact footprints", "saved", "same events",
        "transitions", "transitions, sleep sets", "saved", "s",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for scenario in args.scenario or SCENARIOS:
        for era in args.era or ERAS:
            print("| " + " | ".join(measure(scenario, era, args.vcpus, args.accesses)) + " |", flush=True)


if __name__ == "__main__":
    main()
