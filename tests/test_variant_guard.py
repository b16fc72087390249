"""Bad variants are bad input: one line naming the file (and the line where there is one),
exit status 2, nothing written; a variant that never returns is stopped, in both engines.

The interpreter stops a call of the variant's code by a deadline (``--smoke``'s time budget)
or the first Ctrl-C; the compiled core runs every loop of a variant on a budget of iterations
per step (``native.translate.LOOP_BUDGET``).
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import mmuspec.checking
import mmuspec.variant_guard
from mmuspec.checking import CheckSpec, run_check
from mmuspec.errors import InputError
from mmuspec.model import load_scenario, load_variant
from mmuspec.variant_check import VariantCheck
from mmuspec.variant_guard import VariantInterrupted
from tests.helpers import run_cli

# mmu_notifier_retry_hva is what a 5.13 x86 fault asks before it installs the SPTE.
RAISES = "def mmu_notifier_retry_hva(k, s, mmu_seq, hva):\n    return mmu_seq // (s[k.L.SEQ] - s[k.L.SEQ])\n"
# `while` is outside the translator's subset: only the interpreter runs it.
WHILE_FOREVER = "def mmu_notifier_retry_hva(k, s, mmu_seq, hva):\n    while True:\n        pass\n"
# A loop the compiled core translates, on its budget.
FOR_EVER = ("def mmu_notifier_retry_hva(k, s, mmu_seq, hva):\n    n = 0\n"
            "    for i in range(1000000000000000):\n        n = n + 1\n    return s[k.L.SEQ] != mmu_seq\n")


def write(tmp_path, text, name="v.py"):
    path = tmp_path / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return str(path)


def search(path, engine, **options):
    spec = CheckSpec(load_scenario("zap"), "5.13", {}, load_variant(path))
    return run_check(spec, engine=engine, **options)


def cli(*argv, timeout=120):
    """``mmuspec ARGV`` in a child process: (status, stdout, stderr, seconds)."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "mmuspec", *argv], capture_output=True, text=True,
                          timeout=timeout, check=False)
    return done.returncode, done.stdout, done.stderr, time.monotonic() - start


def error_lines(err):
    """The stderr lines that are not the note that the interpreter runs instead."""
    return [line for line in err.splitlines() if "runs instead" not in line and "ran instead" not in line]


# -- files that are no variant ---------------------------------------------------------


def test_a_variant_with_the_wrong_signature_is_bad_input_naming_its_line(tmp_path, capsys):
    path = write(tmp_path, '"""doc"""\n\n\ndef mmu_notifier_retry(k, s):\n    return False\n')
    status, out, err = run_cli(capsys, "check", "zap", "--variant", path)
    assert status == 2 and out == ""
    assert err == (f"mmuspec: error: {path}:4: def mmu_notifier_retry(k, s): the model calls mmu_notifier_retry() "
                   "with 3 arguments; the upstream function is mmu_notifier_retry(k, s, mmu_seq)\n")


def test_a_variant_that_accepts_more_arguments_than_the_model_passes_is_accepted(tmp_path):
    path = write(tmp_path, "def mmu_notifier_retry(k, s, mmu_seq, extra=0, *more):\n    return False\n")
    assert set(load_variant(path).functions) == {"mmu_notifier_retry"}


def test_an_elf_binary_given_as_a_variant_is_bad_input(tmp_path, capsys):
    path = write(tmp_path, b"\x7fELF\x02\x01\x01\0" + bytes(range(256)), "a.out")
    status, out, err = run_cli(capsys, "check", "zap", "--variant", path)
    assert (status, out) == (2, "")
    assert err == (f"mmuspec: error: {path}: an ELF binary, not a Python file: a variant is the Python source "
                   "of the functions it replaces\n")


def test_a_binary_file_with_a_nul_byte_is_bad_input_naming_its_line(tmp_path, capsys):
    path = write(tmp_path, b'"""x"""\n\nabc\0def\n')
    status, _, err = run_cli(capsys, "check", "zap", "--variant", path)
    assert status == 2
    assert err == f"mmuspec: error: {path}:3: a NUL byte: a binary file, not a Python file\n"


def test_a_variant_that_is_not_utf8_is_bad_input_naming_its_line(tmp_path, capsys):
    path = write(tmp_path, b"def f():\n    return 1\n# caf\xe9\n")
    status, _, err = run_cli(capsys, "check", "zap", "--variant", path)
    assert status == 2
    assert err == f"mmuspec: error: {path}:3: not UTF-8 text (byte 0xe9 at column 6)\n"


# -- a variant that raises --------------------------------------------------------------


@pytest.mark.parametrize("engine", ["compiled", "interpreted"])
def test_a_variant_that_raises_is_named_with_its_file_and_line_in_both_engines(tmp_path, engine):
    path = write(tmp_path, RAISES)
    with pytest.raises(InputError) as info:
        search(path, engine)
    assert str(info.value) == (f"{path}:2: mmu_notifier_retry_hva() raised ZeroDivisionError: integer division "
                               "or modulo by zero (in step vcpu0:direct_page_fault)")


def test_a_variant_that_raises_writes_no_trace_file_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, RAISES)
    out_file = tmp_path / "t.json"
    status, out, err = run_cli(capsys, "check", "zap", "--variant", path, "--trace-out", str(out_file))
    assert (status, out) == (2, "")
    assert error_lines(err) == [f"mmuspec: error: {path}:2: mmu_notifier_retry_hva() raised ZeroDivisionError: "
                                "integer division or modulo by zero (in step vcpu0:direct_page_fault)"]
    assert not out_file.exists()


# -- a variant that never returns -------------------------------------------------------


def test_a_variant_loop_that_never_ends_stops_on_the_compiled_cores_budget(tmp_path):
    path = write(tmp_path, FOR_EVER)
    with pytest.raises(InputError) as info:
        search(path, "compiled")
    assert str(info.value) == (f"{path}:3: a loop of mmu_notifier_retry_hva() ran 100,000,000 times in one step "
                               "(the compiled core's budget): a loop that never ends?")


def test_a_variant_that_never_returns_is_stopped_by_the_deadline_in_the_interpreter(tmp_path, monkeypatch):
    monkeypatch.setattr(mmuspec.variant_guard, "PATIENCE", 0.2)
    path = write(tmp_path, WHILE_FOREVER)
    start = time.monotonic()
    with pytest.raises(InputError) as info:
        search(path, "interpreted", max_seconds=0.5)
    assert time.monotonic() - start < 10
    assert str(info.value) == (f"{path}:2: mmu_notifier_retry_hva() still ran 0.2 s after the time budget of "
                               "0.5 s was spent: a loop that never ends?")


def ctrl_c_after(seconds):
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def interrupted(call, exception=VariantInterrupted):
    """What ``call()`` raises when Ctrl-C comes half a second into it."""
    timer = ctrl_c_after(0.5)
    try:
        with pytest.raises(exception) as info:
            call()
    finally:
        timer.cancel()
    return str(info.value)


def test_ctrl_c_stops_a_variant_that_never_returns_while_the_engines_are_compared(tmp_path):
    path = write(tmp_path, WHILE_FOREVER)
    assert interrupted(lambda: search(path, "interpreted")) == f"{path}:2: mmu_notifier_retry_hva() was running"


def test_the_first_ctrl_c_stops_a_variant_that_never_returns_during_the_search(tmp_path, monkeypatch):
    # The search's own Ctrl-C handler only sets a flag it polls between chunks of states: the
    # variant's call that never returns must be stopped from the handler.
    monkeypatch.setattr(mmuspec.checking, "cross_check", lambda kernel, native: VariantCheck(0, False, False, False))
    path = write(tmp_path, WHILE_FOREVER)
    assert interrupted(lambda: search(path, "interpreted")) == f"{path}:2: mmu_notifier_retry_hva() was running"


@pytest.mark.parametrize("text", [WHILE_FOREVER, FOR_EVER], ids=["interpreter", "compiled-core"])
def test_smoke_stops_a_variant_that_never_returns_from_the_command_line(tmp_path, text):
    path = write(tmp_path, text, "loop.py")
    status, out, err, seconds = cli("check", "zap", "--variant", path, "--smoke", "2")
    assert (status, out) == (2, "")
    assert seconds < 60  # 2 s of budget, 1 s of patience, start-up and (once) the compiler
    line = 2 if text is WHILE_FOREVER else 3
    [message] = error_lines(err)
    assert message.startswith(f"mmuspec: error: {path}:{line}: ")
    assert message.endswith("a loop that never ends?")


def test_a_variant_loop_without_smoke_ends_on_the_compiled_cores_budget_from_the_command_line(tmp_path):
    path = write(tmp_path, FOR_EVER, "loop.py")
    status, out, err, seconds = cli("check", "zap", "--variant", path)
    assert (status, out) == (2, "")
    assert seconds < 60
    assert error_lines(err) == [f"mmuspec: error: {path}:3: a loop of mmu_notifier_retry_hva() ran 100,000,000 "
                                "times in one step (the compiled core's budget): a loop that never ends?"]


def test_the_first_ctrl_c_at_the_command_line_stops_a_variant_that_never_returns(tmp_path):
    path = write(tmp_path, WHILE_FOREVER, "loop.py")
    child = subprocess.Popen([sys.executable, "-m", "mmuspec", "check", "zap", "--variant", path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)  # started and inside the loop
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert (child.returncode, out) == (130, "")
    assert error_lines(err) == [f"mmuspec: interrupted (Ctrl-C): {path}:2: mmu_notifier_retry_hva() was running"]


def test_the_examples_still_load_with_the_signature_check():
    examples = Path(__file__).resolve().parents[1] / "examples" / "variants"
    for path in sorted(examples.glob("*.py")):
        assert load_variant(str(path)).functions


def test_ctrl_c_in_a_variant_module_body_that_never_ends_names_its_line(tmp_path):
    path = write(tmp_path, "x = 0\nwhile True:\n    x = x + 1\n", "body.py")
    message = interrupted(lambda: load_variant(path), KeyboardInterrupt)
    assert message in (f"{path}:{line}: the variant's module body was running" for line in (2, 3))


@pytest.mark.parametrize("engine", ["compiled", "interpreted"])
def test_a_variant_that_stores_out_of_0_to_255_is_named_with_its_line_not_as_a_model_error(tmp_path, engine):
    path = write(tmp_path, "def mmu_notifier_retry_hva(k, s, mmu_seq, hva):\n    s[k.L.COUNT] = 300\n"
                           "    return s[k.L.SEQ] != mmu_seq\n")
    with pytest.raises(InputError) as info:
        search(path, engine)
    assert str(info.value) == (f"{path}:2: mmu_notifier_retry_hva() stored a value out of 0..255 "
                               "(in step vcpu0:direct_page_fault)")


@pytest.mark.parametrize("command", [["check", "zap", "--json"], ["check", "--matrix", "--smoke"],
                                     ["check-all", "examples/expect"]],
                         ids=["check-json", "matrix-smoke", "check-all"])
def test_a_variant_that_never_returns_writes_nothing_and_exits_2_in_every_command(tmp_path, command):
    path = write(tmp_path, FOR_EVER, "loop.py")
    root = Path(__file__).resolve().parents[1]
    argv = [str(root / a) if a.startswith("examples/") else a for a in command]
    status, out, err, seconds = cli(*argv, "--variant", path)
    assert (status, out) == (2, "")
    assert seconds < 60
    assert error_lines(err)[-1].startswith(f"mmuspec: error: {path}:3: a loop of mmu_notifier_retry_hva()")
