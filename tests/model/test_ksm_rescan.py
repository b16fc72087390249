"""ksmd comes back to a page it could not merge (``ksm.scans``): mm/ksm.c's ksm_do_scan()
scans every mergeable page again each full scan, so a merge that write_protect_page()
refused, because a vCPU's fault or a per-CPU LRU add batch (``memory.lru_add``) held the
page, is tried again, and may succeed, a scan later."""

from collections import deque
from pathlib import Path

import pytest

from mmuspec.checking import NO_REDUCTIONS, run_check
from mmuspec.errors import InputError
from mmuspec.model import ksm
from mmuspec.model.events import BIT
from mmuspec.model.layout import K_KPAGE, K_PAGE, K_TARGET, K_TREE, KSM_PFN, PC, V_PFN
from mmuspec.model.scenario import parse_scenario
from tests.helpers import check, kernel, outcome, reachable, spec
from tests.model.test_footprints import undeclared
from tests.model.test_kernel import held_references
from tests.model.test_symmetry import EACH

ROOT = Path(__file__).resolve().parents[2]
RESCAN = str(ROOT / "examples" / "scenarios" / "ksm-merge-rescan.toml")
LRU_ADD = str(ROOT / "examples" / "scenarios" / "ksm-merge-lru-add.toml")
# Exact states / transitions of the unreduced model (1 vCPU x 2 accesses, a stable page, two
# full scans; ksm-merge, the same with one scan, has 1215 / 2017 and 683 / 1132).
PINNED = {(RESCAN, "5.13"): (8373, 14663), (RESCAN, "6.10"): (3553, 6210),
          (LRU_ADD, "5.13"): (1776, 3014), (LRU_ADD, "6.10"): (1022, 1755)}


@pytest.fixture(scope="module")
def unstable_rescan(tmp_path_factory):
    """ksm-unstable (an unstable-tree pair, no stable page) with two full scans."""
    text = (ROOT / "src" / "mmuspec" / "scenarios" / "ksm-unstable.toml").read_text()
    path = tmp_path_factory.mktemp("ksm") / "ksm-unstable-rescan.toml"
    path.write_text(text.replace("merge = [0, 1]", "merge = [0, 1]\nscans = 2"))
    return str(path)


def scan_merges(k):
    """Over every execution: the scans (ksm_scan.seqnr) in which replace_page() merged a page
    that write_protect_page() had refused in an earlier scan, with the holder of the extra
    reference then ("vcpu": a vCPU's fault between GUP and kvm_release_pfn_clean();
    "other": nobody in the model's threads, the LRU add batch), and the scans in which a
    page was merged at all."""
    ksmd = next(t for t in k.threads if t.kind == "ksmd")
    vcpus = [t for t in k.threads if t.kind == "vcpu"]
    start = (k.initial(), "")
    seen, queue = {start}, deque([start])
    retried, merged = set(), set()
    while queue:
        s, refused = queue.popleft()
        scan = s[ksmd.base + k.L.K_SEQNR] if k.L.K_SEQNR >= 0 else 0
        for action, nxt, ev in k.successors(s):
            if ev & BIT["ksm_merged"]:
                merged.add(scan)
                if refused and scan > 0:
                    retried.add((refused, scan))
            now = refused
            if k.action_parts(action)[1] == "write_protect_page_lock" and ev & BIT["ksm_merge_aborted"] \
                    and s[k.L.PTE_PFN[0]] == s[ksmd.base + K_PAGE]:
                page = s[ksmd.base + K_PAGE]
                held = any(s[v.base + V_PFN] == page and k.pc_name(s, v.index) in ("map", "release") for v in vcpus)
                now = refused or ("vcpu" if held else "other")
            if (nxt, now) not in seen:
                seen.add((nxt, now))
                queue.append((nxt, now))
    return retried, merged


@pytest.mark.parametrize("era", ["2.6.32", "5.13", "6.10"])
def test_a_page_whose_merge_a_vcpu_fault_refused_is_merged_in_ksmd_s_next_scan(era):
    retried, merged = scan_merges(kernel(RESCAN, era))
    assert ("vcpu", 1) in retried and merged == {0, 1}


@pytest.mark.parametrize("era", ["2.6.32", "5.13", "6.10"])
def test_a_page_an_lru_add_batch_holds_is_refused_in_the_scan_it_arrived_in_and_merged_after_the_drain(era):
    # The 6.1.192 seed run: write_protect_page() refused the last 9 guest pages back to back
    # while the only vCPU faulted on other pages, and a later scan merged them.
    retried, merged = scan_merges(kernel(LRU_ADD, era))
    assert ("other", 1) in retried and merged == {1}


def test_with_one_scan_a_refused_page_is_never_merged():
    one = kernel("ksm-merge", "5.13", vcpus=1)
    assert one.L.K_SEQNR < 0 and scan_merges(one) == (set(), {0})


@pytest.mark.parametrize(("scenario", "era"), list(PINNED))
def test_more_scans_keep_every_property_with_the_pinned_state_space(scenario, era):
    result = check(scenario, era)
    assert result.verdict == "safe", result.witnesses
    assert (result.states, result.transitions) == PINNED[(scenario, era)]


def test_ksmd_finishes_only_after_its_last_scan_and_nothing_deadlocks():
    k = kernel(RESCAN, "5.13")
    ksmd = next(t for t in k.threads if t.kind == "ksmd")
    assert ksmd.fields[k.L.K_SEQNR] == "seqnr"
    done = [s for s in reachable(k.initial(), k.successors) if s[ksmd.base + PC] == ksm.DONE]
    assert done and {s[ksmd.base + k.L.K_SEQNR] for s in done} == {1}
    assert "no_deadlock" not in check(RESCAN, "5.13").witnesses


@pytest.mark.parametrize("era", ["2.6.32", "5.13", "6.10"])
def test_an_unstable_pair_refused_in_the_first_scan_is_merged_in_the_next(era, unstable_rescan):
    k = kernel(unstable_rescan, era)
    retried, _ = scan_merges(k)
    assert k.scenario.ksm_scans == 2 and ("vcpu", 1) in retried


@pytest.mark.parametrize("era", ["5.13", "6.10"])
def test_each_reduction_keeps_every_answer_over_ksmd_s_scans(era, unstable_rescan):
    for scenario in (RESCAN, LRU_ADD, unstable_rescan):
        the_spec = spec(scenario, era, vcpus=2, accesses=1)
        _, plain = run_check(the_spec, reductions=NO_REDUCTIONS)
        for name, reductions in EACH.items():
            _, reduced = run_check(the_spec, reductions=reductions)
            assert outcome(reduced) == outcome(plain), name
            assert reduced.states <= plain.states, name


@pytest.mark.parametrize("era", ["2.6.32", "5.13", "6.10"])
def test_ksmd_s_later_scans_touch_only_what_their_steps_declare(era, unstable_rescan):
    for scenario in (RESCAN, LRU_ADD, unstable_rescan):
        assert undeclared(spec(scenario, era).kernel()) == set()


def ksmd_references(k, s, b):
    """The references ksmd and the LRU add batches hold beyond ksmd's current page (which
    ``held_references`` counts): try_to_merge_two_pages()'s, the tree page's while the
    scanned page is merged, the scanned page's (the KSM page by then) while the tree page is,
    and both in between; and each page a batch holds."""
    held = {pfn: 1 for pfn in range(k.L.first_pool_pfn, k.L.frames) if k.L.track_lru_add and s[k.L.LRU_ADD[pfn]]}
    tree = s[b + K_TREE] if not k.scenario.stable_page else 0
    if tree:
        pair = [tree] if s[b + K_TARGET] == 0 else [s[b + K_KPAGE]] + ([tree] if s[b + PC] == ksm.SCAN else [])
        for pfn in pair:
            held[pfn] = held.get(pfn, 0) + 1
    return held


def test_every_page_reference_is_still_a_mapping_or_held_over_two_scans(unstable_rescan):
    for scenario in (RESCAN, LRU_ADD, unstable_rescan):
        k = kernel(scenario, "5.13")
        L = k.L
        ksmd = next(t for t in k.threads if t.kind == "ksmd")
        for s in reachable(k.initial(), k.successors):
            held = held_references(k, s)
            for pfn, n in ksmd_references(k, s, ksmd.base).items():
                held[pfn] = held.get(pfn, 0) + n
            for pfn in range(L.first_pool_pfn, L.frames):
                assert s[L.REF[pfn]] == s[L.MAP[pfn]] + held.get(pfn, 0), k.state_text(s)
            if k.scenario.stable_page:
                assert s[L.REF[KSM_PFN]] == s[L.MAP[KSM_PFN]] + held.get(KSM_PFN, 0)


@pytest.mark.parametrize(("tables", "error"), [
    ("[ksm]\nscans = 2\n", r"s.toml:\d+: ksm.scans: ksmd scans only where ksm.merge names pages to merge"),
    ("[ksm]\nstable_page = true\nmerge = [0]\nscans = 4\n", r"s.toml:\d+: ksm.scans = 4: expected an integer in 1..3"),
    ("[ksm]\nstable_page = true\nmerge = [0]\n", r"s.toml:\d+: memory.lru_add: gfn 1 starts as 'zero'; the batch "
     "holds anonymous pages"),
])
def test_ksm_scans_or_lru_add_out_of_place_is_refused_with_its_line(tables, error):
    memory = '[memory]\ngfns = 2\ninitial = ["anon", "zero"]\n' + ("lru_add = [1]\n" if "lru_add" in error else "")
    with pytest.raises(InputError, match=error):
        parse_scenario(memory + "\n" + tables, "s.toml", "s")
