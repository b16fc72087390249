"""The recorded era, dated from the formats and events a trace contains."""

import io
from pathlib import Path

import pytest

from mmuspec.report.ftrace import ftrace_lines
from mmuspec.traces.era import era_spans, infer_era
from mmuspec.traces.reader import Record, parse_line
from mmuspec.traces.stats import trace_stats
from tests.helpers import check, kernel

DATA = Path(__file__).parent / "data"


def test_eras_span_from_their_version_to_the_next_and_proposals_have_none():
    spans = era_spans()
    names = [name for name, _, _ in spans]
    assert "glisse-2019" not in names and names[0] == "2.6.32"
    assert all(end == spans[i + 1][1] for i, (_, _, end) in enumerate(spans[:-1])) and spans[-1][2] is None


def test_a_v2_6_32_kvm_exit_dates_the_trace_to_the_2_6_32_era():
    guess = infer_era(["kvm_exit/no-info"], ["kvm_exit"], "x86")
    assert (guess.era, guess.inferred) == ("2.6.32", True)
    assert "before v3.7" in guess.evidence[0]


def test_change_pte_events_on_x86_date_the_trace_between_v5_13_and_v6_10():
    guess = infer_era([], ["kvm_set_spte_hva", "kvm_exit"], "x86")
    assert set(guess.candidates) == {name for name, start, _ in era_spans() if (5, 13) <= start < (6, 10)}
    assert guess.candidates[0] == "5.13" and "6.10" not in guess.candidates


def test_the_same_notifier_events_on_arm64_do_not_date_the_trace_to_v5_13():
    assert "3.7" in infer_era([], ["kvm_unmap_hva_range", "kvm_exit"], "arm64").candidates


def test_a_trace_that_mixes_kernels_says_so_and_leaves_the_era_assumed():
    guess = infer_era(["kvm_exit/no-info", "ksm_advisor/scan-time"], [], "x86")
    assert not guess.inferred and guess.candidates == () and guess.mixed
    assert "mixes kernels" in guess.describe() and "--recorded-era" in guess.describe()


def test_vcpu_lines_of_two_arches_are_a_mixed_trace():
    guess = infer_era([], ["kvm_exit"], "arm64", arches=["x86", "arm64"])
    assert guess.mixed and "arm64 and x86" in guess.describe()


def test_a_trace_with_nothing_dated_assumes_the_default_era_and_says_so():
    guess = infer_era([], ["kvm_exit"], "x86")
    assert not guess.inferred and "assumed" in guess.describe()


def test_stats_dates_each_fixture_trace_into_the_eras_its_formats_allow():
    with open(DATA / "tracecmd_old.txt") as handle:
        old = trace_stats(handle).era
    with open(DATA / "ftrace_kvm.txt") as handle:
        new = trace_stats(handle).era
    assert old is not None and new is not None
    assert set(old.candidates) <= {"2.6.32", "3.7"} and "5.13" not in new.candidates


def test_a_real_kvm_unmap_hva_range_line_with_14_digits_after_0x_is_the_generic_format():
    # %#016lx: the width counts the "0x", so a user address prints 14 digits, not 16.
    line = ("ksmd-40 [000] ..... 180.800656: kvm_unmap_hva_range: mmu notifier unmap range: "
            "0x007f221fda7000 -- 0x007f221fda8000")
    record = parse_line(1, line)
    assert isinstance(record, Record) and record.format == "kvm_unmap_hva_range/generic"
    assert record.fields == {"start": 0x7F221FDA7000, "end": 0x7F221FDA8000}


def test_a_notifier_address_without_padding_is_the_pre_v5_9_arm_format():
    line = "ksmd-41 [000] 151.0: kvm_unmap_hva_range: mmu notifier unmap range: 0xffff9a400000 -- 0xffff9a401000"
    record = parse_line(1, line)
    assert isinstance(record, Record) and record.format == "kvm_unmap_hva_range/arm"


@pytest.mark.parametrize("text", ["0x7f221fda7000", "0x0007f221fda7000", "0x00007f221fda7000"])
def test_no_kernel_printed_these_widths_of_a_notifier_address_as_the_generic_format(text):
    # 12 digits is %#08lx; a leading zero beyond the width of 14 digits is no TP_printk's.
    record = parse_line(1, f"ksmd-40 [000] 1.0: kvm_set_spte_hva: mmu notifier set pte hva: {text}")
    assert not (isinstance(record, Record) and record.format == "kvm_set_spte_hva/generic")


def test_ksm_merges_with_no_kvm_set_spte_hva_date_the_trace_6_10_or_later():
    guess = infer_era(["ksm_merge_with_ksm_page/pfn"], ["kvm_unmap_hva_range"], None, merges_without_change_pte=3)
    # 6.10 to 6.18 print the same lines for a merge: the newest is assumed, and said to be.
    assert guess.candidates == ("6.10", "6.11", "6.15", "6.18")
    assert (guess.era, guess.inferred) == ("6.18", False)
    assert "no kvm_set_spte_hva" in guess.describe() and "6.18 assumed" in guess.describe()


def test_a_real_trace_recorded_on_a_6_18_host_dates_as_6_10_or_later_without_contradiction():
    # Recorded by tools/record_ksm_trace.py on a 6.18 host: KSM merging a tiny KVM guest's memory.
    with open(DATA / "real_6.18_ksm.txt") as handle:
        stats = trace_stats(handle)
    assert stats.unparsed == 0 and stats.era is not None
    assert stats.events["kvm:kvm_unmap_hva_range"] > 0 and stats.ksm_merges > 0
    assert stats.era.candidates[0] == "6.10" and stats.era.era == "6.18" and not stats.era.mixed
    assert stats.formats["kvm_unmap_hva_range/generic"] == stats.events["kvm:kvm_unmap_hva_range"]


@pytest.mark.parametrize("era", ["2.6.32", "3.7", "5.10", "5.13", "6.1", "6.4", "6.10"])
def test_the_projects_own_ftrace_output_dates_to_the_era_it_was_checked_in(era):
    k, result = kernel("ksm-merge", era), check("ksm-merge", era)
    text = "\n".join(line for name in ("ksm_merged", "fault_retried", "spte_zapped") if name in result.witnesses
                     for line in ftrace_lines(k, result.witnesses[name].actions, era))
    guess = trace_stats(io.StringIO(text)).era
    assert guess is not None and not guess.mixed and era in guess.candidates
