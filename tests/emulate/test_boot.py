from pathlib import Path

import pytest

from mmuspec.emulate import boot


def test_a_tcg_boot_passes_the_host_clock_because_kvm_enters_no_guest_while_tsc_khz_is_0() -> None:
    # Recorded on 6.1.192 under tcg without it: "tsc: Marking TSC unstable due to could not
    # calculate TSC khz", then the VMM's vCPU never reached kvm_entry (2,850 kvm_write_tsc_offset
    # events, the VMM's own timeout): kvm_guest_time_update() returns while cpu_tsc_khz is 0.
    argv = boot.qemu_argv(Path("bz"), Path("rd"), Path("c"), Path("d"), "tcg", tsc_khz=2596150)
    assert "tsc_early_khz=2596150" in argv[argv.index("-append") + 1]
    kvm = boot.qemu_argv(Path("bz"), Path("rd"), Path("c"), Path("d"), "kvm")
    assert "tsc_early_khz" not in kvm[kvm.index("-append") + 1]


def test_the_host_clock_comes_from_cpuinfo_with_a_fallback() -> None:
    assert boot.host_tsc_khz("processor\t: 0\ncpu MHz\t\t: 2596.150\n") == 2596150
    assert boot.host_tsc_khz("processor\t: 0\n") == 2_000_000


def test_a_pvm_host_opens_dev_kvm_but_whole_kernels_boot_under_tcg(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    # Recorded on a kvm_pvm host: qemu -accel kvm -cpu host fails to set MSR 0x10a, and with
    # -cpu qemu64 the kernel prints nothing while the host logs "kvm-pvm: triple fault".
    monkeypatch.setattr(boot, "PVM_MODULE", tmp_path)
    assert boot.choose_accel("auto", []) == "tcg"
    assert boot.choose_accel("kvm", []) == "kvm"


def test_each_cpu_is_its_own_socket_because_the_mp_table_lists_one_cpu_per_package() -> None:
    # Recorded: 6.1.192 under "-smp 2" printed "smpboot: Allowing 1 CPUs" (MPTABLE: Processor #0
    # only), and B11's paced race cannot open on one CPU: the lock holder spins, the waiter waits.
    argv = boot.qemu_argv(Path("bz"), Path("rd"), Path("c"), Path("d"), "tcg", cpus=2, tsc_khz=1)
    assert argv[argv.index("-smp") + 1] == "2,sockets=2,cores=1,threads=1"
