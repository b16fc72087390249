"""How often do the enabled steps of different threads commute?  An upper bound on what
partial-order reduction could save.

It explores a configuration breadth first without reductions (up to ``--states``),
samples states, and for every pair of enabled steps of different threads runs both
orders: the pair commutes when both orders reach the same state with the same events.
A state where some thread's steps commute with every other enabled step and raise no
event is one where a persistent set of that one thread *might* be enough, if what the
other threads may still do later is independent too: that part is not checked here.

    python benchmarks/commuting_steps.py                          # ksm-merge 5.13 2x2
    python benchmarks/commuting_steps.py cow-break --era 3.7 --vcpus 3 --accesses 1
"""

from __future__ import annotations

import argparse
import random
from collections import Counter

from mmuspec.checking import CheckSpec
from mmuspec.model import Kernel, load_scenario


def reachable(kernel: Kernel, limit: int) -> list[bytes]:
    init = kernel.initial()
    seen, frontier, order = {init}, [init], []
    while frontier and len(seen) < limit:
        following = []
        for s in frontier:
            order.append(s)
            for _action, t, _ev in kernel.successors(s):
                if t not in seen:
                    seen.add(t)
                    following.append(t)
        frontier = following
    return order


def step_name(kernel: Kernel, action: int) -> str:
    return kernel.action_parts(action)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", default="ksm-merge")
    parser.add_argument("--era", default="5.13")
    parser.add_argument("--vcpus", type=int, default=2)
    parser.add_argument("--accesses", type=int, default=2)
    parser.add_argument("--states", type=int, default=200_000, help="explore at most this many states")
    parser.add_argument("--sample", type=int, default=20_000, help="states to test (default 20000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    scenario = load_scenario(args.scenario).scaled(args.vcpus, args.accesses)
    kernel = CheckSpec(scenario, args.era).kernel()
    kernel.set_reductions(vcpus=False, seq=False, values=False)
    states = reachable(kernel, args.states)
    sample = random.Random(args.seed).sample(states, min(args.sample, len(states)))

    pairs = commuting = several = candidates = 0
    apart: Counter[tuple[str, ...]] = Counter()
    for s in sample:
        succ = {action: (t, ev) for action, t, ev in kernel.successors(s)}
        threads: dict[int, list[int]] = {}
        for action in succ:
            threads.setdefault(action >> 8, []).append(action)
        if len(threads) < 2:
            continue
        several += 1
        alone = dict.fromkeys(threads, True)
        after = {action: {a: (t, ev) for a, t, ev in kernel.successors(succ[action][0])} for action in succ}
        for a in succ:
            for b in succ:
                if a >> 8 >= b >> 8:
                    continue
                pairs += 1
                ab, ba = after[a].get(b), after[b].get(a)
                if ab and ba and ab[0] == ba[0] and succ[a][1] | ab[1] == succ[b][1] | ba[1]:
                    commuting += 1
                else:
                    alone[a >> 8] = alone[b >> 8] = False
                    apart[tuple(sorted((step_name(kernel, a), step_name(kernel, b))))] += 1
        if any(ok and not any(succ[a][1] for a in threads[t]) for t, ok in alone.items()):
            candidates += 1

    print(f"{args.scenario} era {args.era} {args.vcpus}x{args.accesses}: {len(states):,} states explored, "
          f"{len(sample):,} sampled, {several:,} with two or more threads enabled")
    print(f"pairs of enabled steps of different threads: {pairs:,}; commuting: {commuting:,} "
          f"({commuting / max(pairs, 1):.1%})")
    print(f"states where one thread commutes with all others and raises no event: {candidates:,} "
          f"({candidates / max(several, 1):.1%})")
    print("pairs that most often do not commute:")
    for names, n in apart.most_common(8):
        print(f"  {n:>7,}  {' / '.join(names)}")


if __name__ == "__main__":
    main()
