"""The quotients are exact, and so is partial-order reduction: same verdicts and
reachability, fewer states."""

import itertools

import pytest

from mmuspec.checking import NO_REDUCTIONS, Reductions, build_kernel, run_check
from mmuspec.model.layout import VCPU_FIELDS
from mmuspec.model.scenario import builtin_names
from tests.helpers import ARCHES, ERAS, SCENARIOS, outcome, reachable, runnable_spec, spec

EACH = {
    "symmetry": Reductions(True, False, False, False),
    "seq": Reductions(False, True, False, False),
    "values": Reductions(False, False, True, False),
    "por": Reductions(False, False, False, True),
    "all": Reductions(True, True, True, True),
}


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_reduction_keeps_the_verdict_and_every_reachability_answer(scenario, era, arch):
    the_spec = spec(scenario, era, f"arch={arch}", vcpus=2, accesses=1)
    _, plain = run_check(the_spec, reductions=NO_REDUCTIONS)
    for name, reductions in EACH.items():
        _, reduced = run_check(the_spec, reductions=reductions)
        assert outcome(reduced) == outcome(plain), name
        assert reduced.states <= plain.states, name
    assert reduced.states < plain.states


@pytest.mark.parametrize(
    ("scenario", "era", "sets"),
    [("ksm-merge", "2.6.32", ("kvm.change_pte=none", "mm.change_pte_fallback=none")),
     ("zap", "5.13", ("kvm.fault_retry_checks=seq_only",))],
)
def test_a_violation_found_over_representatives_replays_on_the_model_itself(scenario, era, sets):
    kernel, result = run_check(spec(scenario, era, *sets, vcpus=2), reductions=EACH["all"])
    state = kernel.initial()
    for action in result.violation.actions:
        state, events, _ = kernel.explain_action(state, action)
    assert events & 1 << [e.id for e in kernel.events].index(result.violation.event)


def reachable_representatives(kernel):
    return reachable(kernel.representative(kernel.initial()), kernel.canonical_successors)


@pytest.mark.parametrize("scenario", ["ksm-merge", "zap", "aging"])
def test_the_incremental_representative_equals_the_full_one(scenario):
    kernel = build_kernel(spec(scenario, "5.13", vcpus=2, accesses=2), EACH["all"])
    for s in reachable_representatives(kernel):
        assert kernel.representative(s) == s
        concrete = {a: n for a, n, _ in kernel.successors(s)}
        for a, n, _ in kernel.canonical_successors(s):
            assert kernel.representative(concrete[a]) == n


def test_permuting_the_vcpus_does_not_change_the_representative():
    kernel = build_kernel(spec("ksm-merge", "5.13", vcpus=3, accesses=1), EACH["all"])
    bases = [t.base for t in kernel.threads if t.kind == "vcpu"]
    w = len(VCPU_FIELDS)
    checked = 0
    for s in itertools.islice(reachable_representatives(kernel), 3000):
        blocks = [s[b : b + w] for b in bases]
        for order in itertools.permutations(blocks):
            permuted = s[: bases[0]] + b"".join(order) + s[bases[-1] + w :]
            assert kernel.representative(permuted) == s
            checked += 1
    assert checked == 3000 * 6


CAPABILITIES = [
    ("ksm-unstable", "5.13", ()), ("ksm-unstable", "glisse-2019", ("kvm.change_pte=update_in_place",)),
    ("host-cow", "2.6.32", ()), ("host-cow", "3.7", ()),
    ("oom-reaper", "5.10", ()), ("oom-reaper", "5.12", ()),
    ("memslot-create", "5.15", ("kvm.memslot_update_waits=false",)), ("memslot-create", "5.15", ()),
    ("memslot-delete-ksm", "6.3", ("arch=arm64",)), ("memslot-delete-ksm", "6.4", ("arch=arm64",)),
    ("zap-gfn-range", "5.15", ()), ("zap-gfn-range", "6.8", ()),
    ("seq-wrap", "6.1", ()), ("seq-wrap", "6.3", ()),
    ("vma-remap", "6.1", ("arch=arm64",)), ("vma-remap", "6.3", ("arch=arm64",)),
    ("tlbs-dirty", "5.10", ()), ("tlbs-dirty", "5.12", ()),
]


@pytest.mark.parametrize(("scenario", "era", "sets"), CAPABILITIES)
def test_each_reduction_keeps_every_answer_with_the_new_capabilities(scenario, era, sets):
    the_spec = spec(scenario, era, *sets, vcpus=2, accesses=1)
    _, plain = run_check(the_spec, reductions=NO_REDUCTIONS)
    for name, reductions in EACH.items():
        _, reduced = run_check(the_spec, reductions=reductions)
        assert outcome(reduced) == outcome(plain), name
        assert reduced.states <= plain.states, name


@pytest.mark.parametrize("name", builtin_names())
def test_each_reduction_keeps_every_answer_in_every_builtin_scenario(name):
    the_spec = runnable_spec(name)
    _, plain = run_check(the_spec, reductions=NO_REDUCTIONS)
    for label, reductions in EACH.items():
        _, reduced = run_check(the_spec, reductions=reductions)
        assert outcome(reduced) == outcome(plain), label
        assert reduced.states <= plain.states, label
