"""Results for CI systems: TAP as the kernel's selftests print it, and JUnit XML.

Every command that can gate a change (``check``, ``check-all``, ``bugs``, ``diff``) turns
its outcome into test cases, each passed, failed or skipped.  A skip is a search that
could not decide (a bounded or timed-out search that found nothing): kselftest reports
the same with ``# SKIP`` and exit status 4 (KSFT_SKIP), which is also mmuspec's status
for "bounded, nothing found".  TAP follows kselftest's layout: ``TAP version 13``, the
plan, one ``ok``/``not ok`` line per case, and ``#`` lines for the details a developer
reads on failure.  JUnit XML is what GitLab, Jenkins and GitHub's test reporters read:
one ``<testcase>`` per case, with ``<failure>`` or ``<skipped>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass(frozen=True)
class Case:
    name: str
    outcome: str  # PASS, FAIL or SKIP
    message: str = ""  # one line: why it failed or was skipped
    details: str = ""  # what a developer reads: a trace, a table of differences
    seconds: float = 0.0


def tap(cases: list[Case], title: str) -> str:
    out = ["TAP version 13", f"1..{len(cases)}", f"# {title}"]
    for number, case in enumerate(cases, start=1):
        status = "not ok" if case.outcome == FAIL else "ok"
        line = f"{status} {number} {case.name}"
        if case.outcome == SKIP:
            line += f" # SKIP {case.message}".rstrip()
        elif case.message:
            line += f" # {case.message}" if case.outcome == FAIL else ""
        out.append(line)
        if case.outcome != PASS and case.details:
            out += [f"# {x}" if x else "#" for x in case.details.splitlines()]
    passed = sum(1 for c in cases if c.outcome == PASS)
    failed = sum(1 for c in cases if c.outcome == FAIL)
    skipped = len(cases) - passed - failed
    out.append(f"# Totals: pass:{passed} fail:{failed} xfail:0 xpass:0 skip:{skipped} error:0")
    return "\n".join(out)


def junit(cases: list[Case], suite: str) -> str:
    failures = sum(1 for c in cases if c.outcome == FAIL)
    skipped = sum(1 for c in cases if c.outcome == SKIP)
    total = sum(c.seconds for c in cases)
    root = ET.Element("testsuites", name="mmuspec", tests=str(len(cases)), failures=str(failures),
                      skipped=str(skipped), time=f"{total:.3f}")
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures),
                         errors="0", skipped=str(skipped), time=f"{total:.3f}")
    for case in cases:
        item = ET.SubElement(node, "testcase", classname=suite, name=case.name, time=f"{case.seconds:.3f}")
        if case.outcome == FAIL:
            ET.SubElement(item, "failure", message=case.message).text = case.details or case.message
        elif case.outcome == SKIP:
            ET.SubElement(item, "skipped", message=case.message)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def render(cases: list[Case], fmt: str, title: str, suite: str) -> str:
    return tap(cases, title) if fmt == "tap" else junit(cases, suite)
