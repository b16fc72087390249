"""--subscriber, the one-line refusal of a scenario in an era without its subscriber, and
the device's steps in text and ftrace counterexamples."""

import json
import shlex

from mmuspec.cli import main
from tests.cli.golden import assert_readme_sample
from tests.helpers import run_cli as run


def test_subscriber_picks_one_side_of_kvm_and_device(capsys):
    status, out, _ = run(capsys, "check", "kvm-and-device", "--era", "6.10", "--subscriber", "hmm", "--json", "--quiet")
    data = json.loads(out)
    assert status == 0 and data["config"]["subscriber"] == "hmm" and data["config"]["vcpus"] == 0
    status, out, _ = run(capsys, "check", "kvm-and-device", "--era", "6.10", "--subscriber", "kvm", "--quiet")
    assert status == 0 and out.splitlines()[0].endswith("arch x86, 1 vCPU x 1 access")


def test_subscriber_kvm_on_a_device_only_scenario_is_one_line_of_usage_error(capsys):
    status, out, err = run(capsys, "check", "hmm-mirror", "--subscriber", "kvm", "--quiet")
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1 and "has only hmm" in err


def test_a_device_mirror_before_v5_5_is_refused_in_one_line(capsys):
    status, out, err = run(capsys, "check", "hmm-mirror", "--era", "3.7", "--quiet")
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "mmu_interval_notifier" in err and "v5.5" in err


def test_a_broken_driver_pattern_names_the_kernel_functions_in_its_trace(capsys):
    status, out, _ = run(capsys, "check", "hmm-mirror", "--era", "6.10", "--set", "hmm.device_update=after_unlock",
                         "--quiet")
    assert status == 1
    for step in ("mmu_interval_read_begin", "hmm_range_fault", "dmirror_range_fault", "mn_itree_inv_start_range",
                 "dmirror_interval_invalidate", "dmirror_do_fault"):
        assert step in out
    assert "through its device page table" in out


def test_the_ftrace_writer_marks_the_interval_notifier_steps_as_model_only(capsys):
    status, out, _ = run(capsys, "check", "hmm-mirror", "--era", "6.10", "--set", "hmm.device_update=after_unlock",
                         "--trace-format", "ftrace", "--quiet")
    assert status == 1
    lines = out.splitlines()
    assert any(line.startswith("# mmuspec: dmirror0 dmirror_do_fault:") for line in lines)
    assert any(line.startswith("# mmuspec: madvise dmirror_interval_invalidate:") for line in lines)
    assert not any("kvm_unmap_hva_range" in line for line in lines)  # KVM does not subscribe


def test_the_matrix_marks_eras_without_the_subscriber_n_a(capsys):
    status, out, _ = run(capsys, "check", "pfncache", "--matrix", "--eras", "5.13,6.10", "--arches", "x86", "--quiet")
    assert status == 0
    rows = {line.split("|")[2].strip(): line.split("|")[3].strip() for line in out.splitlines()
            if line.startswith("| pfncache")}
    assert rows == {"5.13": "n/a", "6.10": "safe, -"}


DRIVER = "mmuspec check hmm-mirror --era 6.10 --set hmm.device_update=after_unlock --first"


def test_the_readme_driver_counterexample_is_the_real_output_of_the_command_it_names(capsys):
    status = main(shlex.split(DRIVER)[1:])
    out = capsys.readouterr().out
    assert status == 1
    assert_readme_sample(DRIVER, out)
