"""The answers to the maintainers' open questions (examples/answers, reports/answers): every
expectation holds in every era it names, and each answer the index lists has its write-up
and its scenario."""

import re
from pathlib import Path

from tests.helpers import run_cli as run

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "examples" / "answers"


def test_every_answer_holds_its_expectations_in_every_era_it_names(capsys):
    status, out, _ = run(capsys, "check-all", str(ANSWERS), "--quiet")
    assert status == 0, out
    assert re.search(r"(\d+) of \1 checks as expected", out)


def test_relaxing_the_at_least_one_range_rule_maps_from_stale_attributes_and_the_rule_as_merged_is_safe(capsys):
    status, out, _ = run(capsys, "check", str(ANSWERS / "range-add-only-if-zapping.toml"), "--era", "6.8")
    assert status == 0 and "VIOLATION of no_stale_spte" in out  # the violation its [expect] names
    status, out, _ = run(capsys, "check", str(ANSWERS / "range-add-always.toml"), "--era", "6.8")
    assert status == 0 and "verdict: safe" in out


def test_lockless_aging_loses_no_invalidation_with_the_atomic_update_and_does_with_a_plain_write_back(capsys):
    status, out, _ = run(capsys, "check", str(ANSWERS / "lockless-aging.toml"), "--era", "6.15")
    assert status == 0 and "verdict: safe" in out
    status, out, _ = run(capsys, "check", str(ANSWERS / "lockless-aging-plain-write.toml"), "--era", "6.15")
    assert status == 0 and "VIOLATION of data_integrity" in out and "kvm_age_spte_lockless" in out  # as [expect] says


def test_each_answered_question_has_its_write_up_with_a_message_id():
    index = (ROOT / "reports" / "answers" / "README.md").read_text(encoding="utf-8")
    answered = index.split("## Questions the model cannot express yet")[0]
    links = re.findall(r"\]\(([a-z0-9-]+\.md)\)", answered)
    assert {"range-add-rule.md", "prefault-retry-loops.md", "gmem-bindings.md", "oom-entered.md",
            "lockless-aging.md"} <= set(links)
    for link in links:
        text = (ROOT / "reports" / "answers" / link).read_text(encoding="utf-8")
        assert re.search(r"`[^`\s]+@[^`\s]+`", text) and "**Bound.**" in text, link
