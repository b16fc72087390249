"""guest_memfd as a second source of invalidations (gmem.py): begin only if a binding
overlaps, end only if one is found, bindings stable under filemap_invalidate_lock; the
file's release; gmem-only memslots; v6.18's host mmap of the file, which reaches one gfn
through both invalidation paths.  Pinned state counts on small configurations."""

from dataclasses import replace

import pytest

from mmuspec.checking import NO_REDUCTIONS, CheckSpec, Reductions, run_check
from mmuspec.errors import InputError, UsageError
from mmuspec.model import load_scenario, parse_assignments, parse_scenario
from mmuspec.model.gmem import GP_END, GP_REMOVE
from mmuspec.model.layout import PC
from tests.helpers import kernel, outcome, reachable
from tests.model.test_footprints import undeclared

BASE = """
[memory]
gfns = 1
initial = ["anon"]
[guest]
vcpus = 1
accesses = 2
ops = ["read", "write"]
[check]
quiescence = true
[gmem]
punch_hole = [0]
"""


def scenario(extra="", name="g"):
    return parse_scenario(BASE + extra, f"{name}.toml", name)


def search(sc, era="6.10", *sets, reductions=NO_REDUCTIONS):
    _, result = run_check(CheckSpec(sc, era, parse_assignments(sets)), reductions=reductions)
    return result


# Reachable states and transitions of the unreduced model.
PINNED = {
    ("gmem", "6.8", ()): (1195, 2035),
    ("gmem", "6.10", ()): (1195, 2035),
    ("gmem", "6.10", ("arch=arm64",)): (1281, 2229),  # arm64 frees the last-level table
}


@pytest.mark.parametrize(("name", "era", "sets"), list(PINNED))
def test_the_gmem_scenario_has_the_pinned_state_space_and_is_safe(name, era, sets):
    result = search(load_scenario(name), era, *sets)
    assert (result.states, result.transitions) == PINNED[(name, era, sets)]
    assert result.verdict == "safe"


@pytest.mark.parametrize("era", ["5.13", "6.1", "6.4"])
def test_an_era_before_guest_memfd_refuses_the_scenario_in_one_line(era):
    with pytest.raises(UsageError, match=r"a7800aa80ea4, v6\.8"):
        CheckSpec(load_scenario("gmem"), era).kernel()


def test_a_host_mapping_of_the_file_needs_the_v6_18_guest_memfd():
    sc = scenario("mmap = true\nhost_accesses = 1\n")
    with pytest.raises(UsageError, match=r"v6\.18"):
        CheckSpec(sc, "6.10").kernel()
    assert search(sc, "6.10", "kvm.guest_memfd=mmap").verdict == "safe"


def test_begin_raises_the_count_only_if_a_binding_overlaps_and_end_lowers_it_only_if_one_is_found():
    k = kernel("gmem", "6.10")  # no memslot thread: the binding always exists
    L = k.L
    s = bytearray(k.initial())
    k.kvm_gmem_invalidate_begin(s, 0, 1)
    assert s[L.COUNT] == 1
    sc = scenario('slot = "create"\n')
    k = CheckSpec(sc, "6.10").kernel()
    s = bytearray(k.initial())
    assert s[k.L.GMEM_BOUND] == 0
    k.kvm_gmem_invalidate_begin(s, 0, 1)
    assert s[k.L.COUNT] == 0
    punch = next(t for t in k.threads if t.kind == "gmem")
    s[punch.base + PC] = GP_END
    s[k.L.GMEM_BOUND] = 1  # bound behind the lock's back
    k.kvm_gmem_invalidate_end(s, punch.index, 0)
    assert k.ev  # mmu_notifier_count_negative: an end without a begin


def test_the_punch_hole_holds_filemap_invalidate_lock_from_begin_to_end():
    k = kernel("gmem", "6.10")
    L = k.L
    punch = next(t for t in k.threads if t.kind == "gmem")
    s = bytearray(k.initial())
    k.kvm_gmem_punch_hole(s, punch.index, 0)
    assert s[L.GMEM_LOCK] == 1 and s[punch.base + PC] == GP_REMOVE
    assert not k.invalidate_lock_free(s, punch.index, 0)
    assert k.locks_held(s, punch.index) == ["filemap_invalidate_lock"]
    k.truncate_inode_folio(s, punch.index, 0)
    assert s[L.PTE_PFN[0]] == 0 and s[L.EXPECT[0]] == 0
    k.kvm_gmem_invalidate_end(s, punch.index, 0)
    assert s[L.GMEM_LOCK] == 0 and s[L.COUNT] == 0


@pytest.mark.parametrize(("slot", "sets", "found"), [
    ("delete", (), "safe"),
    ("create", (), "safe"),
    ("delete", ("kvm.gmem_bind_lock=false",), "quiescence"),          # begin found it, end does not
    ("create", ("kvm.gmem_bind_lock=false",), "no_use_after_free"),   # end found one begin did not
    ("create", ("kvm.gmem_invalidate_begin=always",), "quiescence"),  # the September 2023 posting
])
def test_bindings_that_change_between_begin_and_end_unbalance_the_count(slot, sets, found):
    result = search(scenario(f'slot = "{slot}"\n'), "6.10", *sets, reductions=Reductions())
    if found == "safe":
        assert result.verdict == "safe"
    else:
        assert found in result.witnesses


def test_a_vcpu_fault_after_the_release_exits_to_userspace_and_the_release_zaps_the_sptes():
    sc = replace(load_scenario("gmem"), gmem_punch_hole=())
    result = search(sc, "6.10", reductions=Reductions())
    assert result.verdict == "safe"
    assert result.reachable("mmio_exit") and result.reachable("spte_zapped")


def test_with_the_file_mapped_by_the_host_one_gfn_is_invalidated_by_both_paths_at_once():
    sc = scenario("mmap = true\nhost_accesses = 1\nhost_ops = [\"write\"]\n")
    spec = CheckSpec(sc, "6.10", parse_assignments(["kvm.guest_memfd=mmap"]))
    k = spec.kernel()
    counts = {s[k.L.COUNT] for s in reachable(k.initial(), k.successors)}
    assert counts == {0, 1, 2}  # guest_memfd's begin and the host unmap's range_start on gfn 0
    assert run_check(spec)[1].verdict == "safe"


@pytest.mark.parametrize("extra", ['slot = "delete"\n', "release = true\n", "mmap = true\nhost_accesses = 1\n"])
def test_each_reduction_keeps_the_verdict_and_every_answer_with_two_vcpus(extra):
    sc = scenario(extra).scaled(vcpus=2, accesses=1)
    sets = ("kvm.guest_memfd=mmap",) if "mmap" in extra else ()
    plain = search(sc, "6.10", *sets)
    for reductions in (Reductions(), Reductions(True, True, True, False)):
        assert outcome(search(sc, "6.10", *sets, reductions=reductions)) == outcome(plain)


@pytest.mark.parametrize("extra", ["release = true\n", "mmap = true\nhost_accesses = 1\n"])
def test_every_gmem_step_touches_only_its_own_thread_and_the_groups_it_declares(extra):
    sets = parse_assignments(["kvm.guest_memfd=mmap"] if "mmap" in extra else [])
    assert undeclared(CheckSpec(scenario(extra), "6.10", sets).kernel()) == set()


@pytest.mark.parametrize(("extra", "problem"), [
    ('[ksm]\nstable_page = true\nmerge = [0]\n', "[gmem] with [ksm] merge"),
    ("host_accesses = 1\n", "gmem.host_accesses needs gmem.mmap = true"),
])
def test_a_gmem_combination_the_model_does_not_have_is_one_error_naming_its_line(extra, problem):
    with pytest.raises(InputError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(BASE + extra, "bad.toml", "bad")
