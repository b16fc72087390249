"""The host's global settings a lab run touches, and giving every one of them back.

A lab run changes settings that belong to the whole machine: KSM's ``run``,
``pages_to_scan`` and ``sleep_millisecs``, and tracefs (its mount, ``tracing_on``,
``buffer_size_kb``, the enabled events).  ``Host`` saves them before touching anything,
writes the saved values to a journal (``JOURNAL``), and restores them on every way out:
a normal end, an exception, Ctrl-C or SIGTERM (turned into exceptions), and ``atexit``.
If the process is killed outright, the journal survives and the next run restores it
before it starts, and says so.  At the end KSM is told ``run=2`` (unmerge every merged
page) before its saved ``run`` is written back.  ``LOCK`` (``flock``) makes a second run
refuse at once instead of mixing its trace with the first's.

The same sequence as a shell script is in the header of ``vmm.c``.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

TRACEFS = Path("/sys/kernel/tracing")
KSM = Path("/sys/kernel/mm/ksm")
LOCK = Path(os.environ.get("MMUSPEC_LAB_LOCK", "/run/lock/mmuspec-lab.lock"))
JOURNAL = Path(os.environ.get("MMUSPEC_LAB_JOURNAL", "/run/lock/mmuspec-lab.restore.json"))
KSM_KEYS = ("pages_to_scan", "sleep_millisecs", "run")  # run last: restored after the rates
TRACE_KEYS = ("buffer_size_kb", "set_event", "tracing_on")
# The events a run enables: what the page automaton reads, and kvm_exit/kvm_entry/kvm_page_fault/
# kvm_set_spte_hva only to say whether they fired.
EVENTS = ("ksm:*", "kvm:kvm_unmap_hva_range", "kvm:kvm_age_hva", "kvm:kvm_test_age_hva", "kvm:kvm_set_spte_hva",
          "kvm:kvm_exit", "kvm:kvm_entry", "kvm:kvm_page_fault", "kvmmmu:kvm_mmu_spte_requested", "kvmmmu:kvm_mmu_prepare_zap_page")


class HostUnavailable(Exception):
    """The host cannot run the lab (one line: what is missing)."""


class LabBusy(HostUnavailable):
    """Another lab run holds the lock."""


KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00)
KVM_API_VERSION = 12


def kvm_api_version() -> int | None:
    """What /dev/kvm answers to KVM_GET_API_VERSION, or None when it is not a KVM device
    (a container may bind something else there)."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError:
        return None
    finally:
        os.close(fd)


def check_host() -> None:
    """Root, /dev/kvm and KSM, or one line saying which is missing."""
    if os.geteuid() != 0:
        raise HostUnavailable("the lab needs root (it sets KSM and tracefs, which belong to the whole host)")
    if not os.path.exists("/dev/kvm"):
        raise HostUnavailable("no /dev/kvm: this host cannot run KVM guests")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise HostUnavailable("/dev/kvm is not readable and writable")
    if kvm_api_version() != KVM_API_VERSION:
        raise HostUnavailable("/dev/kvm does not answer KVM_GET_API_VERSION with 12: it is not KVM")
    if not (KSM / "run").exists():
        raise HostUnavailable(f"no {KSM}: this kernel has no KSM (CONFIG_KSM)")


@contextmanager
def lab_lock(path: Path | None = None) -> Iterator[None]:
    """Hold the lab's lock (``LOCK`` unless ``path``), or raise ``LabBusy`` at once."""
    path = path or LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise LabBusy(f"another lab run holds {path} (pid {holder}); try again when it ends") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    return path.read_text().strip()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value if value.endswith("\n") else value + "\n")


def _set_events(events: str) -> None:
    _write(TRACEFS / "set_event", "")  # truncate: no event enabled
    for event in events.split():
        # Opened without O_TRUNC, set_event adds what is written (O_APPEND is refused).
        fd = os.open(TRACEFS / "set_event", os.O_WRONLY)
        try:
            os.write(fd, (event + "\n").encode())
        finally:
            os.close(fd)


@dataclass
class Saved:
    """What a run found, to write back."""

    mounted_by_us: bool = False
    ksm: dict[str, str] = field(default_factory=dict)
    trace: dict[str, str] = field(default_factory=dict)
    unmerge: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"mounted_by_us": self.mounted_by_us, "ksm": self.ksm, "trace": self.trace, "unmerge": self.unmerge}


def restore(saved: Saved) -> list[str]:
    """Write ``saved`` back; returns what could not be restored (empty when all was)."""
    problems: list[str] = []

    def attempt(what: str, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except OSError as exc:
            problems.append(f"{what}: {exc.strerror or exc}")

    if saved.trace:
        attempt("tracing_on", _write, TRACEFS / "tracing_on", "0")
        if "set_event" in saved.trace:
            attempt("set_event", _set_events, saved.trace["set_event"])
        if "buffer_size_kb" in saved.trace:
            attempt("buffer_size_kb", _write, TRACEFS / "buffer_size_kb", saved.trace["buffer_size_kb"])
        if "tracing_on" in saved.trace:
            attempt("tracing_on", _write, TRACEFS / "tracing_on", saved.trace["tracing_on"])
    if saved.unmerge:
        attempt("ksm run=2", _write, KSM / "run", "2")
    for key in KSM_KEYS:
        if key in saved.ksm:
            attempt(f"ksm {key}", _write, KSM / key, saved.ksm[key])
    if saved.mounted_by_us:
        done = subprocess.run(["umount", str(TRACEFS)], capture_output=True, text=True)
        if done.returncode != 0:
            problems.append(f"umount {TRACEFS}: {done.stderr.strip()}")
    return problems


def recover_journal() -> str | None:
    """Restore what a killed run left in the journal; a sentence saying so, or None."""
    if not JOURNAL.exists():
        return None
    try:
        data = json.loads(JOURNAL.read_text())
        saved = Saved(bool(data["mounted_by_us"]), dict(data["ksm"]), dict(data["trace"]), bool(data["unmerge"]))
    except (OSError, ValueError, KeyError, TypeError):
        JOURNAL.unlink(missing_ok=True)
        return f"an unreadable journal {JOURNAL} from an earlier run was removed"
    problems = restore(saved)
    JOURNAL.unlink(missing_ok=True)
    return (f"an earlier lab run ended without restoring the host; restored from {JOURNAL}"
            + (f" (not restored: {'; '.join(problems)})" if problems else ""))


class _Interrupted(BaseException):
    """SIGTERM or SIGHUP during a run: unwinds like Ctrl-C so that ``finally`` restores."""


def _raise_signal(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted(signum)


class Host:
    """A context manager owning the host's settings for one run (see the module doc)."""

    def __init__(self) -> None:
        self.saved = Saved()
        self.restored = False
        self.problems: list[str] = []
        self._old_handlers: dict[int, Any] = {}

    def _journal(self) -> None:
        JOURNAL.parent.mkdir(parents=True, exist_ok=True)
        tmp = JOURNAL.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.saved.to_json()))
        os.replace(tmp, JOURNAL)

    def __enter__(self) -> Host:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, _raise_signal)
        atexit.register(self.restore)
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        atexit.unregister(self.restore)

    def restore(self) -> None:
        if self.restored:
            return
        self.restored = True
        self.problems = restore(self.saved)
        JOURNAL.unlink(missing_ok=True)

    # -- tracefs ---------------------------------------------------------------------

    def mount_tracefs(self) -> None:
        if not (TRACEFS / "trace").exists():
            done = subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)], capture_output=True, text=True)
            if done.returncode != 0:
                raise HostUnavailable(f"cannot mount tracefs on {TRACEFS}: {done.stderr.strip()}")
            self.saved.mounted_by_us = True
            self._journal()

    def available_events(self) -> set[str]:
        return set(_read(TRACEFS / "available_events").split())

    def start_tracing(self, buffer_kb: int) -> list[str]:
        """Enable the lab's events (those this kernel has) in a cleared buffer; returns them."""
        for key in TRACE_KEYS:
            value = _read(TRACEFS / key)
            self.saved.trace[key] = " ".join(value.split()) if key == "set_event" else value
        self._journal()
        _write(TRACEFS / "tracing_on", "0")
        _write(TRACEFS / "buffer_size_kb", str(buffer_kb))
        have = self.available_events()
        wanted = [e for e in EVENTS if e.endswith(":*") or e in have]
        _set_events(" ".join(wanted))
        _write(TRACEFS / "trace", "")
        _write(TRACEFS / "tracing_on", "1")
        return wanted

    def stop_tracing(self) -> None:
        _write(TRACEFS / "tracing_on", "0")

    # -- KSM -------------------------------------------------------------------------

    def start_ksm(self, pages_to_scan: int, sleep_millisecs: int) -> None:
        for key in KSM_KEYS:
            self.saved.ksm[key] = _read(KSM / key)
        self.saved.unmerge = True
        self._journal()
        _write(KSM / "pages_to_scan", str(pages_to_scan))
        _write(KSM / "sleep_millisecs", str(sleep_millisecs))
        _write(KSM / "run", "1")

    def ksm_counters(self) -> dict[str, int]:
        out = {}
        for key in ("pages_shared", "pages_sharing", "pages_unshared", "full_scans"):
            try:
                out[key] = int(_read(KSM / key))
            except (OSError, ValueError):
                continue
        return out
