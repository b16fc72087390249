"""The kernel configuration every emulated kernel is built with, and the check that it held.

``mmuspec.config`` lists the options merged over ``make tinyconfig``.  Kconfig silently
drops an option whose dependencies are not met, so after ``make olddefconfig`` every
listed option is looked up in the resolved ``.config``: a kernel without KVM_AMD or
TEST_HMM would boot and then fail far from the cause.  The cache key of a build is a
hash of the resolved ``.config`` (it names the compiler too), so a new option or a new
compiler means a new build and never a stale kernel.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from mmuspec.errors import InputError

FRAGMENT_NAME = "mmuspec.config"
_LINE = re.compile(r"^(CONFIG_[A-Z0-9_]+)=(.+)$")


@dataclass(frozen=True)
class Option:
    name: str  # CONFIG_FOO
    value: str  # y, m, n, a number or a quoted string

    def line(self) -> str:
        """How the option is written in a .config (n is "is not set")."""
        return f"# {self.name} is not set" if self.value == "n" else f"{self.name}={self.value}"


def parse_fragment(text: str, path: str = FRAGMENT_NAME) -> list[Option]:
    """Options of a fragment: ``CONFIG_X=value`` lines, ``#`` comments, blank lines."""
    options: list[Option] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise InputError(path, number, f"expected CONFIG_NAME=value, got {line!r}")
        name, value = match.groups()
        if name in seen:
            raise InputError(path, number, f"{name} already set on line {seen[name]}")
        seen[name] = number
        options.append(Option(name, value))
    return options


def fragment() -> list[Option]:
    text = (resources.files("mmuspec.emulate") / FRAGMENT_NAME).read_text(encoding="utf-8")
    return parse_fragment(text)


def resolved(config_text: str) -> dict[str, str]:
    """Every option of a .config with its value; "is not set" lines give n."""
    values: dict[str, str] = {}
    for line in config_text.splitlines():
        match = _LINE.match(line)
        if match:
            values[match.group(1)] = match.group(2)
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            values[line[2:-len(" is not set")]] = "n"
    return values


def lost(config_text: str, options: list[Option]) -> list[str]:
    """The options the resolved config does not have as asked, as "NAME=wanted (got X)"."""
    values = resolved(config_text)
    missing = []
    for option in options:
        got = values.get(option.name, "n")
        if got != option.value:
            missing.append(f"{option.name}={option.value} (got {got})")
    return missing


def config_key(config_text: str) -> str:
    """The cache key part of a resolved .config: 12 hex digits of its SHA-256."""
    return hashlib.sha256(config_text.encode()).hexdigest()[:12]


def kernel_version(makefile_text: str) -> str:
    """VERSION.PATCHLEVEL.SUBLEVEL from a kernel's top Makefile."""
    fields = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL) = (\d+)$", makefile_text, re.M))
    if set(fields) != {"VERSION", "PATCHLEVEL", "SUBLEVEL"}:
        raise InputError("Makefile", None, "no VERSION, PATCHLEVEL and SUBLEVEL lines")
    return f"{fields['VERSION']}.{fields['PATCHLEVEL']}.{fields['SUBLEVEL']}"
