"""The table of named model functions: atomic steps and the helpers they call.

Every function of the model is registered here under its kernel name.  A model
instance binds them all as methods, so a variant file (a proposed patch) can
replace any of them by defining a function of the same name, and every caller,
step or helper, picks the replacement up.

A *step* is one atomic transition of one thread: one lock-protected section, or
one point where another thread can observe a change.  Its metadata says which
kernel function it mirrors and which lock it holds, for traces, and which groups of
shared fields (``footprints.GROUPS``) it may read and write in any configuration, for
partial-order reduction; ``tests/model/test_footprints.py`` checks those declarations
against what every step does.  A *helper* is a piece of a step (``kvm_set_spte_gfn``,
``put_page``) that runs inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Fn = Callable[..., Any]


@dataclass(frozen=True)
class StepInfo:
    name: str
    thread: str
    kernel: str
    lock: str
    guard: str | None
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    shared_if: str | None = None
    notifier: str | None = None


FUNCTIONS: dict[str, Fn] = {}
STEPS: dict[str, StepInfo] = {}


def helper(fn: Fn) -> Fn:
    """Register a helper under its own name."""
    FUNCTIONS[fn.__name__] = fn
    return fn


def step(
    thread: str,
    kernel: str,
    lock: str = "-",
    guard: Fn | None = None,
    *,
    reads: str = "",
    writes: str = "",
    shared_if: str | None = None,
    notifier: str | None = None,
) -> Callable[[Fn], Fn]:
    """Register an atomic step of ``thread``; ``guard`` (also a registered function) says
    when it is enabled, for steps that wait for a lock.  ``reads`` and ``writes`` name the
    shared field groups the step and its guard may touch; with ``shared_if`` (a switch the
    model holds as a boolean attribute) the step touches none of them when it is false.
    ``notifier`` marks a step that calls the notifier chain's range start (``"start"``, or
    ``"start_nonblock"`` for a non-blockable range) or end (``"end"``): where the scenario
    has subscribers whose callbacks are lock sections of their own (an interval tree, a
    pfn cache), those sections run as separate steps just before it (see
    ``notifier.py``), and its body does KVM's mmu_lock part."""

    def register(fn: Fn) -> Fn:
        FUNCTIONS[fn.__name__] = fn
        if guard is not None:
            FUNCTIONS[guard.__name__] = guard
        STEPS[fn.__name__] = StepInfo(
            fn.__name__, thread, kernel, lock, guard.__name__ if guard is not None else None,
            frozenset(reads.split()), frozenset(writes.split()), shared_if, notifier,
        )
        return fn

    return register
