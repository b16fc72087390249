"""Before a variant's search: both engines run its first states and must agree, and the
variant is compared with upstream.

A variant is the user's code, and the compiled core runs a C translation of it.  The
translator refuses what it does not know, but a reviewer should not have to trust that:
the first ``CROSS_CHECK_STATES`` states of the variant's model (its whole state space when
it is that small) are expanded by the interpreter and by the compiled core, successor by
successor, unreduced.  A difference ends the command (a bug in mmuspec) and names the step
and the variant's functions it reaches.

The same walk expands each state with the upstream model too.  When it covers the whole
reachable space and no state has other successors than upstream's, the variant changes
nothing observable in that configuration, and the check says so: a patch reviewed against
a scenario that never reaches it is not a proof that it is safe.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from types import CodeType, FunctionType
from typing import Any

from mmuspec.model import Kernel
from mmuspec.model.registry import STEPS
from mmuspec.native.search import NativeError

CROSS_CHECK_STATES = 3000


class EngineMismatch(Exception):
    """The compiled core and the interpreter disagree on a variant's step."""


@dataclass(frozen=True)
class VariantCheck:
    states: int  # states whose successors were compared
    whole: bool  # every reachable state (of the unreduced model) was compared
    compiled: bool  # whether the compiled core took part
    same_as_upstream: bool  # no compared state had other successors than upstream's

    def note(self) -> str:
        """One line for the report."""
        if self.compiled:
            where = (f"the whole search ({self.states:,} states)" if self.whole
                     else f"the first {self.states:,} states")
            engines = f"both engines agree on {where}"
        else:
            engines = ""
        if self.same_as_upstream and self.whole:
            upstream = (f"the variant changes nothing observable here: each of the {self.states:,} reachable "
                        "states has the same successors and events as upstream")
        elif self.same_as_upstream:
            upstream = f"no difference from upstream in the first {self.states:,} states"
        else:
            upstream = ""
        return "; ".join(p for p in (engines, upstream) if p)


def cross_check(kernel: Kernel, native: Any | None, budget: int = CROSS_CHECK_STATES) -> VariantCheck:
    """Expand up to ``budget`` states of ``kernel`` (a variant's model) breadth-first with the
    interpreter, the compiled core (``native``, if given) and the upstream model."""
    upstream = Kernel(kernel.scenario, kernel.config)
    init = kernel.initial()
    same = init == upstream.initial()
    seen = {init}
    queue = deque([init])
    expanded = 0
    while queue and expanded < budget:
        s = queue.popleft()
        expanded += 1
        theirs = None
        if native is not None:
            # The compiled core first: a loop that never ends stops there, on its budget, as
            # bad input (in the interpreter only Ctrl-C or --smoke's deadline could stop it).
            try:
                theirs = sorted(native.successors(s, canonical=False))
            except NativeError:
                native = None  # the interpreter says what Python says; the search falls back
        mine = sorted(kernel.successors(s))
        if theirs is not None and theirs != mine:
            raise EngineMismatch(_mismatch_text(kernel, s, mine, theirs))
        if same and sorted(upstream.successors(s)) != mine:
            same = False
        for _, n, _ in mine:
            if n not in seen:
                seen.add(n)
                queue.append(n)
    return VariantCheck(expanded, not queue, native is not None, same)


def _mismatch_text(kernel: Kernel, s: bytes, mine: list[tuple[int, bytes, int]],
                   theirs: list[tuple[int, bytes, int]]) -> str:
    ours = {a: (n, e) for a, n, e in mine}
    compiled = {a: (n, e) for a, n, e in theirs}
    action = min(a for a in set(ours) | set(compiled) if ours.get(a) != compiled.get(a))
    name = kernel.step_keys[action & 0xFF][0] if action in ours or action in compiled else "?"
    if action not in compiled:
        what = "the interpreter takes it and the compiled core does not"
    elif action not in ours:
        what = "the compiled core takes it and the interpreter does not"
    else:
        (n1, e1), (n2, e2) = ours[action], compiled[action]
        fields = [kernel.L.names[i] for i in range(len(n1)) if n1[i] != n2[i]]
        what = (f"they leave different {', '.join(fields)}" if fields else "")
        if e1 != e2:
            what += (" and " if what else "") + "they fire different events"
    variant = kernel.variant
    reached = sorted(reaches(kernel, name) & set(variant.functions)) if variant is not None else []
    via = f" (it reaches the variant's {', '.join(reached)})" if reached else ""
    return (f"the compiled and interpreted engines disagree on step {kernel.action_text(action)}{via} from "
            f"state {s.hex()}: {what}; run with --engine interpreted, and report this as a bug in mmuspec")


def reaches(kernel: Kernel, name: str) -> set[str]:
    """The model functions a step (with its guard) or a call of ``name`` may reach (itself
    included), by the names its code and the code it calls mention."""
    info = STEPS.get(name)
    found = {name} | ({info.guard} if info is not None and info.guard else set())
    todo = list(found)
    while todo:
        fn = kernel.functions.get(todo.pop())
        if not isinstance(fn, FunctionType):
            continue
        for word in _names(fn.__code__):
            if word in kernel.functions and word not in found:
                found.add(word)
                todo.append(word)
            alias = fn.__globals__.get(word)
            if isinstance(alias, FunctionType) and alias.__name__ in kernel.functions and alias.__name__ not in found:
                found.add(alias.__name__)
                todo.append(alias.__name__)
    return found


def _names(code: CodeType) -> set[str]:
    out = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            out |= _names(const)
    return out
