"""The real-bugs corpus: every bug found before its fix, gone after it and with the fix
alone; and the corpus files and command behave as a user expects."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mmuspec.errors import InputError
from mmuspec.rediscover import load_bug, load_corpus, rediscover, search
from tests.cli.golden import assert_readme_sample
from tests.helpers import run_cli as run

CORPUS = load_corpus()


@pytest.mark.parametrize("bug", CORPUS, ids=[b.id for b in CORPUS])
def test_each_bug_is_found_before_its_fix_and_gone_after_it_and_with_the_fix_alone(bug):
    before, after, alone = rediscover(bug)
    assert before.matches, f"{bug.id}: expected {bug.before.expect} before the fix, found {before.found}"
    assert after.matches, f"{bug.id}: expected safe after the fix, found {after.found}"
    assert alone.matches, f"{bug.id}: the fix alone should be safe, found {alone.found}"


def test_the_corpus_holds_at_least_eight_real_bugs_each_with_its_commit_and_race():
    bugs = [b for b in CORPUS if b.kind == "bug"]
    assert len(bugs) >= 8
    for bug in CORPUS:
        assert bug.commit and bug.title and len(bug.race) > 80


def one_more_thread(scenario):
    """A second vCPU, or where the scenario has none, a second device mirror, or a third
    access through the pfn cache."""
    if scenario.vcpus:
        return scenario.scaled(vcpus=2)
    if scenario.device_threads:
        return replace(scenario, device_threads=2, declared_devices=2)
    return replace(scenario, pfncache_accesses=scenario.pfncache_accesses + 1)


@pytest.mark.slow
@pytest.mark.parametrize("bug", CORPUS, ids=[b.id for b in CORPUS])
def test_each_fix_stays_safe_with_a_second_vcpu_or_device(bug):
    for side in (bug.after, bug.fix_alone):
        bigger = replace(side, spec=replace(side.spec, scenario=one_more_thread(side.spec.scenario)))
        assert search(bigger).matches, f"{bug.id}: {bigger.spec.label()}"


def write(tmp_path, text):
    path = tmp_path / "X1-bug.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
id = "X1"
commit = "0123456789ab"
title = "a bug"
scenario = "zap"
race = "a race"

[before]
era = "5.13"
set = ["kvm.fault_retry_checks=seq_only"]
expect = "data_integrity"

[after]
era = "5.13"
expect = "safe"
"""


def test_a_bug_file_of_ones_own_is_searched_like_the_corpus(tmp_path):
    before, after, alone = rediscover(load_bug(write(tmp_path, GOOD)))
    assert (before.found, after.found, alone.found) == ("data_integrity", "safe", "data_integrity")
    assert before.matches and after.matches and not alone.matches  # no fix given: the before config


@pytest.mark.parametrize(
    ("edit", "where", "problem"),
    [
        (('expect = "data_integrity"', 'expect = "lost"'), 10, "before.expect = 'lost': expected"),
        (('era = "5.13"\nset', 'era = "5.14"\nset'), 8, "before.era = '5.14'"),
        (('set = ["kvm.fault_retry_checks=seq_only"]', 'set = ["kvm.nope=1"]'), 9, "unknown switch 'kvm.nope'"),
        (('scenario = "zap"', 'scenario = "zapp"'), 4, "unknown scenario 'zapp'"),
    ],
)
def test_a_bad_bug_file_is_one_error_naming_its_line(tmp_path, edit, where, problem):
    path = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(InputError) as info:
        load_bug(path)
    assert str(info.value).startswith(f"{path}:{where}: ") and problem in str(info.value)


def test_a_bug_file_without_its_race_is_refused(tmp_path):
    with pytest.raises(InputError, match="missing key 'race'"):
        load_bug(write(tmp_path, GOOD.replace('race = "a race"\n', "")))




def test_mmuspec_bugs_prints_the_table_the_readme_shows_and_exits_0(capsys):
    status, out, _ = run(capsys, "bugs", "--quiet")
    assert status == 0
    assert_readme_sample("mmuspec bugs", out)


def test_mmuspec_bugs_json_reports_each_side_of_each_entry(capsys):
    status, out, _ = run(capsys, "bugs", "B2", "B6", "--json")
    data = json.loads(out)
    assert status == 0 and data["schema"] == "mmuspec.bugs/1" and data["all_match"] is True
    b2, b6 = data["entries"]
    assert (b2["before"]["found"], b2["after"]["found"], b2["fix_alone"]["found"]) == ("quiescence", "safe", "safe")
    assert b6["before"]["loop_start"] is not None  # a vCPU that can never finish: a lasso


def test_mmuspec_bugs_trace_prints_the_unfixed_kernels_counterexample(capsys):
    status, out, _ = run(capsys, "bugs", "B1", "--trace", "--quiet")
    assert status == 0
    assert "qemu1" in out and "! data_integrity: vcpu0 reads gfn 0 through spte -> K" in out
    status, out, _ = run(capsys, "bugs", "B6", "--trace", "--trace-format", "ftrace", "--quiet")
    assert "kvm_page_fault" in out and "repeat forever" in out


def test_an_unknown_bug_id_is_a_usage_error_listing_the_corpus(capsys):
    status, _, err = run(capsys, "bugs", "B99")
    assert status == 2 and "unknown bug 'B99'" in err and "B1" in err


def test_the_corpus_files_are_where_the_readme_says():
    assert (Path(__file__).resolve().parents[1] / "bugs" / "B1-cow-set-then-notify.toml").is_file()


@pytest.mark.parametrize("variant", ["../outside.py", "/etc/passwd", "sub/../../outside.py", "notes.txt"])
def test_a_bug_files_variant_must_be_inside_the_corpus_folder(tmp_path, variant):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    marker = tmp_path / "ran"
    (tmp_path / "outside.py").write_text(f"import os\nos.system('touch {marker}')\n")
    text = GOOD.replace('expect = "safe"', f'variant = "{variant}"\nexpect = "safe"')
    path = write(corpus, text)
    with pytest.raises(InputError, match=r"must name a \.py file inside the corpus folder") as info:
        load_bug(path)
    assert str(info.value).startswith(f"{path}:14: ")
    assert not marker.exists()


def test_a_bug_file_that_is_not_utf8_is_bad_input_with_its_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_bytes(GOOD.encode().replace(b"a race", b"a r\xe9ce"))
    with pytest.raises(InputError, match=r"bad\.toml:5: not UTF-8 text"):
        load_bug(path)


def test_the_prefault_hang_is_a_livelock_whose_loop_is_the_retry_inside_the_ioctl():
    from tests.helpers import check, kernel

    result = check("prefault-memslot-delete", "6.11")
    witness = result.witnesses["quiescence"]
    assert witness.cycle == "livelock" and witness.loop_start is not None
    k = kernel("prefault-memslot-delete", "6.11")
    loop = witness.actions[witness.loop_start:]
    assert {k.action_text(a) for a in loop} == {"vcpu0:kvm_tdp_map_page_retry"}
    assert check("prefault-memslot-delete", "6.18").verdict == "safe"
    # KVM_RUN drops kvm->srcu to re-enter the guest: the same race with a running vCPU ends.
    from mmuspec.checking import CheckSpec, run_check
    from mmuspec.model import load_scenario

    running = replace(load_scenario("prefault-memslot-delete"), prefault=False)
    _, result = run_check(CheckSpec(running, "6.11", {}))
    assert result.verdict == "safe" and result.complete
