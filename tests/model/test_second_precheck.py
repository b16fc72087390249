"""d02c357e5bfa pre-checks mmu_invalidate_retry_gfn_unsafe() twice (review D29): before the
lookup and again after it.  The second one is a step of its own only where it can change an
outcome; where the locked check tests count and sequence, forcing it in changes no verdict."""

import pytest

from mmuspec.model import guest
from tests.helpers import check, kernel, outcome


def test_the_second_precheck_runs_only_where_the_locked_check_does_not_cover_it():
    assert not kernel("zap", "6.8").precheck_after_lookup
    assert not kernel("zap", "6.8", "arch=arm64").precheck_after_lookup
    assert not kernel("zap", "6.4").precheck_after_lookup
    assert kernel("zap", "6.8", "kvm.fault_retry_checks=none").precheck_after_lookup
    assert kernel("zap", "6.8", "kvm.end_bumps_seq=false").precheck_after_lookup


@pytest.mark.parametrize("scenario", ["zap", "cow-break", "ksm-merge"])
def test_forcing_the_second_precheck_in_changes_no_answer_where_the_locked_check_covers_it(scenario, monkeypatch):
    without = check(scenario, "6.8")
    monkeypatch.setattr(guest, "second_precheck_matters", lambda k: k.lockless_precheck)
    assert kernel(scenario, "6.8").precheck_after_lookup
    forced = check(scenario, "6.8")
    assert forced.states > without.states
    assert outcome(forced) == outcome(without)


def test_with_the_prechecks_alone_the_second_one_is_a_step_between_the_lookup_and_mmu_lock():
    k = kernel("zap", "6.8", "kvm.fault_retry_checks=none")
    assert guest.RECHECK in guest.program(k)
    s = bytearray(k.initial())
    b = k.vcpu_bases[0]
    s[b + guest.PC] = guest.RECHECK
    s[k.L.COUNT] = 1
    guest.kvm_faultin_pfn_recheck(k, s, 0, 0)
    assert s[b + guest.PC] == guest.RELEASE
