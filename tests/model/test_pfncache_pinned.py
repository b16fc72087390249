"""Review D25: B12's "before" (kvm.pfncache_retry=in_progress) is mainline between
85165781c5d9 and 58cd407ca4c6, where the cache no longer pinned its pfn; the v5.17 release
kept the page pinned until the next refresh (in_progress_pinned), so the same race reads
stale data and never a freed page."""

from tests.helpers import check


def failures(*sets):
    return {w.event for w in check("pfncache", "6.1", *sets).failures}


def test_the_unpinned_old_rule_reads_a_freed_page():
    assert {"data_integrity", "no_use_after_free"} <= failures("kvm.pfncache_retry=in_progress")


def test_the_v5_17_pin_turns_the_use_after_free_into_stale_data():
    found = failures("kvm.pfncache_retry=in_progress_pinned")
    assert "data_integrity" in found
    assert "no_use_after_free" not in found


def test_the_fixed_rule_is_safe_pinned_or_not():
    assert check("pfncache", "6.1").verdict == "safe"
