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
