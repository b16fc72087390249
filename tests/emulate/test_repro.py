from pathlib import Path

from mmuspec.emulate import repro, serial
from mmuspec.emulate.kernels import KernelSpec


def boot_data(body: str, end: str | None = "rc=0 stop=14.00") -> serial.BootOutput:
    text = "@@mmuspec boot kernel=6.1.192 uptime=1.00\n@@mmuspec begin repro-B11 start=10.00\n" + body
    if end is not None:
        text += f"@@mmuspec end repro-B11 {end}\n@@mmuspec halt uptime=15.00\n"
    return serial.parse(text)


def test_an_oops_that_ends_the_harness_is_a_failure_timed_from_the_harness_start() -> None:
    data = boot_data("TAP version 13\n1..1\n# attempt 1 at 0.000 s\n", end=None)
    console = ("[   10.50] hello\n[   10.71] general protection fault, probably for non-canonical "
               "address 0x6b6b6b6b6b6b6b6b: 0000 [#1] SMP\n")
    got = repro.outcome(data, console, "B11", timed_out=False)
    assert got.verdict == "fail" and got.attempts == 1 and got.seconds == 0.71
    assert "general protection fault" in got.reason


def test_not_ok_is_a_failure_and_ok_without_an_oops_a_pass() -> None:
    failed = repro.outcome(boot_data("1..2\nok 1 - a\nnot ok 2 - the reaped victim exits: hung\n", "rc=1 stop=30"),
                           "", "B11", False)
    assert (failed.verdict, failed.reason) == ("fail", "not ok 2 - the reaped victim exits: hung")
    passed = repro.outcome(boot_data("1..1\nok 1 - fine\n"), "[ 1.0] booted\n", "B11", False)
    assert (passed.verdict, passed.seconds) == ("pass", 4.0)


def test_a_pass_with_a_kernel_report_on_the_console_is_a_failure() -> None:
    got = repro.outcome(boot_data("1..1\nok 1 - fine\n"), "[ 12.0] BUG: KASAN: use-after-free\n", "B11", False)
    assert got.verdict == "fail"


def test_a_skip_a_missing_section_and_a_silent_hang_are_not_verdicts() -> None:
    assert repro.outcome(boot_data("ok 1 # SKIP no /dev/kvm\n", "rc=4 stop=11"), "", "B11", False).verdict == "skip"
    assert repro.outcome(serial.parse(""), "", "B11", True).reason == "the harness never started (boot timed out)"
    assert repro.outcome(boot_data("1..1\n", end=None), "", "B11", True).verdict == "error"


def test_every_reproducer_differs_between_its_kernels_only_by_the_fix() -> None:
    for r in repro.REPRODUCERS.values():
        assert r.before.series == r.after.series and r.before.modules == r.after.modules
        diff = set(r.before.patches) ^ set(r.after.patches)
        assert len(diff) == 1, r.id
        assert r.before.patch_key() != r.after.patch_key()


def test_the_listing_shows_the_last_run_of_each_side() -> None:
    results = [{"id": "B11", "side": "before", "verdict": "pass"}, {"id": "B11", "side": "before", "verdict": "fail"}]
    rows = {row["id"]: row for row in repro.listing(results)}
    assert rows["B11"]["before"]["last"]["verdict"] == "fail"
    assert rows["B11"]["after"]["last"] is None
    assert rows["B11"]["before"]["kernel"] == KernelSpec("6.1", ("levers", "revert-319561669a59")).label()


FIXTURES = Path(__file__).parent / "fixtures" / "repro"


def recorded(name: str) -> tuple[serial.BootOutput, str]:
    return (serial.parse((FIXTURES / f"{name}.data.log").read_text()),
            (FIXTURES / f"{name}.console.log").read_text())


def test_the_recorded_oom_reaper_leak_hangs_the_victim_on_6_12_without_the_fix_and_not_with_it() -> None:
    # 6.12.118 with "mm/mmu_notifier: finish non-blocking interval invalidation on error" reverted,
    # then as shipped; mmuspec repro B14 under tcg.
    before = repro.outcome(*recorded("B14-before"), "B14", False)
    assert (before.verdict, before.attempts) == ("fail", 1)
    assert before.reason == "not ok 2 the reaped victim exits: still there after 15 s (hung)"
    assert any("mmu_interval_notifier_remove" in x for x in before.tap)
    after = repro.outcome(*recorded("B14-after"), "B14", False)
    assert after.verdict == "pass" and after.reason.startswith("ok 2 the reaped victim exits")


def test_the_same_leak_hangs_6_1_192_as_shipped_and_the_proposed_one_line_fix_removes_it() -> None:
    before = repro.outcome(*recorded("B14-6.1-before"), "B14-6.1", False)
    assert before.verdict == "fail" and "(hung)" in before.reason
    after = repro.outcome(*recorded("B14-6.1-after"), "B14-6.1", False)
    assert after.verdict == "pass"


def test_b11_on_6_1_with_the_fix_reverted_faults_in_mn_itree_inv_end_on_the_freed_subscription() -> None:
    # The levers hold mn_itree_inv_end() between invalidate_seq++ and its deferred-list walk;
    # the lockless waiter returns, test_hmm frees the dmirror, slub_debug=P poisons it.
    before_data, before_console = recorded("B11-before")
    before = repro.outcome(before_data, before_console, "B11", False)
    assert before.verdict == "fail" and "0x6b6b6b6b6b6b6b7b" in before.reason
    assert "interval_tree_remove+" in before_console and "mn_itree_inv_end+" in before_console
    assert before.attempts == 1 and before.seconds is not None and before.seconds < 5
    assert repro.outcome(*recorded("B11-after"), "B11", False).verdict == "pass"


def test_b14_says_6_12_118_ships_its_fix_as_the_recorded_kernel_shows() -> None:
    # Discrepancy with the corpus's "no fix is merged": Debian's 6.12.118 (ChangeLog-6.12.118,
    # "mm/mmu_notifier: finish non-blocking interval invalidation on error") does not hang,
    # the same kernel with that hunk reverted does (B14-before / B14-after recorded above).
    import tomllib

    from mmuspec.bugs import __path__ as bugs_path

    entry = tomllib.loads((Path(bugs_path[0]) / "B14-oom-reaper-itree-leak.toml").read_text())
    assert "6.12.118" in entry["version"] and "No fix is merged" not in entry["race"]
    assert repro.REPRODUCERS["B14"].after == KernelSpec("6.12", (), (repro.NBFAIL,))


def test_b6_with_the_int_snapshot_the_vcpu_stops_once_mmu_invalidate_seq_passes_2_31() -> None:
    before = repro.outcome(*recorded("B6-before"), "B6", False)
    assert before.verdict == "fail" and before.reason.endswith("(0 writes in the last second, hung)")
    assert "# attempt 1 at 0.272 s: the guest's last write; no write since" in before.tap
    assert before.seconds == 0.272  # the time to the hang, not the harness's 4.3 s
    after = repro.outcome(*recorded("B6-after"), "B6", False)
    assert after.verdict == "pass" and "(5839 writes in the last second)" in after.reason


def test_b13_on_6_12_118_a_prefault_and_the_deletion_or_move_of_its_memslot_wait_on_each_other_until_the_fix() -> None:
    # 6.12.118 as shipped (3ccbf6f47098 is in v6.18), then with the fix's hunk applied;
    # mmuspec repro B13 under tcg.  The deletion (then, on a new VM, the move) waits in
    # synchronize_srcu() for the prefault, which retries on the invalid slot until a signal.
    before = repro.outcome(*recorded("B13-before"), "B13", False)
    assert (before.verdict, before.attempts, before.seconds) == ("fail", 2, 0.032)
    assert [x for x in before.tap if x.startswith("not ok")] == [
        "not ok 1 KVM_PRE_FAULT_MEMORY and a deletion of its memslot both return (hung 10 s)",
        "not ok 2 KVM_PRE_FAULT_MEMORY and a move of its memslot both return (hung 10 s)"]
    for what in ("deletion", "move"):
        assert f"# {what} thread: state D, 0.00 s of CPU" in before.tap
        assert f"# {what}: [<0>] __synchronize_srcu+0x75/0x86" in before.tap
        assert f"# {what}: [<0>] kvm_swap_active_memslots+0x119/0x142" in before.tap
    assert any(x.startswith("# prefault thread: state R, 9.98 s of CPU") for x in before.tap)
    after = repro.outcome(*recorded("B13-after"), "B13", False)
    assert after.verdict == "pass" and after.attempts == 2
    assert "ok 1 KVM_PRE_FAULT_MEMORY and a deletion of its memslot both return (deletion in 0.012 s)" in after.tap
    assert "# prefault: ret 0 (ok), 134213632 of 134217728 bytes left, returned at 0.052 s" in after.tap
    assert repro.REPRODUCERS["B13"].before == KernelSpec("6.12")


def test_b12_on_6_1_with_the_old_retry_rule_the_refresh_keeps_the_zapped_page_and_kvmclock_misses_the_guest() -> None:
    # The pfncache levers hold the refresh after hva_to_pfn() and the invalidation after it
    # invalidated the caches; the rule before 58cd407ca4c6 passes in between, the fix's retries.
    before = repro.outcome(*recorded("B12-before"), "B12", False)
    assert (before.verdict, before.attempts, before.seconds) == ("fail", 1, 1.748)
    assert "# the refresh marked the cache valid inside the invalidation" in before.tap
    assert "# 1000 guest exits; kvmclock version in the guest's page (pfn 0x1c9b): 0" in before.tap
    after = repro.outcome(*recorded("B12-after"), "B12", False)
    assert after.verdict == "pass" and "# the refresh marked the cache valid after the invalidation" in after.tap
    assert any(x.endswith("kvmclock version in the guest's page (pfn 0x19eb): 2000") for x in after.tap)


def test_on_6_12_118_with_the_b13_fix_a_later_prefault_retries_on_the_obsolete_root_which_the_model_lacks() -> None:
    # Outside the model (it has no MMU roots): the deletion leaves the vCPU's root obsolete,
    # kvm_mmu_reload() does not reload it, and the prefault retries until a signal ends it.
    after = repro.outcome(*recorded("B13-after"), "B13", False)
    assert ("# a later prefault of the deleted range: no return in 2 s, ended by a signal: ret -1 "
            "(Interrupted system call)") in after.tap
    assert after.verdict == "pass"  # not counted in the verdict


def test_b2_on_6_1_without_c2655835fd8c_each_reaped_vma_leaves_a_started_range_without_its_end() -> None:
    # mmuspec_pairs (standing for KVM) starts, mmuspec_nbfail refuses the non-blockable start;
    # 6.1.192 as shipped ends the started subscriber, the revert does not.
    before = repro.outcome(*recorded("B2-before"), "B2", False)
    assert (before.verdict, before.attempts, before.seconds) == ("fail", 1, 0.232)
    assert before.reason == "not ok 2 every start that succeeded got its end (10 open)"
    assert "# by the victim's exit: 10 starts, 0 ends in mmuspec_pairs" in before.tap
    after = repro.outcome(*recorded("B2-after"), "B2", False)
    assert after.verdict == "pass" and "# by the victim's exit: 10 starts, 10 ends in mmuspec_pairs" in after.tap
    assert repro.REPRODUCERS["B2"].before.modules == (repro.NBFAIL,)
