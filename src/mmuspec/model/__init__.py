"""The executable model of the MMU-notifier protocol (primary MMU, KVM, KSM).

Knows nothing of how it is explored: it offers an initial state, the successors
of a state, and a catalogue of events.
"""

from __future__ import annotations

from mmuspec.model.eras import DEFAULT_ERA, ERAS, Era, era_config
from mmuspec.model.events import EVENTS, EventSpec
from mmuspec.model.kernel import Kernel
from mmuspec.model.scenario import Scenario, builtin_names, load_scenario, parse_scenario
from mmuspec.model.switches import SWITCHES, Config, parse_assignments
from mmuspec.model.variant import Variant, load_variant, parse_variant

__all__ = [
    "DEFAULT_ERA",
    "ERAS",
    "EVENTS",
    "SWITCHES",
    "Config",
    "Era",
    "EventSpec",
    "Kernel",
    "Scenario",
    "Variant",
    "builtin_names",
    "era_config",
    "load_scenario",
    "load_variant",
    "parse_assignments",
    "parse_scenario",
    "parse_variant",
]
