"""A byte that is not UTF-8 in any input file is bad input at its line and column, not a
bug in mmuspec (it used to be exit 3 in 393 fuzzed cases)."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli

LATIN1 = b'description = "x"\n# caf\xe9\n'


@pytest.mark.parametrize("name, argv", [
    ("s.toml", ["check", "{}"]),
    ("s.toml", ["check-all", "{dir}"]),
    ("w.toml", ["simulate", "{}", "--out", "{dir}/out"]),
    ("v.py", ["check", "zap", "--variant", "{}"]),
])
def test_an_input_file_that_is_not_utf8_is_bad_input_with_its_line_and_column(tmp_path, capsys, name, argv):
    path = tmp_path / name
    path.write_bytes(LATIN1)
    status, _, err = run_cli(capsys, *[a.format(path, dir=tmp_path) for a in argv], "--quiet")
    assert status == 2 and err == f"mmuspec: error: {path}:2: not UTF-8 text (byte 0xe9 at column 6)\n"
    assert not (tmp_path / "out").exists()
