"""Conformance of recorded traces to the model, page by page (traces/conformance.py), on
real runs of the lab (tests/lab/data) and on doctored copies of them."""

import io
from pathlib import Path

import pytest

from mmuspec.report.lab import verdict_lines
from mmuspec.traces.conformance import Mapping, validate
from mmuspec.traces.page_model import automaton
from tests.lab.recorded import WORKLOADS, trace_text

PAGES = {"ksm-merge": 64, "cow-break": 64, "zap": 64, "aging": 9, "memslot": 64}


def check(text, era="6.18", workload="ksm-merge", mapping=None):
    return validate(io.StringIO(text), automaton(era, workload), mapping)


@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_page_of_a_recorded_run_is_a_behaviour_of_the_6_18_model(workload):
    verdict = check(trace_text(workload), workload=workload)
    assert verdict.ok, verdict.rejections
    assert verdict.pages == verdict.admitted == PAGES[workload]
    # 6.18 prints ksm events, so where ksmd runs its merge outcomes are checked
    assert verdict.merge_outcomes_checked == (workload in ("ksm-merge", "cow-break"))


def test_a_6_18_trace_is_not_a_behaviour_of_5_13_whose_merges_call_change_pte():
    verdict = check(trace_text("ksm-merge"), era="5.13")
    assert not verdict.ok and verdict.rejected_pages == 64
    first = verdict.rejections[0]
    assert first.label in ("merge", "merge-in-place") and first.states


def _hva(line):
    """The start of a kvm_unmap_hva_range line's range."""
    return line.split("unmap range: ")[1].split(" --")[0]


def _merge_lines(lines):
    """Index of the first stable-tree merge and of the two ksmd unmaps of its page before it
    (``replace_page()``'s, then ``write_protect_page()``'s)."""
    i = next(n for n, line in enumerate(lines) if "ksm_merge_with_ksm_page: ksm pfn" in line)
    unmaps = [n for n in range(i - 1, 0, -1) if "ksmd" in lines[n] and "kvm_unmap_hva_range" in lines[n]][:2]
    assert _hva(lines[unmaps[0]]) == _hva(lines[unmaps[1]])
    return i, unmaps[0], unmaps[1]


def test_a_merge_traced_before_its_page_s_second_unmap_is_rejected():
    lines = trace_text("ksm-merge").splitlines(keepends=True)
    i, second, _ = _merge_lines(lines)
    lines[second], lines[i] = lines[i], lines[second]
    verdict = check("".join(lines))
    assert not verdict.ok
    assert verdict.rejections[0].label == "merge" and verdict.rejections[0].line == second + 1


def test_a_merge_with_one_of_its_two_unmaps_removed_is_rejected():
    lines = trace_text("ksm-merge").splitlines(keepends=True)
    _, second, _ = _merge_lines(lines)
    del lines[second]
    verdict = check("".join(lines))
    assert not verdict.ok and verdict.rejections[0].label == "merge"


def _change_pte(unmap_line):
    """A kvm_set_spte_hva line (gone in v6.10 with the .change_pte() callback) for the page of
    ``unmap_line``, from the same thread at the same time."""
    return unmap_line.split("kvm_unmap_hva_range: ")[0] + f"kvm_set_spte_hva: mmu notifier set pte hva: {_hva(unmap_line)}\n"


def test_a_change_pte_event_from_an_older_era_is_rejected_by_6_18_and_admitted_by_5_13_s_model():
    """Up to v6.9, write_protect_page() and replace_page() each call set_pte_at_notify() inside
    their invalidate range, so a merge traces unmap, change_pte, unmap, change_pte, merge.  That
    page history, cut from a real run, is a behaviour of 5.13 and not of 6.18."""
    lines = trace_text("ksm-merge").splitlines(keepends=True)
    i, second, first = _merge_lines(lines)
    gfn = f"gfn {int(lines[0].split('gfn=')[1].split()[0], 16):x} "  # page 0, the page merged first
    assert _hva(lines[first]) == "0x005a5a00000000"
    page = [lines[0], *(line for line in lines[1:i] if "tracing_mark_write" in line or gfn in line)]
    for n in (first, second):
        page += [lines[n], _change_pte(lines[n])]
    page.append(lines[i])
    text = "".join(page)
    new = check(text, era="6.18")
    assert not new.ok and new.rejections[0].label == "change-pte"
    assert "kvm_set_spte_hva" in new.rejections[0].text and new.rejections[0].line == len(page) - 3
    old = check(text, era="5.13")
    assert old.ok and old.pages == 1 and old.labels["change-pte"] == 2 and old.labels["merge"] == 1


def test_a_change_pte_event_inserted_into_a_whole_6_18_run_is_rejected_at_that_line():
    lines = trace_text("ksm-merge").splitlines(keepends=True)
    _, second, first = _merge_lines(lines)
    lines.insert(second + 1, _change_pte(lines[first]))
    verdict = check("".join(lines))
    assert not verdict.ok and verdict.rejected_pages == 1
    assert verdict.rejections[0].label == "change-pte" and verdict.rejections[0].line == second + 2


def test_without_a_gfn_base_the_spte_events_are_left_out_and_the_rest_still_checked():
    text = "".join(trace_text("ksm-merge").splitlines(keepends=True)[1:])  # no lab header
    verdict = check(text, mapping=Mapping(hva=0x5A5A00000000, pages=64))
    assert verdict.ok and "map" not in verdict.labels and verdict.labels["merge"] > 0


def test_the_page_automaton_of_ksm_merge_under_6_18_has_a_fixed_size_and_no_change_pte():
    a = automaton("6.18", "ksm-merge")
    # 6.18 ages without mmu_lock (kvm.lockless_aging=atomic): the walk's update is a step of
    # its own, invisible to the tracepoints, which adds interleavings.
    assert len(a.nodes) == 8202
    labels = {label for edges in a.edges for label in edges}
    assert "change-pte" not in labels and {"unmap:ksmd", "merge", "merge-in-place", "map", "age"} <= labels
    assert "change-pte" in {label for edges in automaton("5.13", "ksm-merge").edges for label in edges}


def test_a_page_kdamond_aged_in_its_own_order_is_a_behaviour_of_6_18():
    """A real cow-break run on a host where DAMON's kdamond runs: on gfn 0x1037 it prints
    kvm_age_hva, kvm_test_age_hva, kvm_age_hva, kvm_test_age_hva, an order no single kswapd
    round repeated has (clear_young, test_young, clear_flush_young); the model's ager may
    take its ageing steps in any order, as the host's several agers do."""
    text = trace_text("cow-break-kdamond")
    aged = [line for line in text.splitlines() if "kdamond" in line and "0x005a5a00037000" in line]
    assert [line.split(": ")[1] for line in aged] == ["kvm_age_hva", "kvm_test_age_hva", "kvm_age_hva",
                                                      "kvm_test_age_hva"]
    verdict = check(text, workload="cow-break")
    assert verdict.ok and verdict.admitted == verdict.pages == 64
    assert verdict.labels["age"] == 3 and verdict.labels["test-age"] == 2


def test_two_test_young_calls_with_no_ageing_between_are_still_a_behaviour_but_a_map_without_a_fault_is_not():
    """The ager's freedom is in its ageing calls only: a page whose SPTE is present does not
    take a second map (a fault) without an unmap or an SPTE drop between them."""
    lines = trace_text("cow-break-kdamond").splitlines(keepends=True)
    n = next(i for i, line in enumerate(lines) if "kvm_test_age_hva" in line and "0x005a5a00037000" in line)
    assert check("".join([*lines[:n + 1], lines[n], *lines[n + 1:]]), workload="cow-break").ok
    m = next(i for i, line in enumerate(lines) if "kvm_mmu_spte_requested: gfn 1037 " in line)
    doubled = check("".join([*lines[:m + 1], lines[m], *lines[m + 1:]]), workload="cow-break")
    assert not doubled.ok and doubled.rejections[0].label == "map" and doubled.rejections[0].line == m + 2


def test_pages_kcompactd_migrated_during_an_aging_run_are_behaviours_of_6_18():
    """A real aging run where kcompactd migrated four guest pages: each shows an unmap from
    kcompactd and the guest's refault, which the host's own unmaps in the model allow."""
    text = trace_text("aging-kcompactd")
    moved = {line.split("range: ")[-1].split(" --")[0] for line in text.splitlines()
             if line.lstrip().startswith("kcompactd") and "kvm_unmap_hva_range" in line}
    assert len(moved & {f"0x005a5a{p * 4096:08x}" for p in range(64)}) == 4
    verdict = check(text, workload="aging")
    assert verdict.ok and verdict.labels["unmap:mm"] == 4 and verdict.labels["map"] == 12
    assert verdict.admitted == verdict.pages == 11


RETRIED = Path(__file__).parents[1] / "emulate" / "fixtures" / "seed" / "6.1.192-ksm-merge-gfn-103c.trace"


def _with_ksm_events(failed_merge: bool) -> str:
    """The 6.1.192 page whose first merge attempt failed, as a kernel with ksm tracepoints
    would print it: a ksm_start_scan before ksmd's first unmap and, if ``failed_merge``, the
    failed attempt's ksm_merge_with_ksm_page (-EFAULT) right after its unmap."""
    lines = RETRIED.read_text().splitlines(keepends=True)
    first = next(n for n, line in enumerate(lines) if "ksmd-21" in line)
    ksmd = lines[first].split("kvm_unmap_hva_range: ")[0]
    failed = [ksmd + "ksm_merge_with_ksm_page: pfn 6558 rmap_item 00000000deadbeef mm 00000000cafef00d error -14\n"]
    return "".join(lines[:first] + [ksmd + "ksm_start_scan: seq 1 rmap size 64\n"] + lines[first:first + 2]
                   + (failed if failed_merge else []) + lines[first + 2:])


def test_a_failed_merge_is_invisible_in_a_trace_without_ksm_events_and_required_in_one_with_them():
    # ksmd retries the page in a later scan only after try_to_merge_with_ksm_page() returned,
    # which a kernel with include/trace/events/ksm.h prints: without that line, once the trace
    # shows it records ksm events, the second attempt's unmap is no behaviour of the model.
    verdict = check(RETRIED.read_text(), era="6.3")
    assert verdict.ok and not verdict.merge_outcomes_checked
    assert "ksmd's merge outcomes not checked" in "\n".join(verdict_lines(verdict, "t"))
    verdict = check(_with_ksm_events(failed_merge=False), era="6.3")
    assert not verdict.ok and verdict.rejections[0].label == "unmap:ksmd" and verdict.rejections[0].line == 12
    verdict = check(_with_ksm_events(failed_merge=True), era="6.3")
    assert verdict.ok and verdict.labels["merge-failed"] == 1 and verdict.merge_outcomes_checked


def test_a_shadow_page_zap_does_not_narrow_the_guest_range_that_later_map_events_are_counted_in():
    """With a gfn base and no page count, a kvm_mmu_prepare_zap_page line once reset the
    bound the map events are read against, so every later map was taken as outside the guest."""
    text = (" vmm-1 [000] ...1. 10.000001: kvm_mmu_spte_requested: gfn 1000 pfn 1 level 1\n"
            " kvm-nx-lpage-re-2 [001] ...1. 10.000002: kvm_mmu_prepare_zap_page: sp gen 0 gfn 1000 l1 8-byte q0"
            " direct wux nxe ad root 0 sync\n"
            " vmm-1 [000] ...1. 10.000003: kvm_mmu_spte_requested: gfn 1001 pfn 2 level 1\n")
    verdict = check(text, workload="zap", mapping=Mapping(gfn=0x1000))
    data = verdict.to_json()
    assert verdict.ok and data["labels"] == {"map": 2} and data["outside"] == 0 and data["pages"] == 2
