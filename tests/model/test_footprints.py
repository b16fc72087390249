"""The steps' declared footprints cover what the steps do, in every configuration.
(That partial-order reduction keeps every verdict is in ``test_symmetry.py``, with the
other reductions.)"""

from dataclasses import replace

import pytest

from mmuspec.checking import NO_REDUCTIONS, Reductions, run_check
from mmuspec.model import SWITCHES, Kernel, parse_variant
from mmuspec.model.footprints import (
    BIT,
    group_fields,
    record_steps,
    step_masks,
    unobserved_final_check,
)
from mmuspec.model.scenario import builtin_names
from tests.helpers import ARCHES, ERAS, SCENARIOS, kernel, reachable, runnable_spec, spec


def undeclared(k: Kernel) -> set[str]:
    """Explore ``k`` unreduced, recording every step; what a step touched beyond its
    declaration, as 'step reads/writes field' lines."""
    unobserved_final_check(k)
    owner = {f: name for name, group in group_fields(k.L).items() for f in group}
    ends = [th.base for th in k.threads[1:]] + [k.L.size]
    found: set[str] = set()

    def successors(s: bytes) -> list[tuple[int, bytes, int]]:
        out = []
        for th, end in zip(k.threads, ends, strict=True):
            own = range(th.base, end)
            for step in record_steps(k, s, th.index):
                reads, writes = step_masks(k, step.name)
                if step.following is not None:
                    out.append((step.action, step.following, step.events))
                for f in step.guard_reads | step.reads:
                    if f not in own and not (f in owner and reads & BIT[owner[f]]):
                        found.add(f"{step.name} reads {k.L.names[f]}")
                for f in step.writes:
                    if f not in own and not (f in owner and writes & BIT[owner[f]]):
                        found.add(f"{step.name} writes {k.L.names[f]}")
        return out

    for _ in reachable(k.initial(), successors):
        pass
    return found


def test_the_groups_cover_every_shared_field_once():
    k = kernel("aging", "5.13", vcpus=2)
    shared = [f for group in group_fields(k.L).values() for f in group]
    assert sorted(shared) == list(range(k.threads[0].base))


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_step_touches_only_its_own_thread_and_the_groups_it_declares(scenario, era, arch):
    assert undeclared(spec(scenario, era, f"arch={arch}", vcpus=2, accesses=1).kernel()) == set()


@pytest.mark.parametrize(
    "setting",
    [
        f"{name}={str(value).lower()}"
        for name, switch in SWITCHES.items()
        if name != "arch"
        for value in (switch.choices or (True, False))
    ],
)
@pytest.mark.parametrize("scenario", ["ksm-merge", "zap", "aging"])
def test_the_declarations_hold_with_any_one_switch_changed(scenario, setting):
    switch = SWITCHES[setting.split("=")[0]]
    arch = "x86" if switch.acts_on("x86") else switch.arches[0]
    assert undeclared(spec(scenario, "5.13", setting, f"arch={arch}", vcpus=1, accesses=2).kernel()) == set()


def test_a_missing_declaration_is_caught():
    peeks = (
        "from mmuspec.model.guest import direct_page_fault as _upstream\n"
        "def direct_page_fault(k, s, t, arg):\n    s[k.L.PTL]\n    _upstream(k, s, t, arg)\n"
    )
    the_spec = replace(spec("ksm-merge", "5.13", vcpus=2, accesses=1), variant=parse_variant(peeks, "peek.py"))
    assert undeclared(the_spec.kernel()) == {"direct_page_fault reads ptl"}


def test_a_variant_declares_nothing_so_it_is_searched_in_full():
    variant = parse_variant("def mmu_notifier_retry(k, s, snap):\n    return False\n", "trust.py")
    the_spec = replace(spec("ksm-merge", "glisse-2019", vcpus=2, accesses=1), variant=variant)
    assert the_spec.kernel().footprints() is None


def test_the_glisse_proposal_lets_ksmd_step_alone_through_its_notifier_calls():
    # Exact counts: persistent sets on top of the quotients, and alone.
    the_spec = spec("ksm-merge", "glisse-2019", vcpus=2, accesses=1)
    assert run_check(the_spec, reductions=Reductions(True, True, True, False))[1].states == 3_324
    assert run_check(the_spec, reductions=Reductions())[1].states == 2_419
    assert run_check(the_spec, reductions=Reductions(False, False, False, True))[1].states == 10_131
    assert run_check(the_spec, reductions=NO_REDUCTIONS)[1].states == 14_894


@pytest.mark.parametrize("arch", ["x86", "arm64"])
@pytest.mark.parametrize("era", ["2.6.32", "5.10", "5.15", "6.1", "6.3", "6.10", "glisse-2019"])
@pytest.mark.parametrize("scenario", ["ksm-unstable", "host-cow", "oom-reaper", "zap-gfn-range", "seq-wrap",
                                      "vma-remap"])
def test_the_new_capabilities_steps_touch_only_what_they_declare(scenario, era, arch):
    k = spec(scenario, era, f"arch={arch}", vcpus=1, accesses=1).kernel()
    assert k.footprints() is not None
    assert undeclared(k) == set()


@pytest.mark.parametrize("scenario", ["tlbs-dirty", "memslot-create"])
def test_a_tlb_or_a_memslot_updater_turns_partial_order_reduction_off(scenario):
    # TLB flushes write every vCPU's block; the memslot updater waits on the vCPUs' pcs.
    assert kernel(scenario, "5.15").footprints() is None


@pytest.mark.parametrize(("scenario", "era", "sets"), [
    ("aging", "6.15", ()),
    ("examples/scenarios/lockless-aging.toml", "6.15", ()),
    ("examples/scenarios/lockless-aging.toml", "6.15", ("kvm.lockless_aging=plain_write",)),
    ("zap", "6.8", ("kvm.fault_retry_checks=none",)),
    ("examples/scenarios/interval-remove-reaper.toml", "5.15", ()),
    ("examples/scenarios/oom-reaper-itree-narrow.toml", "6.10", ()),
])
def test_the_steps_of_lockless_aging_the_second_precheck_the_failed_end_and_narrow_intervals_touch_only_what_they_declare(
        scenario, era, sets):
    from pathlib import Path

    if scenario.startswith("examples/"):
        scenario = str(Path(__file__).resolve().parents[2] / scenario)
    k = spec(scenario, era, *sets).kernel()
    assert undeclared(k) == set()


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_scenarios_steps_touch_only_what_they_declare(name):
    k = runnable_spec(name).kernel()
    assert undeclared(k) == set()
