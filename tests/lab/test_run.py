"""A whole lab run (lab/run.py) on a fake host: the VMM replaced by a program that replays a
recorded run (its output, and its trace into the fake tracefs), so that everything but the
guest itself runs: the lock, the journal, the settings and their restore, the trace saved
behind the lab header, and the analysis of what was recorded."""

import json
import stat
import sys

import pytest

from mmuspec.cli import main
from mmuspec.lab import host, run
from mmuspec.lab.run import LabOptions, memory_limit, options_of, run_lab
from tests.lab import fakehost
from tests.lab.recorded import DATA, header, vmm_run

REPLAY = """#!{python}
import lzma, resource, sys, time
from pathlib import Path
args = sys.argv[1:]
marker = Path(args[args.index("--marker") + 1])
data = Path({data!r})
Path({limits!r}).write_text(str(resource.getrlimit(resource.RLIMIT_AS)[0]))
trace = lzma.decompress((data / "trace.txt.xz").read_bytes()).decode()
marker.with_name("trace").write_text(trace.split("\\n", 1)[1])
time.sleep({sleep})
sys.stdout.write(lzma.decompress((data / "vmm.txt.xz").read_bytes()).decode())
sys.exit({code})
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    writes = fakehost.install(monkeypatch, tmp_path / "host")
    monkeypatch.setattr(run, "check_host", lambda: None)
    monkeypatch.setattr(run, "host_description", lambda: fakehost.__name__)

    def vmm(workload, code=0, sleep=0.0):
        script = tmp_path / "vmm"
        script.write_text(REPLAY.format(python=sys.executable, data=str(DATA / workload), limits=str(tmp_path / "as"),
                                        sleep=sleep, code=code))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setattr(run, "vmm_path", lambda: script)
        return options_of(vmm_run(workload), header(workload))

    staging = tmp_path / "out"
    staging.mkdir()
    return tmp_path / "host", writes, vmm, staging


def test_a_replayed_ksm_merge_run_conforms_and_leaves_the_host_as_it_was(fake):
    root, writes, vmm, staging = fake
    result = run_lab(vmm("ksm-merge"), staging)
    assert result.ok and result.integrity_ok and result.verdict.admitted == result.verdict.pages == 64
    assert fakehost.state(root) == fakehost.as_before(root) and not host.JOURNAL.exists()
    assert result.restore_problems == [] and ("ksm/run", "2") in writes
    saved = (staging / "trace.txt").read_text().splitlines()
    assert saved[0].startswith("# mmuspec-lab hva=0x5a5a00000000 gfn=0x1000 pages=64 vcpu_tids=")
    assert "workload=ksm-merge era=6.18" in saved[0] and result.lost_events == 0


def test_a_zap_run_does_not_touch_ksm(fake):
    root, writes, vmm, staging = fake
    result = run_lab(vmm("zap"), staging)
    assert result.ok and not any(k.startswith("ksm/") for k, _ in writes)
    assert fakehost.state(root) == fakehost.as_before(root)


def test_the_vmm_runs_with_its_address_space_bounded_by_the_run_s_size(fake, tmp_path):
    _, _, vmm, staging = fake
    options = vmm("ksm-merge")
    run_lab(options, staging)
    limit = int((tmp_path / "as").read_text())
    assert limit == memory_limit(options.resolved()) == 64 * 4096 + (16 << 20) + 3 * (8 << 20) + (64 << 20)
    assert memory_limit(LabOptions("zap", pages=65536, vcpus=16)) < 512 << 20


def test_a_vmm_that_fails_fails_the_run_and_the_host_is_restored(fake):
    root, _, vmm, staging = fake
    with pytest.raises(RuntimeError, match=r"the VMM failed \(exit 3\)"):
        run_lab(vmm("cow-break", code=3), staging)
    assert fakehost.state(root) == fakehost.as_before(root) and not host.JOURNAL.exists()


def test_a_vmm_the_host_refuses_is_a_host_that_cannot_run_the_lab(fake):
    root, _, vmm, staging = fake
    with pytest.raises(host.HostUnavailable, match="the VMM could not run the guest"):
        run_lab(vmm("ksm-merge", code=2), staging)
    assert fakehost.state(root) == fakehost.as_before(root)


def test_a_vmm_that_does_not_end_is_killed_after_its_time_and_the_host_restored(fake, monkeypatch):
    root, _, vmm, staging = fake
    monkeypatch.setattr(run, "GRACE", 0.5)
    options = vmm("ksm-merge", sleep=60)
    options.seconds = 0.5
    with pytest.raises(RuntimeError, match=r"did not end within 1 s and was killed"):
        run_lab(options, staging)
    assert fakehost.state(root) == fakehost.as_before(root)


def test_a_second_run_refuses_while_the_first_holds_the_lock(fake):
    root, _, vmm, staging = fake
    options = vmm("ksm-merge")
    with host.lab_lock(), pytest.raises(host.LabBusy, match="another lab run holds"):
        run_lab(options, staging)
    assert fakehost.state(root) == fakehost.as_before(root)


def test_a_run_after_a_crashed_one_restores_the_journal_first_and_says_so(fake):
    root, _, vmm, staging = fake
    (root / "ksm" / "run").write_text("1\n")  # what a killed run left
    host.JOURNAL.write_text(json.dumps({"mounted_by_us": False, "ksm": {"run": "0"}, "trace": {}, "unmerge": True}))
    said = []
    result = run_lab(vmm("zap"), staging, say=said.append)
    assert said[0].startswith("an earlier lab run ended without restoring the host")
    assert result.notes[0] == said[0] and fakehost.state(root) == fakehost.as_before(root)


def test_mmuspec_lab_without_root_prints_one_line_and_exits_2(monkeypatch, capsys):
    monkeypatch.setattr(host.os, "geteuid", lambda: 1000)
    assert main(["lab", "ksm-merge", "--out", "/nonexistent/never-written"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == ("mmuspec lab: the lab needs root (it sets KSM and tracefs, which belong to the "
                                 "whole host)\n")


def test_mmuspec_lab_while_another_run_holds_the_lock_exits_2(fake, capsys):
    _, _, vmm, staging = fake
    vmm("ksm-merge")
    with host.lab_lock():
        assert main(["lab", "ksm-merge", "--quiet", "--out", str(staging / "busy")]) == 2
    assert "another lab run holds" in capsys.readouterr().err
    assert not (staging / "busy").exists()


def test_mmuspec_lab_json_of_a_replayed_run_follows_the_documented_schema(fake, capsys):
    _, _, vmm, staging = fake
    vmm("cow-break")
    assert main(["lab", "cow-break", "--quiet", "--json", "--out", str(staging / "cow")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "mmuspec.lab/1" and data["ok"] is True
    assert {"result.json", "trace.txt", "vmm.txt", "costs.toml", "timeline.png"} <= {
        p.name for p in (staging / "cow").iterdir()}
