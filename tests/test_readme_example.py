"""The README's Python example runs, and prints what the README says it prints."""

import contextlib
import io
import re

from tests.cli.golden import README


def test_the_readme_python_example_prints_what_the_readme_shows():
    text = README.read_text(encoding="utf-8")
    found = re.search(r"### From Python\n.*?```python\n(.*?)```\n\nprints\n\n```\n(.*?)```", text, flags=re.S)
    assert found, "README.md has no Python example followed by its output"
    code, shown = found.groups()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue() == shown
