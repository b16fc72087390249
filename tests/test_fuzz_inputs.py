"""Every kind of input file, damaged at random, is bad input or a run, never a crash.

One fuzz target per input kind: scenario, workload and bug files (TOML), variants
(Python), replay files (JSON), checkpoints, and kernel traces (text, gzip, xz).  Each
example damages a valid file (flipped bits, cut, inserted or replaced bytes) or puts a
value of any type in one of its fields, runs the command a user would run on it, and
requires what the command line promises for bad input: exit 2 with one line naming the
file, never exit 3 ("a bug in mmuspec") nor a traceback, and no output file or folder
half-written.  A damaged file that is still valid may run (exit 0, 1 or 4).

The default suite runs a few examples per kind; ``pytest -m fuzz`` runs
``MMUSPEC_FUZZ_EXAMPLES`` (default 300) per kind.
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import shutil
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmuspec import failures
from mmuspec.errors import MmuspecError
from mmuspec.rediscover import load_bug
from tests.explore.test_checkpoint import header_of, resigned
from tests.helpers import run_cli
from tests.simulate.test_simulate import SMALL
from tests.test_rediscover import GOOD as BUG

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "tests" / "traces" / "data" / "ftrace_kvm.txt"
SCENARIO = ROOT / "scenarios" / "zap.toml"
VARIANT = ROOT / "examples" / "variants" / "trust_the_sequence.py"
SEQ_ONLY = ("--set", "kvm.fault_retry_checks=seq_only")
LONG = int(os.environ.get("MMUSPEC_FUZZ_EXAMPLES", "300"))
FEW = 8

# -- damaging bytes --------------------------------------------------------------------


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with one to three random edits."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(0, len(out) - 1)))
        edit = draw(st.sampled_from(["flip", "cut", "insert", "replace", "drop"]))
        if edit == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut":
            del out[at:]
        elif edit == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16) | st.sampled_from(
                [b"\xff", b"\xc3", b"\0", b"[[", b"]", b"=", b'"', b"\n", b"{", b"-1e999", b"9" * 40]))
        elif edit == "replace":
            out[at : at + draw(st.integers(1, 16))] = draw(st.binary(max_size=16))
        else:
            del out[at : at + draw(st.integers(1, 64))]
    return bytes(out)


ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


def toml_value(value: Any) -> str:
    """``value`` written as TOML (None, which TOML lacks, as an empty table)."""
    if value is None:
        return "{}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") if abs(value) == float("inf") \
            else repr(value)
    if isinstance(value, int | str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


# -- what the command line must do ---------------------------------------------------------


def require_clean(status: int, err: str, allowed: set[int], *, outputs: tuple[Path, ...] = (),
                  lines: int | None = 1) -> None:
    assert "Traceback" not in err and "internal error" not in err, err
    assert status in allowed, (status, err)
    if status == 2:
        last = err.rstrip("\n").splitlines()[-1]
        assert last.startswith("mmuspec: error: "), err
        if lines is not None:
            assert err.count("\n") == lines, err
        for out in outputs:
            assert not out.exists(), f"{out} half-written on bad input"


def _settings(examples: int) -> Callable[[Any], Any]:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def both(**strategies: Any) -> Callable[[Callable[..., None]], tuple[Any, Any]]:
    """The decorated target as two tests: a few examples in the default suite, many behind
    ``-m fuzz``."""

    def make(body: Callable[..., None]) -> tuple[Any, Any]:
        def copy() -> Any:
            return types.FunctionType(body.__code__, body.__globals__, body.__name__, body.__defaults__,
                                      body.__closure__)

        return (_settings(FEW)(given(**strategies)(copy())),
                pytest.mark.fuzz(_settings(LONG)(given(**strategies)(copy()))))

    return make


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Valid files of every kind, written by mmuspec itself where it writes them."""
    from mmuspec.cli import main

    folder = tmp_path_factory.mktemp("seeds")
    trace = folder / "race.json"
    assert main(["check", "zap", *SEQ_ONLY, "--trace-out", str(trace), "--quiet"]) == 1
    ck = folder / "b1.ck"
    assert main(["check", "zap", *SEQ_ONLY, "--engine", "interpreted", "--max-states", "60", "--checkpoint",
                 str(ck), "--checkpoint-every", "0", "--quiet"]) == 4
    return {"replay": trace, "checkpoint": ck}


def _fuzz_check(capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]) -> None:
    out = tmp_path / "out.json"
    out.unlink(missing_ok=True)
    status, _, err = run_cli(capsys, "check", *argv, "--engine", "interpreted", "--max-states", "300",
                             "--trace-out", str(out), "--quiet")
    require_clean(status, err, {0, 1, 2, 4}, outputs=(out,))


# -- scenario files -------------------------------------------------------------------------


def _scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(data)
    _fuzz_check(capsys, tmp_path, [str(path)])


@both(data=damaged(SCENARIO.read_bytes()))
def _damaged_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    _scenario(tmp_path, capsys, data)


test_a_damaged_scenario_file_is_bad_input_or_a_run, test_many_damaged_scenario_files = _damaged_scenario


SCENARIO_KEYS = [line.split("=")[0].strip() for line in SCENARIO.read_text().splitlines()
                 if "=" in line and not line.lstrip().startswith("#")]


@both(key=st.sampled_from(SCENARIO_KEYS), value=ANY_VALUE)
def _scenario_field(tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: Any) -> None:
    lines = [f"{key} = {toml_value(value)}" if "=" in line and line.split("=")[0].strip() == key else line
             for line in SCENARIO.read_text().splitlines()]
    _scenario(tmp_path, capsys, "\n".join(lines).encode())


test_a_scenario_field_of_any_type_is_bad_input_or_a_run, test_many_scenario_fields = _scenario_field


# -- workload files ---------------------------------------------------------------------------


def _workload(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    from mmuspec.inputs import decode
    from mmuspec.simulate.workload import parse_workload

    try:
        parse_workload(decode(data, "w.toml"), "w.toml", "w")
    except MmuspecError as exc:
        assert str(exc).startswith("w.toml"), exc
    path, out = tmp_path / "w.toml", tmp_path / "sim"
    path.write_bytes(data)
    shutil.rmtree(out, ignore_errors=True)
    if b"duration" in data and len(data) % 4 == 0:  # a quarter of them through the command: it plots
        status, _, err = run_cli(capsys, "simulate", str(path), "--era", "5.13", "--duration", "0.5",
                                 "--out", str(out), "--quiet")
        require_clean(status, err, {0, 2}, outputs=(out,))


@both(data=damaged(SMALL.encode()))
def _damaged_workload(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    _workload(tmp_path, capsys, data)


test_a_damaged_workload_file_is_bad_input_or_a_run, test_many_damaged_workload_files = _damaged_workload


@both(value=ANY_VALUE, phase=st.booleans(), key=st.sampled_from(["name", "duration", "rate_scale", "fill"]))
def _workload_phases(tmp_path: Path, capsys: pytest.CaptureFixture[str], value: Any, phase: bool, key: str) -> None:
    """Phases of the wrong type, empty, or with a field of any type."""
    head = SMALL.split("[[phases]]")[0]
    tail = "[ksm]" + SMALL.split("[ksm]")[1]
    body = f'[[phases]]\nname = "p"\n{key} = {toml_value(value)}\n' if phase else f"phases = {toml_value(value)}\n"
    text = (head.replace("[vms]", body + "[vms]") if not phase else head + body) + tail
    _workload(tmp_path, capsys, text.encode())


test_workload_phases_of_any_type_are_bad_input_or_a_run, test_many_workload_phases = _workload_phases


# -- bug files -------------------------------------------------------------------------------


@both(data=damaged(BUG.encode()))
def _damaged_bug(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    path = tmp_path / "B99-fuzz.toml"
    path.write_bytes(data)
    try:
        load_bug(path)
    except Exception as exc:
        assert failures.report(exc) == 2
        _, err = capsys.readouterr()
        require_clean(2, err, {2})
        assert err.startswith(f"mmuspec: error: {path}"), err


test_a_damaged_bug_file_is_bad_input_or_loads, test_many_damaged_bug_files = _damaged_bug


# -- variant files -----------------------------------------------------------------------------


@both(data=damaged(VARIANT.read_bytes()))
def _damaged_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    path = tmp_path / "v.py"
    path.write_bytes(data)
    _fuzz_check(capsys, tmp_path, ["zap", "--variant", str(path)])


test_a_damaged_variant_is_bad_input_or_a_run, test_many_damaged_variants = _damaged_variant


# -- replay files ------------------------------------------------------------------------------


def _replay(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(data)
    status, _, err = run_cli(capsys, "replay", str(path))
    require_clean(status, err, {0, 1, 2})
    if status == 2:
        assert err.startswith(f"mmuspec: error: {path}"), err


@both(data=st.data())
def _damaged_replay(seeds: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], data: Any) -> None:
    _replay(tmp_path, capsys, data.draw(damaged(seeds["replay"].read_bytes())))


test_a_damaged_replay_file_is_bad_input_or_replays, test_many_damaged_replay_files = _damaged_replay


@both(data=st.data(), value=ANY_VALUE)
def _replay_field(seeds: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], data: Any,
                  value: Any) -> None:
    trace = json.loads(seeds["replay"].read_text())
    key = data.draw(st.sampled_from(sorted(trace)))
    if data.draw(st.booleans()):
        trace[key] = value
    else:
        del trace[key]
    _replay(tmp_path, capsys, json.dumps(trace, indent=2).encode())


test_a_replay_field_of_any_type_is_bad_input_or_replays, test_many_replay_fields = _replay_field


# -- checkpoints -------------------------------------------------------------------------------


def _resume(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    path = tmp_path / "c.ck"
    path.write_bytes(data)
    _fuzz_check(capsys, tmp_path, ["zap", *SEQ_ONLY, "--resume", str(path)])


@both(data=st.data())
def _damaged_checkpoint(seeds: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], data: Any) -> None:
    _resume(tmp_path, capsys, data.draw(damaged(seeds["checkpoint"].read_bytes())))


test_a_damaged_checkpoint_is_refused, test_many_damaged_checkpoints = _damaged_checkpoint


@both(data=st.data(), value=ANY_VALUE)
def _crafted_checkpoint(seeds: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], data: Any,
                        value: Any) -> None:
    """A header field of any value, signed again: the checksum is right, the content is not."""
    raw = seeds["checkpoint"].read_bytes()
    _resume(tmp_path, capsys, resigned(raw, data.draw(st.sampled_from(sorted(header_of(raw)))), value))


test_a_crafted_checkpoint_is_refused_or_resumes, test_many_crafted_checkpoints = _crafted_checkpoint


# -- kernel traces -------------------------------------------------------------------------------

PACK = {"": lambda b: b, ".gz": lambda b: gzip.compress(b, mtime=0), ".xz": lzma.compress}


@both(suffix=st.sampled_from(sorted(PACK)), packed=st.booleans(), data=st.data())
def _damaged_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, packed: bool, data: Any) -> None:
    """Damage to the text, or to the compressed bytes."""
    raw = TRACE.read_bytes()
    blob = data.draw(damaged(PACK[suffix](raw))) if packed else PACK[suffix](data.draw(damaged(raw)))
    path = tmp_path / f"t.txt{suffix}"
    path.write_bytes(blob)
    status, _, err = run_cli(capsys, "trace", "stats", str(path))
    require_clean(status, err, {0, 2}, lines=None)


test_a_damaged_kernel_trace_is_bad_input_or_read, test_many_damaged_kernel_traces = _damaged_trace
