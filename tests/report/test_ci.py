"""TAP as kselftest prints it and JUnit XML as CI test reporters read it."""

import xml.etree.ElementTree as ET

from mmuspec.report.ci import FAIL, PASS, SKIP, Case, junit, tap

CASES = [Case("a holds", PASS, seconds=0.5), Case("b <breaks> & more", FAIL, "violated in 7 steps", "line 1\n\nline 3"),
         Case("c", SKIP, "time budget of 1 s spent")]


def test_tap_has_the_plan_a_line_per_case_skips_and_the_kselftest_totals():
    assert tap(CASES, "title").splitlines() == [
        "TAP version 13", "1..3", "# title",
        "ok 1 a holds",
        "not ok 2 b <breaks> & more # violated in 7 steps", "# line 1", "#", "# line 3",
        "ok 3 c # SKIP time budget of 1 s spent",
        "# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0"]


def test_junit_counts_failures_and_skips_and_escapes_names():
    root = ET.fromstring(junit(CASES, "suite"))
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = list(suite.iter("testcase"))
    assert cases[1].get("name") == "b <breaks> & more"
    assert cases[1].find("failure").get("message") == "violated in 7 steps"
    assert cases[1].find("failure").text == "line 1\n\nline 3"
    assert cases[2].find("skipped") is not None and cases[0].get("time") == "0.500"
