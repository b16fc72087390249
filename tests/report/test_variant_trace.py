"""A variant's counterexample shows the variant's code where it ran, not the upstream kernel's."""

import json
from pathlib import Path

from mmuspec.cli import main

SEQUENCE = "examples/variants/trust_the_sequence.py"  # replaces helpers called inside direct_page_fault
UNLOCK = "examples/variants/unlock_before_install.py"  # replaces direct_page_fault itself


def run(capsys, *argv):
    status = main(list(argv))
    return status, capsys.readouterr().out


def step_block(out, number):
    lines = out.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith(f"  {number}~ "))
    block = [lines[start]]
    for x in lines[start + 1:]:
        if not x.startswith("     "):
            break
        block.append(x)
    return block


def test_a_step_the_variant_replaced_whole_prints_the_variant_instead_of_the_upstream_code(capsys):
    status, out = run(capsys, "check", "zap", "--variant", UNLOCK, "--quiet")
    assert status == 1
    assert "(~ after a step's number: the step ran the variant's code" in out
    block = step_block(out, 3)
    assert "direct_page_fault" in block[0] and "takes: as the variant does" in block[0]
    assert "arch/x86/kvm/mmu/mmu.c" not in block[0]
    assert block[1] == f"     variant: direct_page_fault(): replaced by {UNLOCK}:28"
    assert not any("is_page_fault_stale() / mmu_notifier_retry()" in x for x in block)


def test_a_step_that_calls_a_replaced_helper_is_marked_and_calls_the_rest_upstream(capsys):
    status, out = run(capsys, "check", "zap", "--variant", SEQUENCE, "--quiet")
    assert status == 1
    block = step_block(out, 4)
    assert block[1] == f"     variant: mmu_notifier_retry_hva(): replaced by {SEQUENCE}:17"
    assert block[2].startswith("     upstream, around the replaced call: direct_page_fault(): ")
    # Steps that run no variant code keep their number unmarked.
    assert "\n  1  guest_access(" in out


def test_a_replacements_docstring_is_what_the_trace_says_of_it(tmp_path, capsys):
    text = Path(SEQUENCE).read_text().replace(
        "def mmu_notifier_retry_hva(k, s, mmu_seq, hva):\n",
        "def mmu_notifier_retry_hva(k, s, mmu_seq, hva):\n    \"\"\"Trust the sequence alone.\"\"\"\n")
    variant = tmp_path / "seq.py"
    variant.write_text(text)
    status, out = run(capsys, "check", "zap", "--variant", str(variant), "--quiet")
    assert status == 1
    assert f"variant: mmu_notifier_retry_hva(): Trust the sequence alone. ({variant}:17)" in out


def test_every_trace_format_marks_the_steps_a_variant_replaced(capsys):
    _, out = run(capsys, "check", "zap", "--variant", SEQUENCE, "--quiet", "--json")
    data = json.loads(out)
    steps = data["violations"][0]["trace"]
    marked = [s["n"] for s in steps if s["variant"]]
    assert marked == [4]
    assert steps[3]["variant"] == [{"function": "mmu_notifier_retry_hva", "where": f"{SEQUENCE}:17",
                                    "text": f"replaced by {SEQUENCE}:17"}]
    _, out = run(capsys, "check", "zap", "--variant", SEQUENCE, "--quiet", "--trace-format", "ftrace")
    assert (f"# mmuspec step 4: vcpu0:direct_page_fault [variant: mmu_notifier_retry_hva() replaced by "
            f"{SEQUENCE}:17]") in out


def test_a_trace_without_a_variant_has_no_variant_marks(capsys):
    _, out = run(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--quiet")
    assert "~ " not in out and "variant:" not in out
