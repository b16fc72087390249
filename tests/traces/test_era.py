"""The recorded era, dated from the formats and events a trace contains."""

from pathlib import Path

from mmuspec.traces.era import era_spans, infer_era
from mmuspec.traces.stats import trace_stats

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


def test_contradicting_formats_leave_the_era_assumed_and_say_so():
    guess = infer_era(["kvm_exit/no-info", "ksm_advisor/scan-time"], [], "x86")
    assert not guess.inferred and guess.candidates == ()
    assert "contradict" in guess.describe() and "--recorded-era" in guess.describe()


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
