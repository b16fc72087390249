"""Real lab runs on this host's KVM (marker ``lab``: `pytest -m lab tests/lab/test_real.py`).

They run in the default suite where the host has root, a /dev/kvm that answers as KVM, KSM
and a C compiler, and skip saying which is missing elsewhere.  They touch the host's KSM and
tracefs and must give them back; each run is short (1-3 s of guest time) and must keep
integrity and conform to the model of the running kernel's era."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mmuspec.cli import main
from mmuspec.lab.build import VmmUnavailable, vmm_path
from mmuspec.lab.host import KSM, TRACEFS, HostUnavailable, check_host

pytestmark = pytest.mark.lab


def _missing() -> str | None:
    try:
        check_host()
        vmm_path()
    except (HostUnavailable, VmmUnavailable) as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def missing() -> str | None:
    """What this host lacks for the lab (checked when a lab test runs, not when the default
    suite collects this file)."""
    return _missing() if os.name == "posix" else "not a Linux host"


@pytest.fixture
def lab_host(missing):
    if missing is not None:
        pytest.skip(f"the lab cannot run here: {missing}")


def _settings() -> dict[str, str]:
    """Every global setting a lab run touches, as this host has it now."""
    out = {f"ksm/{k}": (KSM / k).read_text().strip() for k in ("run", "pages_to_scan", "sleep_millisecs")}
    mounted = (TRACEFS / "trace").exists()
    out["tracefs mounted"] = str(mounted)
    if mounted:
        for k in ("tracing_on", "buffer_size_kb", "set_event"):
            out[f"tracing/{k}"] = " ".join((TRACEFS / k).read_text().split())
    return out


@pytest.mark.usefixtures("lab_host")
@pytest.mark.parametrize("workload,extra", [
    ("ksm-merge", ["--seconds", "2"]),
    ("cow-break", ["--seconds", "3"]),
    ("zap", ["--seconds", "1", "--vcpus", "2"]),
    ("aging", ["--seconds", "1"]),
    ("memslot", ["--seconds", "1"]),
])
def test_a_real_run_keeps_integrity_conforms_and_gives_the_host_back(workload, extra, tmp_path, capsys):
    before = _settings()
    out = tmp_path / workload
    status = main(["lab", workload, "--quiet", "--json", "--out", str(out), *extra])
    data = json.loads(capsys.readouterr().out)
    assert status == 0, data["conformance"]["first_rejection"] or data["measurement"]["integrity_violations"]
    assert data["integrity_ok"] and data["conformance"]["rejected"] == 0 and data["restore_problems"] == []
    assert data["conformance"]["pages"] > 0 and data["lost_events"] == 0
    assert _settings() == before
    assert Path(out / "trace.txt").read_text().startswith("# mmuspec-lab hva=")
    if workload in ("ksm-merge", "cow-break"):
        assert data["measurement"]["counts"]["merges"] > 0
        assert int((KSM / "pages_sharing").read_text()) == 0 or before["ksm/run"] == "1"


@pytest.mark.usefixtures("lab_host")
def test_a_second_real_run_refuses_while_one_holds_the_lock(tmp_path, capsys):
    from mmuspec.lab.host import lab_lock

    with lab_lock():
        assert main(["lab", "zap", "--quiet", "--seconds", "1", "--out", str(tmp_path / "z")]) == 2
    assert "another lab run holds" in capsys.readouterr().err


def test_where_the_lab_cannot_run_it_exits_2_with_one_line(missing, tmp_path, capsys):
    if missing is None:
        pytest.skip("this host can run the lab (the refusal is tested on a fake host in test_run.py)")
    assert main(["lab", "zap", "--quiet", "--out", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmuspec lab: ") and err.count("\n") == 1
