"""`mmuspec trace validate FILE --era ERA`: 0 when every page's sequence is a behaviour of
the model, 1 when one is not, 2 on bad input; --json with its schema."""

import json
import lzma

from mmuspec.cli import main
from tests.lab.recorded import trace_path, trace_text


def test_a_recorded_6_18_run_validates_against_6_18_and_exits_0(capsys):
    assert main(["trace", "validate", str(trace_path("ksm-merge")), "--era", "6.18"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("263 page events on 64 pages read against era 6.18's model (ksm-merge)")
    assert out[1] == "admitted: 64 of 64 page sequences"


def test_the_same_run_against_5_13_exits_1_and_names_the_first_event_and_the_model_states(capsys):
    assert main(["trace", "validate", str(trace_path("ksm-merge")), "--era", "5.13"]) == 1
    out = capsys.readouterr().out
    assert "admitted: 0 of 64 page sequences; NOT admitted: 64" in out
    assert "first sequence not admitted: gfn 0x1001, line 37: merge-in-place" in out
    assert "the model states the page could be in there (first 4):" in out


def test_a_doctored_trace_with_an_unmap_removed_exits_1(tmp_path, capsys):
    lines = trace_text("ksm-merge").splitlines(keepends=True)
    merge = next(n for n, line in enumerate(lines) if "ksm_merge_with_ksm_page: ksm pfn" in line)
    del lines[merge - 1]  # replace_page()'s unmap of the page merged there
    doctored = tmp_path / "doctored.txt.xz"
    doctored.write_bytes(lzma.compress("".join(lines).encode()))
    assert main(["trace", "validate", str(doctored), "--era", "6.18", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "mmuspec.validate/1" and data["ok"] is False and data["rejected"] == 1
    first = data["first_rejection"]
    assert first["label"] == "merge" and first["line"] == merge and "ksm_merge_with_ksm_page" in first["event"]
    assert first["model_states"] and first["before"]


def test_a_foreign_trace_is_read_with_the_guest_s_place_given_on_the_command_line(tmp_path, capsys):
    body = "".join(trace_text("zap").splitlines(keepends=True)[1:])  # without the lab header
    plain = tmp_path / "plain.txt"
    plain.write_text(body)
    assert main(["trace", "validate", str(plain), "--era", "6.18", "--workload", "zap", "--hva", "0x5a5a00000000",
                 "--gfn", "0x1000", "--pages", "64", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pages"] == 64 and data["labels"]["map"] > 0 and data["labels"]["unmap:mm"] > 0


def test_an_empty_trace_is_bad_input_in_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert main(["trace", "validate", str(empty), "--era", "6.18"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "empty.txt" in err and "no trace lines" in err


def test_a_missing_trace_is_bad_input(tmp_path, capsys):
    assert main(["trace", "validate", str(tmp_path / "nope.txt"), "--era", "6.18"]) == 2
    assert "nope.txt: no such trace file" in capsys.readouterr().err


def test_the_readme_sample_of_trace_validate_is_its_real_output(capsys):
    from tests.cli.golden import assert_readme_sample

    command = "mmuspec trace validate tests/lab/data/ksm-merge/trace.txt.xz --era 5.13"
    assert main(["trace", "validate", str(trace_path("ksm-merge")), "--era", "5.13"]) == 1
    assert_readme_sample(command, capsys.readouterr().out)
