"""docs/json.md is the reference of every JSON document mmuspec writes: each field the
commands emit is documented there with its type, and each documented field is emitted
by one of the runs below."""

import json
import re
from pathlib import Path

import pytest

from mmuspec.cli import main
from mmuspec.report.lab import lab_json
from tests.lab.recorded import analysed, trace_path, vmm_run
from tests.simulate.test_simulate import SMALL

DOC = Path(__file__).resolve().parents[2] / "docs" / "json.md"
TRACE = Path(__file__).resolve().parents[1] / "traces" / "data" / "ftrace_kvm.txt"
VARIANT = Path(__file__).resolve().parents[2] / "examples" / "variants" / "trust_the_sequence.py"
EXPECT = Path(__file__).resolve().parents[2] / "examples" / "expect"
REPRO_RESULTS = Path(__file__).resolve().parents[1] / "emulate" / "fixtures" / "repro" / "results.json"


def parse_doc(text):
    """{schema id: rows} for the documents and {type name: rows} for the named types,
    where rows maps a field path to its type text."""
    schemas, types, current = {}, {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            found = re.search(r"`(mmuspec\.[a-z-]+/\d+)`", line)
            current = schemas.setdefault(found.group(1), {}) if found else None
        elif line.startswith("### "):
            current = types.setdefault(line[4:].strip(), {})
        elif current is not None and line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            current[cells[0].strip("`")] = cells[1]
    return schemas, types


SCHEMAS, TYPES = parse_doc(DOC.read_text(encoding="utf-8"))


def kind_ok(value, typ):
    words = set(re.findall(r"[a-z]+", typ.replace("*", " ")))
    named = set(re.findall(r"\*([a-z ]+)\*", typ))
    if value is None:
        return "null" in words
    if isinstance(value, bool):
        return "boolean" in words
    if isinstance(value, int):
        return bool({"integer", "number"} & words)
    if isinstance(value, float):
        return "number" in words
    if isinstance(value, str):
        return "string" in words
    if isinstance(value, list):
        return "array" in words
    return bool({"object", "map"} & words or named)


class Walk:
    """Collects (table, path) of every field a document emits and every row it uses."""

    def __init__(self):
        self.emitted, self.used, self.wrong = set(), set(), []

    def value(self, value, path, table, rows, implied=None):
        """``implied`` is the type of a map's values or an array's elements, which
        need no row of their own ("map of map of integer")."""
        typ = rows.get(path)
        if typ is not None:
            self.used.add((table, path))
        typ = typ or implied
        if typ is not None and not kind_ok(value, typ):
            self.wrong.append(f"{table}: {path} is {type(value).__name__}, documented as {typ!r}")
        named = re.findall(r"\*([a-z ]+)\*", typ or "")
        if named and value is not None:
            inner = (named[0], TYPES[named[0]])
            if typ.startswith("array"):
                for item in value:
                    self.record(item, "", *inner)
            elif typ.startswith("map"):
                for item in value.values():
                    self.record(item, "", *inner)
            else:
                self.record(value, "", *inner)
        elif isinstance(value, dict):
            if typ is not None and typ.startswith("map of "):
                for item in value.values():
                    self.value(item, f"{path}.*", table, rows, typ.removeprefix("map of "))
            else:
                self.record(value, path, table, rows)
        elif isinstance(value, list):
            inner = typ.removeprefix("array of ") if typ is not None and typ.startswith("array of ") else None
            for item in value:
                self.value(item, f"{path}[]", table, rows, inner)

    def record(self, obj, path, table, rows):
        for key, item in obj.items():
            child = f"{path}.{key}" if path else key
            self.emitted.add((table, child))
            self.value(item, child, table, rows)


def documented():
    rows = {(name, path) for name, table in SCHEMAS.items() for path in table}
    return rows | {(name, path) for name, table in TYPES.items() for path in table}


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    """Runs that between them emit every field: a violation with a warning, a variant,
    observation witnesses, a bounded run, trace stats with a malformed line, a
    simulation, a check with expectations and coverage, a diff and a check-all."""
    tmp = tmp_path_factory.mktemp("json")
    out = []

    def run(*argv):
        import contextlib
        import io

        buffer, errors = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(errors):
            status = main(list(argv))
        assert status in (0, 1, 4), errors.getvalue()
        return json.loads(buffer.getvalue())

    out.append(run("check", "ksm-merge", "--set", "kvm.start_zaps_change_pte_events=false", "--json", "--quiet"))
    out.append(run("check", "zap", "--variant", str(VARIANT), "--witnesses", "--json", "--quiet"))
    out.append(run("check", "ksm-merge", "--max-states", "50", "--json", "--quiet"))
    trace = tmp / "t.txt"
    trace.write_text(TRACE.read_text() + "this line is not a trace event\n")
    out.append(run("trace", "stats", str(trace), "--json"))
    workload = tmp / "small.toml"
    workload.write_text(SMALL)
    out.append(run("simulate", str(workload), "--era", "5.13", "--variant", str(VARIANT.parent / "prefetch_in_change_pte.py"),
                   "--duration", "4", "--out", str(tmp / "sim"), "--quiet", "--json"))
    out.append(json.loads((tmp / "sim" / "results.json").read_text()))
    out.append(run("check", str(EXPECT / "zap.toml"), "--coverage", "--json", "--quiet"))
    out.append(run("diff", "--era", "5.13", "--variant", str(VARIANT), "--arches", "x86", "--json"))
    out.append(run("check-all", str(EXPECT), "--era", "5.13", "--json"))
    out.append(run("trace", "validate", str(trace_path("ksm-merge")), "--era", "5.13", "--json"))
    out.append(run("trace", "validate", str(trace_path("ksm-merge")), "--era", "6.18", "--json"))
    out.append(json.loads(json.dumps(lab_json(_lab_run_with_a_mismatch()))))
    out.append(repro_listing(tmp, run))
    return out


def _lab_run_with_a_mismatch():
    """A recorded zap run analysed as `mmuspec lab` does, with one failed guest read added."""
    run = vmm_run("zap")
    act = next(a for a in run.acts if a["kind"] == "dontneed")
    run.mismatches.append({"vcpu": 0, "gfn": int(act["gfn"]), "tsc": int(act["tsc"]), "got": 1, "expected": 2})
    return analysed("zap", run)


def repro_listing(tmp, run):
    """``repro --list --json`` over recorded runs of real kernels (tests/emulate/fixtures)."""
    import os
    import shutil

    results = tmp / "cache" / "mmuspec" / "repro"
    results.mkdir(parents=True)
    shutil.copy(REPRO_RESULTS, results / "results.json")
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
    try:
        return run("repro", "--list", "--json")
    finally:
        if old is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = old


def walk_all(documents):
    walk = Walk()
    for doc in documents:
        assert doc["schema"] in SCHEMAS, f"schema {doc['schema']!r} is not documented in {DOC}"
        walk.record(doc, "", doc["schema"], SCHEMAS[doc["schema"]])
    return walk


def test_every_json_field_the_commands_emit_is_documented_in_docs_json_md(documents):
    walk = walk_all(documents)
    missing = sorted(walk.emitted - documented())
    assert not missing, f"emitted but not documented in {DOC}: {missing}"


def test_every_field_docs_json_md_documents_is_emitted_with_the_documented_type(documents):
    walk = walk_all(documents)
    never = sorted(documented() - walk.used)
    assert not never, f"documented in {DOC} but never emitted: {never}"
    assert not walk.wrong, walk.wrong


def test_each_json_document_names_its_schema_and_version(documents):
    assert [d["schema"] for d in documents] == ["mmuspec.check/1"] * 3 + ["mmuspec.trace-stats/1"] + \
        ["mmuspec.simulate/1"] * 2 + ["mmuspec.check/1", "mmuspec.diff/1", "mmuspec.check-all/1"] + \
        ["mmuspec.validate/1"] * 2 + ["mmuspec.lab/1", "mmuspec.repro-list/1"]


def test_the_schema_test_catches_an_undocumented_field(documents):
    doc = dict(documents[0], surprise=1)
    walk = Walk()
    walk.record(doc, "", doc["schema"], SCHEMAS[doc["schema"]])
    assert ("mmuspec.check/1", "surprise") in walk.emitted - documented()
