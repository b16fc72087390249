"""docs/scenario-keys.md and docs/workload-keys.md are generated from the loaders' own
schemas, so they cannot drift from what the loaders accept."""

import pytest

from mmuspec import keydocs


@pytest.mark.parametrize("path", sorted(keydocs.generated(), key=str))
def test_the_key_reference_is_what_the_schema_generates(path):
    expected = keydocs.generated()[path]
    assert path.exists() and path.read_text(encoding="utf-8") == expected, (
        f"{path.name} is out of date with the loader's schema: run `{keydocs.REGENERATE}` and commit the result")


@pytest.mark.parametrize("docs", [keydocs.scenario_docs, keydocs.workload_docs])
def test_every_key_the_loader_accepts_has_a_description(docs):
    schema, described = docs()
    assert keydocs.missing(schema, described) == [], (
        "add a line for each key to KEY_DOCS next to _SCHEMA, then run " + keydocs.REGENERATE)


def test_a_key_without_a_description_is_caught():
    assert keydocs.missing({"memory": ("gfns", "new_key")}, {"memory.gfns": "x"}) == ["memory.new_key"]


def test_the_reference_lists_every_table_and_key_of_the_schema():
    text = keydocs.reference("T", "intro", {"": ("description",), "memory": ("gfns", "x86.*")},
                             {"description": "d", "memory.gfns": "g"})
    assert "## top level" in text and "| `description` | d |" in text
    assert "## `[memory]`" in text and "| `gfns` | g |" in text and "x86" not in text
