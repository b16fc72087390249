"""Review D21: when a non-blockable invalidate() fails, mn_itree_invalidate() calls
mn_itree_inv_end() itself, the same critical section as the normal end.  Before
319561669a59 a lockless remove-waiter returns between its increment and its deferred-list
walk, so the OOM reaper can trigger B11 too: the model splits that end as it splits the
normal one."""

from pathlib import Path

from mmuspec.model.events import USE_AFTER_FREE
from tests.helpers import check, kernel, reachable

SCENARIO = str(Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "interval-remove-reaper.toml")


def failed_end_use_after_free(era: str) -> int:
    """How many transitions of the failed end's deferred-list walk unlink a freed subscription."""
    k = kernel(SCENARIO, era)
    walk = {i for i, (name, _) in enumerate(k.step_keys) if name == "mn_itree_inv_end_failed_deferred"}
    assert walk, "the failed end is two steps where a subscription is removed"
    return sum(1 for s in reachable(k.initial(), k.successors) for a, _, ev in k.successors(s)
               if a & 0xFF in walk and ev & USE_AFTER_FREE)


def test_the_reaper_s_failed_invalidate_unlinks_a_freed_subscription_with_the_lockless_wait():
    assert failed_end_use_after_free("5.15") > 0


def test_the_locked_wait_of_319561669a59_closes_the_reaper_path_too():
    assert failed_end_use_after_free("6.1") == 0
    assert check(SCENARIO, "6.1").verdict == "safe"


def test_the_failed_end_holds_subscriptions_lock_between_its_two_steps():
    from mmuspec.model import interval, notifier

    k = kernel(SCENARIO, "5.15")
    s = bytearray(k.initial())
    reaper = next(t.index for t in k.threads if t.kind == "oom_reaper")
    s[k.L.ITREE_ACTIVE], s[k.L.ITREE_SEQ] = 1, interval.ITREE_INITIAL_SEQ | 1
    assert interval.mn_itree_inv_end_failed(k, s)
    s[k.mn_field[reaper]] = notifier.MN_FAILED_DEFERRED
    assert s[k.L.ITREE_LOCK] == 1 and "subscriptions->lock" in k.locks_held(s, reaper)
    interval.mn_itree_inv_end_failed_deferred(k, s, reaper, notifier.MN_FAILED_DEFERRED)
    assert s[k.L.ITREE_LOCK] == 0 and s[k.mn_field[reaper]] == notifier.MN_FAILED


def test_without_a_remove_the_failed_end_stays_one_step():
    k = kernel("oom-reaper-itree", "5.15")
    assert all(name != "mn_itree_inv_end_failed_deferred" for name, _ in k.step_keys)
