"""The lab gives the host back: every setting it touches is restored on success, failure,
exception, Ctrl-C, SIGTERM and, from the journal, after a crash; merged pages are unmerged;
a second run refuses while the lock is held (lab/host.py, on a fake sysfs/tracefs root)."""

import json
import signal
import subprocess
import sys

import pytest

from mmuspec.lab import host
from tests.lab import fakehost


@pytest.fixture
def fake(tmp_path, monkeypatch):
    writes = fakehost.install(monkeypatch, tmp_path)
    return tmp_path, writes


def _take(h):
    enabled = h.start_tracing(4096)
    h.start_ksm(1000, 10)
    return enabled


def test_a_run_sets_ksm_and_tracing_and_journals_what_it_found_before_changing_anything(fake):
    root, _ = fake
    with host.Host() as h:
        enabled = _take(h)
        assert fakehost.state(root)["ksm/run"] == "1" and fakehost.state(root)["ksm/pages_to_scan"] == "1000"
        assert fakehost.state(root)["tracing/buffer_size_kb"] == "4096"
        journal = json.loads(host.JOURNAL.read_text())
        assert journal["ksm"] == fakehost.BEFORE_KSM and journal["trace"] == fakehost.BEFORE_TRACE
        assert journal["unmerge"] is True and journal["mounted_by_us"] is False
    assert "kvmmmu:kvm_mmu_spte_requested" in enabled and "ksm:*" in enabled
    assert "kvm:kvm_set_spte_hva" not in enabled  # not in this kernel's available_events


def test_settings_are_restored_and_the_journal_removed_on_success(fake):
    root, _ = fake
    with host.Host() as h:
        _take(h)
    assert fakehost.state(root) == fakehost.as_before(root)
    assert not host.JOURNAL.exists() and h.problems == []


def test_merged_pages_are_unmerged_before_ksm_s_saved_run_value_is_written_back(fake):
    _, writes = fake
    with host.Host() as h:
        _take(h)
    ksm_runs = [v for k, v in writes if k == "ksm/run"]
    assert ksm_runs == ["1", "2", "0"]
    # the rates go back before run: ksmd never runs with the lab's rates after the run
    after = writes[writes.index(("ksm/run", "2")):]
    assert [k for k, _ in after] == ["ksm/run", "ksm/pages_to_scan", "ksm/sleep_millisecs", "ksm/run"]


def test_tracing_is_off_while_the_events_and_buffer_go_back_and_on_again_last(fake):
    _, writes = fake
    with host.Host() as h:
        _take(h)
    after = [w for w in writes if w[0].startswith("tracing/")][-4:]
    assert after == [("tracing/tracing_on", "0"), ("tracing/set_event", "sched:sched_switch"),
                     ("tracing/buffer_size_kb", "1408"), ("tracing/tracing_on", "1")]


def test_settings_are_restored_when_the_run_fails_with_an_exception(fake):
    root, _ = fake
    with pytest.raises(RuntimeError, match="the VMM failed"), host.Host() as h:
        _take(h)
        raise RuntimeError("the VMM failed (exit 3)")
    assert fakehost.state(root) == fakehost.as_before(root) and not host.JOURNAL.exists()


def test_settings_are_restored_on_ctrl_c(fake):
    root, _ = fake
    with pytest.raises(KeyboardInterrupt), host.Host() as h:
        _take(h)
        raise KeyboardInterrupt
    assert fakehost.state(root) == fakehost.as_before(root) and not host.JOURNAL.exists()


def test_a_run_that_only_mounted_tracefs_unmounts_it_again(fake, monkeypatch):
    root, _ = fake
    (root / "tracing" / "trace").unlink()  # not mounted
    commands = []

    def fake_run(args, **kw):
        commands.append(args[0])
        if args[0] == "mount":
            (root / "tracing" / "trace").write_text("")
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(host.subprocess, "run", fake_run)
    with host.Host() as h:
        h.mount_tracefs()
        assert json.loads(host.JOURNAL.read_text())["mounted_by_us"] is True
    assert commands == ["mount", "umount"]


def test_a_tracefs_already_mounted_is_left_mounted(fake, monkeypatch):
    monkeypatch.setattr(host.subprocess, "run", lambda *a, **k: pytest.fail("mount or umount called"))
    with host.Host() as h:
        h.mount_tracefs()
        _take(h)


def test_a_setting_that_cannot_be_written_back_is_reported_and_the_rest_still_restored(fake):
    root, _ = fake
    with host.Host() as h:
        _take(h)
        (root / "ksm" / "sleep_millisecs").unlink()
        (root / "ksm" / "sleep_millisecs").mkdir()  # writing it now fails
    assert h.problems and h.problems[0].startswith("ksm sleep_millisecs")
    assert (root / "ksm" / "run").read_text().strip() == "0"
    assert (root / "ksm" / "pages_to_scan").read_text().strip() == "100"


def _child(root, then):
    return subprocess.Popen([sys.executable, "-c", fakehost.child_script(root, then)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=fakehost.env())


def _wait_ready(proc):
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_settings_are_restored_when_the_process_is_interrupted_by(tmp_path, sig):
    fakehost.make(tmp_path)
    proc = _child(tmp_path, "time.sleep(60)")
    _wait_ready(proc)
    assert fakehost.state(tmp_path)["ksm/run"] == "1"
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    assert fakehost.state(tmp_path) == fakehost.as_before(tmp_path)
    assert not (tmp_path / "lab.restore.json").exists()


def test_after_a_crash_the_journal_survives_and_the_next_run_restores_from_it(tmp_path, monkeypatch):
    fakehost.make(tmp_path)
    proc = _child(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)")
    _wait_ready(proc)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert fakehost.state(tmp_path)["ksm/run"] == "1"  # left changed by the killed run
    assert (tmp_path / "lab.restore.json").exists()
    monkeypatch.setattr(host, "TRACEFS", tmp_path / "tracing")
    monkeypatch.setattr(host, "KSM", tmp_path / "ksm")
    monkeypatch.setattr(host, "JOURNAL", tmp_path / "lab.restore.json")
    said = host.recover_journal()
    assert said and said.startswith("an earlier lab run ended without restoring the host")
    assert fakehost.state(tmp_path) == fakehost.as_before(tmp_path)
    assert not (tmp_path / "lab.restore.json").exists() and host.recover_journal() is None


def test_an_unreadable_journal_is_removed_and_said(fake):
    host.JOURNAL.write_text("{not json")
    assert "unreadable journal" in host.recover_journal()
    assert not host.JOURNAL.exists()


def test_a_second_run_refuses_at_once_while_another_holds_the_lock(tmp_path):
    fakehost.make(tmp_path)
    proc = _child(tmp_path, "time.sleep(60)")
    try:
        _wait_ready(proc)
        with pytest.raises(host.LabBusy, match=rf"pid {proc.pid}\)"), host.lab_lock(tmp_path / "lab.lock"):
            pytest.fail("took a held lock")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with host.lab_lock(tmp_path / "lab.lock"):  # free again once the first run ended
        pass


def test_without_root_the_lab_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr(host.os, "geteuid", lambda: 1000)
    with pytest.raises(host.HostUnavailable, match=r"^the lab needs root") as err:
        host.check_host()
    assert "\n" not in str(err.value)


def test_without_dev_kvm_the_lab_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr(host.os, "geteuid", lambda: 0)
    monkeypatch.setattr(host.os.path, "exists", lambda p: p != "/dev/kvm" and True)
    with pytest.raises(host.HostUnavailable, match=r"^no /dev/kvm: this host cannot run KVM guests$"):
        host.check_host()
