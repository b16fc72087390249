"""Every tracepoint format mmuspec reads has a fixture line, and every fixture line parses as the format
its comment names (tests/traces/data/formats.txt)."""

from pathlib import Path

import pytest

from mmuspec.traces.formats import BY_KEY
from mmuspec.traces.reader import Record, parse_line

DATA = Path(__file__).parent / "data"


def fixture_lines() -> list[tuple[int, list[str], str]]:
    """(line number, [key, header, versions, printk] from the comment above, trace line)."""
    out, comment = [], None
    for number, text in enumerate((DATA / "formats.txt").read_text().splitlines(), start=1):
        if text.startswith("# ") and " | " in text:
            comment = text[2:].split(" | ")
        elif text.strip() and not text.startswith("#"):
            assert comment is not None, f"formats.txt:{number}: a line without a comment naming its format"
            out.append((number, comment, text))
            comment = None
    return out


LINES = fixture_lines()


def test_every_format_in_the_registry_has_a_fixture_line():
    covered = {comment[0] for _, comment, _ in LINES}
    assert set(BY_KEY) - covered == set()


@pytest.mark.parametrize(("number", "comment", "text"), LINES, ids=[c[0] for _, c, _ in LINES])
def test_every_fixture_line_parses_as_the_format_its_comment_names(number, comment, text):
    record = parse_line(number, text)
    assert isinstance(record, Record), record
    assert record.format == comment[0]


@pytest.mark.parametrize(("number", "comment", "text"), LINES, ids=[c[0] for _, c, _ in LINES])
def test_fixture_comments_name_the_header_versions_and_printk_the_registry_records(number, comment, text):
    key, header, versions, printk = comment
    f = BY_KEY[key]
    assert (f.header, f.versions, f.printk) == (header, versions, printk)
