"""Expected results in a scenario file, in the vocabulary of LKMM's litmus tests.

A litmus test carries its expected outcome (``Result: Never``), so a script can tell a
changed result from an unchanged one.  A scenario's ``[expect]`` table does the same for
each era: the verdict, and for any event (observation, property or warning) whether
it happens ``Always``, ``Sometimes`` or ``Never``, as herd7 prints them::

    [expect]
    verdict = "safe"                                        # in every era
    change_pte_called = { "5.13" = "Sometimes", "6.10" = "Never" }
    data_integrity = { "*" = "Never", "2.6.32" = "Never" }

A value is either one word for every era or a table from era names (``*`` for every
era not named) to words.  ``verdict`` is ``safe``, ``violation``, ``warning`` or the id of
a property or warning that must be found.  ``Always`` means every execution that
finishes raised the event, ``Never`` that none did, ``Sometimes`` that some did and some
did not (herd7's three answers).  Nothing here searches: ``expectations.py`` judges a
search against these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmuspec.model.eras import ERAS
from mmuspec.model.events import EVENTS
from mmuspec.suggest import did_you_mean
from mmuspec.tomlfile import TomlFile

WORDS = ("Always", "Sometimes", "Never")
FAILURE_IDS = tuple(e.id for e in EVENTS if e.kind in ("property", "warning"))
VERDICTS = ("safe", "violation", "warning", *FAILURE_IDS)
EVENT_IDS = tuple(e.id for e in EVENTS)
# The keys an [expect] table accepts, each also as a per-era table.
KEYS = ("verdict", *EVENT_IDS)
SCHEMA_KEYS = (*KEYS, *(f"{k}.*" for k in KEYS))
ANY_ERA = "*"


@dataclass(frozen=True)
class Expect:
    """Expected answers per key: key -> era (or ``*``) -> word."""

    answers: dict[str, dict[str, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.answers)

    def __hash__(self) -> int:  # a Scenario holding one stays hashable
        return hash(tuple(sorted((k, tuple(sorted(v.items()))) for k, v in self.answers.items())))

    def for_era(self, era: str) -> dict[str, str]:
        """What is expected in ``era``: key -> word, for the keys that name it or ``*``."""
        out = {}
        for key, per_era in self.answers.items():
            word = per_era.get(era, per_era.get(ANY_ERA))
            if word is not None:
                out[key] = word
        return out

    def any_era(self) -> bool:
        """Whether some answer holds for every era not named (a plain value or ``*``)."""
        return any(ANY_ERA in per_era for per_era in self.answers.values())

    def eras(self) -> list[str]:
        """The eras the table names, in ``ERAS`` order (``*`` names none)."""
        named = {e for per_era in self.answers.values() for e in per_era if e != ANY_ERA}
        return [e for e in ERAS if e in named]


NO_EXPECT = Expect()


def parse_expect(toml: TomlFile) -> Expect:
    """The ``[expect]`` table of a scenario file, validated; ``FILE:LINE: problem`` on error."""
    table = toml.data.get("expect", {})
    answers: dict[str, dict[str, str]] = {}
    for key, value in table.items():
        allowed = VERDICTS if key == "verdict" else WORDS
        per_era = value if isinstance(value, dict) else {ANY_ERA: value}
        checked: dict[str, str] = {}
        for era, word in per_era.items():
            if era != ANY_ERA and era not in ERAS:
                raise toml.fail(("expect", key), f"expect.{key}: unknown era {era!r}{did_you_mean(era, ERAS)} "
                                f"(eras: {', '.join(ERAS)}, or \"*\" for the others)")
            if not isinstance(word, str) or word not in allowed:
                hint = did_you_mean(word, allowed) if isinstance(word, str) else ""
                raise toml.fail(("expect", key), f"expect.{key} = {word!r}{' for era ' + era if era != ANY_ERA else ''}"
                                f": expected one of {', '.join(allowed)}{hint}")
            checked[era] = word
        answers[key] = checked
    return Expect(answers)
