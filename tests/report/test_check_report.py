"""A check reports everything it found, not only the first thing."""

import json

from mmuspec.cli import main

# Both properties are violated here, with witnesses of different lengths.
TWO_PROPERTIES = ("check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--quiet")
# Both properties are violated and a WARN fires.
WITH_A_WARNING = ("check", "ksm-merge", "--set", "kvm.start_zaps_change_pte_events=false", "--quiet")


def run(capsys, *argv):
    status = main(list(argv))
    return status, capsys.readouterr().out


def test_every_violated_property_is_reported_with_its_own_shortest_witness_in_the_text(capsys):
    status, out = run(capsys, *TWO_PROPERTIES)
    assert status == 1
    verdict = out.splitlines()[1]
    assert verdict.startswith("verdict: VIOLATION of data_integrity (shortest trace: ")
    assert "; also no_use_after_free (" in verdict
    assert out.count("counterexample (data_integrity, ") == 1
    assert out.count("counterexample (no_use_after_free, ") == 1
    # Each counterexample ends at its own event.
    uaf = out[out.index("counterexample (no_use_after_free"):]
    assert "! no_use_after_free" in uaf.split("\n\n")[0]


def test_every_violated_property_is_in_the_json_with_event_kind_length_and_trace(capsys):
    status, out = run(capsys, *TWO_PROPERTIES, "--json")
    data = json.loads(out)
    assert status == 1
    events = [(v["event"], v["kind"]) for v in data["violations"]]
    assert events == [("data_integrity", "property"), ("no_use_after_free", "property")]
    assert data["property"] == "data_integrity" == data["trace_event"]
    lengths = [v["length"] for v in data["violations"]]
    assert lengths == sorted(lengths)
    for v in data["violations"]:
        assert len(v["trace"]) == v["length"]
        assert v["event"] in [e["id"] for e in v["trace"][-1]["events"]]


def test_a_fired_warn_is_listed_after_the_violated_properties(capsys):
    status, out = run(capsys, *WITH_A_WARNING, "--json")
    data = json.loads(out)
    assert status == 1
    kinds = [(v["kind"], v["event"]) for v in data["violations"]]
    assert kinds[-1] == ("warning", "change_pte_without_invalidation")
    assert {e for k, e in kinds if k == "property"} == {"data_integrity", "no_use_after_free"}
    status, out = run(capsys, *WITH_A_WARNING)
    assert "; WARN fired: change_pte_without_invalidation (" in out.splitlines()[1]
    assert "warning change_pte_without_invalidation fired; shortest trace" in out


def test_witnesses_adds_the_observations_witness_lengths_to_the_json(capsys):
    _, plain = run(capsys, "check", "ksm-merge", "--json", "--quiet")
    assert "observation_witnesses" not in json.loads(plain)
    _, out = run(capsys, "check", "ksm-merge", "--witnesses", "--json", "--quiet")
    data = json.loads(out)
    witnessed = {w["event"]: w["length"] for w in data["observation_witnesses"]}
    assert set(witnessed) == {e for e, seen in data["reachable"].items() if seen}
    assert all(w["kind"] == "observation" and len(w["trace"]) == w["length"] for w in data["observation_witnesses"])
    assert all(n > 0 for n in witnessed.values())


def test_the_ftrace_format_names_the_other_violations_it_does_not_print(capsys):
    _, out = run(capsys, *TWO_PROPERTIES, "--trace-format", "ftrace")
    assert "# tracer: nop (counterexample for data_integrity" in out
    assert "# also found no_use_after_free (" in out


def test_a_random_walks_trace_is_not_called_the_shortest(capsys):
    status, out = run(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--random", "50", "--quiet")
    assert status == 1
    verdict = out.splitlines()[1]
    assert "shortest trace" not in verdict
    assert verdict.startswith("verdict: VIOLATION of data_integrity (trace from a random walk: ")
    assert "not known to be the shortest; --minimize shrinks it)" in verdict


def test_a_minimized_random_walks_trace_says_it_was_minimized_not_that_it_is_the_shortest(capsys):
    status, out = run(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--random", "50",
                      "--minimize", "--quiet")
    assert status == 1
    assert "(trace from a random walk, minimized: " in out.splitlines()[1]
    assert "shortest trace" not in out
    data = json.loads(run(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--random", "50",
                          "--minimize", "--quiet", "--json")[1])
    assert (data["mode"], data["shortest"], data["minimized"]) == ("random", False, True)


def test_a_variant_that_only_calls_upstream_says_why_it_explores_more_states_than_upstream(capsys, tmp_path):
    variant = tmp_path / "same.py"
    variant.write_text("from mmuspec.model.arch import kvm_set_spte_gfn as _upstream\n\n\n"
                       "def kvm_set_spte_gfn(k, s, gfn, pfn, writable):\n"
                       "    return _upstream(k, s, gfn, pfn, writable)\n")
    _, upstream = run(capsys, "check", "zap", "--era", "6.4", "--quiet")
    _, alike = run(capsys, "check", "zap", "--era", "6.4", "--reduce", "symmetry", "--quiet")
    _, out = run(capsys, "check", "zap", "--era", "6.4", "--variant", str(variant), "--quiet")
    assert "explored 215 states" in upstream
    assert "explored 347 states" in alike and "explored 347 states" in out
    note = next(x for x in out.splitlines() if x.startswith("note: a variant is searched without"))
    assert "the sequence-count quotient" in note and "the page-value quotient" in note
    assert note.endswith("upstream with --reduce symmetry is searched alike")
