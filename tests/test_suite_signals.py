"""The suite's Ctrl-C tests run as they should when the suite was started in the background."""

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ctrl_c_tests_pass_when_the_suite_is_started_with_sigint_ignored():
    """As by ``make test &``: SIGINT ignored from the start, which exec keeps."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-q",
         "tests/explore/test_interrupt.py::test_a_second_ctrl_c_interrupts_at_once",
         "tests/cli/test_exit_status.py::test_ctrl_c_exits_130_with_the_figures_so_far_and_a_final_checkpoint_that_resumes"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
