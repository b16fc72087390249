"""Progress: from every reachable state, can the system still reach a goal state?

A safety search sees each state once and cannot tell a loop that is left eventually
from one that is not.  This search keeps the whole state graph (state -> index, and
each state's successors), marks the goal states (the model's ``goal(state)``, e.g.
"every thread has finished"), and walks the edges backwards from them.  A reachable
state that no goal can be reached from is a violation: whatever the scheduler does from
there, the goal never comes.  Its witness is a *lasso*: a path into a *bottom* strongly
connected component of such states (one no step leaves: whatever the scheduler does,
the system stays there), then a cycle through it that repeats forever.  Choosing a
bottom component keeps the witness honest: the loop is not one thread spinning while
another that could still move is simply never scheduled.

The lasso is named for what its loop does.  A *deadlock*: every step of the loop is one the
model marks as "no thread can move" (``stuck_events``, the bits its stand-in step carries).
A *livelock*: the loop is made of real steps (a fault that retries, a device that
starts over) and none of them ever brings the goal nearer.

No fairness is assumed and none is needed: "no path reaches the goal" is stronger than
"some unfair schedule avoids it".  The graph is held in plain Python structures, so this
is for small configurations; ``max_states`` bounds it and an unfinished search decides
nothing.
"""

from __future__ import annotations

import time
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mmuspec.explore.api import Model

Goal = Callable[[bytes], bool]


@dataclass(frozen=True)
class Lasso:
    """Actions from the initial state to a state the goal cannot be reached from
    (``stem``), then actions that come back to the stem's last state (``loop``)."""

    stem: tuple[int, ...]
    loop: tuple[int, ...]
    kind: str = "livelock"  # or "deadlock": see the module's docstring

    @property
    def actions(self) -> tuple[int, ...]:
        return self.stem + self.loop


@dataclass(frozen=True)
class ProgressResult:
    states: int
    transitions: int
    seconds: float
    complete: bool
    doomed: int  # reachable states from which no goal state can be reached
    lasso: Lasso | None


def check_progress(model: Model, goal: Goal, *, max_states: int | None = None,
                   stuck_events: int = 0) -> ProgressResult:
    """Search the whole graph of ``model`` and find a state from which ``goal`` is
    unreachable, with a lasso witness; ``complete`` is False if ``max_states`` cut it.
    ``stuck_events``: the event bits of the model's "no thread can move" step."""
    start = time.perf_counter()
    init = model.initial()
    index: dict[bytes, int] = {init: 0}
    states = [init]
    parent = array("i", [-1])
    via = array("i", [-1])
    first = array("q", [0])  # successors of state i: targets[first[i]:first[i + 1]]
    targets = array("i")
    actions = array("i")
    stuck = bytearray()  # per edge: whether it carries a stuck event
    complete = True
    i = 0
    while i < len(states):
        if max_states is not None and len(states) > max_states:
            complete = False
            break
        for action, nxt, events in model.successors(states[i]):
            j = index.get(nxt)
            if j is None:
                j = index[nxt] = len(states)
                states.append(nxt)
                parent.append(i)
                via.append(action)
            targets.append(j)
            actions.append(action)
            stuck.append(1 if events & stuck_events else 0)
        first.append(len(targets))
        i += 1
    explored = i
    if not complete:
        return ProgressResult(len(states), len(targets), time.perf_counter() - start, False, 0, None)

    alive = _can_reach(explored, first, targets, [goal(s) for s in states])
    doomed = [s for s in range(explored) if not alive[s]]
    lasso = None
    if doomed:
        bottom = _bottom_component(doomed, first, targets)
        entry = min(bottom)  # breadth-first numbering: the shortest way in
        loop, edges = _cycle_within(entry, bottom, first, targets, actions)
        kind = "deadlock" if edges and all(stuck[e] for e in edges) else "livelock"
        lasso = Lasso(tuple(_path(parent, via, entry)), tuple(loop), kind)
    return ProgressResult(explored, len(targets), time.perf_counter() - start, True, len(doomed), lasso)


def _bottom_component(doomed: list[int], first: array[int], targets: array[int]) -> set[int]:
    """A strongly connected component of the doomed states that no edge leaves, the one
    with the smallest state number (nearest the initial state).  Successors of a doomed
    state are doomed, so the doomed subgraph is closed and has at least one."""
    best: set[int] | None = None
    for component in _components(doomed, first, targets):
        members = set(component)
        closed = all(targets[e] in members for u in component for e in range(first[u], first[u + 1]))
        if closed and (best is None or min(members) < min(best)):
            best = members
    assert best is not None
    return best


def _components(nodes: list[int], first: array[int], targets: array[int]) -> list[list[int]]:
    """Tarjan's strongly connected components of the subgraph on ``nodes``, iteratively."""
    inside = set(nodes)
    number: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    out: list[list[int]] = []
    for root in nodes:
        if root in number:
            continue
        work = [(root, first[root])]
        number[root] = low[root] = len(number)
        stack.append(root)
        on_stack.add(root)
        while work:
            u, e = work[-1]
            if e < first[u + 1]:
                work[-1] = (u, e + 1)
                v = targets[e]
                if v not in inside:
                    continue
                if v not in number:
                    number[v] = low[v] = len(number)
                    stack.append(v)
                    on_stack.add(v)
                    work.append((v, first[v]))
                elif v in on_stack:
                    low[u] = min(low[u], number[v])
                continue
            work.pop()
            if work:
                parent_node = work[-1][0]
                low[parent_node] = min(low[parent_node], low[u])
            if low[u] == number[u]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == u:
                        break
                out.append(component)
    return out


def _cycle_within(entry: int, members: set[int], first: array[int], targets: array[int],
                  actions: array[int]) -> tuple[list[int], list[int]]:
    """The shortest nonempty path of actions from ``entry`` back to itself inside a strongly
    connected component (a terminal state loops on itself: the model's deadlock step), and
    the edges it takes."""
    prev: dict[int, tuple[int, int]] = {}
    queue = deque([entry])
    seen = {entry}
    while queue:
        u = queue.popleft()
        for e in range(first[u], first[u + 1]):
            v = targets[e]
            if v not in members:
                continue
            if v == entry:
                edges = [e]
                while u != entry:
                    p, pe = prev[u]
                    edges.append(pe)
                    u = p
                edges.reverse()
                return [actions[x] for x in edges], edges
            if v not in seen:
                seen.add(v)
                prev[v] = (u, e)
                queue.append(v)
    return [], []  # a single state with no step at all: it stays there


def _can_reach(n: int, first: array[int], targets: array[int], goals: list[bool]) -> np.ndarray:
    """Which of the ``n`` states can reach a goal state: a backward search over the edges."""
    bounds = np.asarray(first, dtype=np.int64)
    src = np.repeat(np.arange(n), bounds[1:] - bounds[:-1])
    dst = np.frombuffer(targets, dtype=np.int32)
    order = np.argsort(dst, kind="stable")
    by_dst, from_src = dst[order], src[order]
    starts = np.searchsorted(by_dst, np.arange(n + 1))
    alive = np.zeros(n, dtype=bool)
    queue = deque(s for s in range(n) if goals[s])
    for s in queue:
        alive[s] = True
    while queue:
        s = queue.popleft()
        for p in from_src[starts[s] : starts[s + 1]].tolist():
            if not alive[p]:
                alive[p] = True
                queue.append(p)
    return alive


def _path(parent: array[int], via: array[int], state: int) -> list[int]:
    """The actions from the initial state to ``state``."""
    out: list[int] = []
    while parent[state] >= 0:
        out.append(via[state])
        state = parent[state]
    out.reverse()
    return out
