"""The seed's claim read from a real run: 6.1.192 under tcg, its own KVM running the lab's VMM
(``mmuspec kernels run 6.1 seed --out DIR``; DIR/data.log recorded here)."""

import io
import lzma
from functools import cache
from pathlib import Path

import pytest

from mmuspec.emulate import seed, serial
from mmuspec.traces.conformance import validate
from mmuspec.traces.page_model import automaton

FIXTURES = Path(__file__).parent / "fixtures" / "seed"


@cache
def recorded_6_1() -> serial.BootOutput:
    return serial.parse(lzma.decompress((FIXTURES / "6.1.192-seed.data.log.xz").read_bytes()).decode())


def summary(workload: str) -> seed.SeedSummary:
    out = recorded_6_1()
    return seed.summarize(workload, out.kernel, out.sections[f"seed-{workload}.vmm"].text,
                          out.sections[f"seed-{workload}.trace"].text)


def test_on_6_1_change_pte_fires_on_each_ksm_merge_changes_no_spte_and_the_guest_refaults() -> None:
    got = summary("ksm-merge")
    assert got.vmm_status == "ok" and got.merged_pages == 64
    # write_protect_page() and replace_page() each call set_pte_at_notify() before v6.10
    assert got.change_pte_calls == 127
    assert got.change_pte_spte_changes == 0
    assert got.merged_refaulted == 64 and got.notifier_zaps == 74


def test_a_cow_break_in_the_vcpus_own_fault_is_not_counted_as_an_spte_change_of_change_pte() -> None:
    # The vCPU's write fault breaks COW (unmap, change_pte), returns to the guest to retry, and
    # maps the new page after kvm_entry/kvm_exit: that SPTE is the retried fault's, not change_pte's.
    got = summary("cow-break")
    assert got.cow_breaks == 65 and got.change_pte_calls == 192
    assert got.change_pte_spte_changes == 0


def test_a_6_1_stable_kernel_is_checked_against_6_1_with_the_stable_mmu_seq_fix() -> None:
    # 6.1.192's mmu_internal.h has "unsigned long mmu_seq" (6.1.50 took the B6 fix); era 6.1 is
    # v6.1 with the int snapshot, whose ksm-merge model exceeds the page automaton's bound.
    assert seed.stable_settings("6.1.192+") == {"kvm.mmu_seq_snapshot": "unsigned_long"}
    assert seed.stable_settings("6.1.49") == {}
    assert seed.stable_settings("6.12.118+") == {}


def test_a_failed_vmm_is_no_conformance_verdict() -> None:
    data = ("@@mmuspec boot kernel=6.12.118+ uptime=2.72\n@@mmuspec begin seed-ksm-merge.vmm start=2.83\n"
            "done status=error reason=KVM_SET_SREGS errno=22\n@@mmuspec end seed-ksm-merge.vmm rc=2 stop=2.91\n"
            "@@mmuspec begin seed-ksm-merge.trace start=2.95\n# tracer: nop\n"
            "@@mmuspec end seed-ksm-merge.trace rc=0 stop=3.0\n")
    row = seed.analyse(data)["workloads"][0]
    assert row["vmm_status"] == "error"
    assert "KVM_SET_SREGS errno=22" in row["conformance"]["not_checked"]


def test_ksmd_invalidating_a_page_giving_up_and_merging_it_in_a_later_scan_is_admitted() -> None:
    # gfn 0x103c of the recorded 6.1.192 ksm-merge run: ksmd's unmap with no change_pte (the
    # merge attempt aborted after its invalidate_range_start: write_protect_page()'s
    # page_count check, mm/ksm.c:1077 of 6.1.192), the vCPU maps the same pfn writable again,
    # then a later scan's write_protect_page() and replace_page() (unmap, change_pte twice) and
    # a read-only map of the KSM page.  Between the two attempts ksmd printed its failed
    # merge nowhere: 6.1.192 has no include/trace/events/ksm.h (6.12.118 has; v6.4 [I]).
    # Era 6.3 is the nearest whose automaton fits.
    text = (FIXTURES / "6.1.192-ksm-merge-gfn-103c.trace").read_text()
    verdict = validate(io.StringIO(text), automaton("6.3", "ksm-merge"))
    assert verdict.ok, verdict.to_json()["first_rejection"]


@pytest.mark.slow  # about 10 s of CPU: two automata and 6,000 trace lines per workload
def test_the_lab_conformance_check_reads_both_real_traces_against_their_kernels_eras() -> None:
    # 6.12.118: no change_pte at all, every page admitted by era 6.11 (the newest not newer);
    # 6.1.192: era 6.1 with the stable fix; every page, the 9 ksm-merge pages whose first merge
    # attempt failed (as above) among them.
    new = seed.analyse(lzma.decompress((FIXTURES / "6.12.118-seed.data.log.xz").read_bytes()).decode())
    assert [(w["change_pte_calls"], w["merged_refaulted"]) for w in new["workloads"]] == [(0, 64), (0, 0)]
    assert [(w["conformance"]["era"], w["conformance"]["admitted"], w["conformance"]["pages"])
            for w in new["workloads"]] == [("6.11", 64, 64), ("6.11", 64, 64)]
    old = seed.analyse(lzma.decompress((FIXTURES / "6.1.192-seed.data.log.xz").read_bytes()).decode())
    assert [(w["conformance"]["set"], w["conformance"]["admitted"]) for w in old["workloads"]] == \
        [(["kvm.mmu_seq_snapshot=unsigned_long"], 64), (["kvm.mmu_seq_snapshot=unsigned_long"], 64)]
    assert [w["conformance"]["pages"] for w in old["workloads"]] == [64, 64]
