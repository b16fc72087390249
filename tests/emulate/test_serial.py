from mmuspec.emulate import serial

DATA = """\
@@mmuspec boot kernel=6.1.192 uptime=0.91\r
@@mmuspec fact guest_kvm=yes
@@mmuspec begin seed-ksm-merge.vmm start=1.20
vmm version=1 workload=ksm-merge
done status=ok reason=
@@mmuspec end seed-ksm-merge.vmm rc=0 stop=9.75
@@mmuspec begin repro-B11 start=10.00
TAP version 13
# attempt 1 at 0.000 s
"""


def test_sections_keep_their_lines_status_and_times() -> None:
    out = serial.parse(DATA)
    assert out.kernel == "6.1.192" and out.boot_uptime == 0.91
    assert out.facts == {"guest_kvm": "yes"}
    vmm = out.sections["seed-ksm-merge.vmm"]
    assert vmm.lines == ["vmm version=1 workload=ksm-merge", "done status=ok reason="]
    assert (vmm.rc, vmm.seconds) == (0, 8.55)


def test_a_section_cut_off_by_a_hang_or_an_oops_has_no_status_and_the_boot_is_incomplete() -> None:
    out = serial.parse(DATA)
    cut = out.sections["repro-B11"]
    assert cut.rc is None and cut.seconds is None
    assert cut.lines[-1] == "# attempt 1 at 0.000 s"
    assert not out.complete
    assert serial.parse(DATA + "@@mmuspec halt uptime=12.5\n").complete
