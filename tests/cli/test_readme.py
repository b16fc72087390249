"""The README shows what the tool really does: its sample output is the output, and
every command in its shell blocks can be pasted as written."""

import re
import shlex

import pytest

from mmuspec.cli import main
from tests.cli.golden import README, assert_readme_sample, readme_sample

COUNTEREXAMPLE = "mmuspec check zap --set kvm.fault_retry_checks=seq_only"


def test_the_readme_counterexample_is_the_real_output_of_the_command_it_names(capsys):
    status = main(shlex.split(COUNTEREXAMPLE)[1:])
    out = capsys.readouterr().out
    assert status == 1
    assert_readme_sample(COUNTEREXAMPLE, out)


def test_the_readme_sample_check_fails_when_the_sample_drifts(monkeypatch):
    real = readme_sample(COUNTEREXAMPLE)
    monkeypatch.delenv("MMUSPEC_UPDATE_GOLDEN", raising=False)
    with pytest.raises(AssertionError, match="differs from its output"):
        assert_readme_sample(COUNTEREXAMPLE, real.replace("data_integrity", "no_use_after_free", 1))


def _shell_lines():
    text = README.read_text(encoding="utf-8")
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith("mmuspec "):
                yield command


@pytest.mark.parametrize("command", sorted(set(_shell_lines())))
def test_every_mmuspec_command_in_the_readme_parses_as_written(command):
    from mmuspec.cli import build_parser

    try:
        build_parser().parse_args(shlex.split(command)[1:])
    except SystemExit as exc:  # --version and --help exit 0; a rejected argument exits 2
        assert exc.code == 0, f"README command does not parse: {command}"
