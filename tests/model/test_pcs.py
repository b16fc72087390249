"""The per-pc declaration of a vCPU (``guest.PCS``) is what the rest of the model reads,
and it is true of the steps: a snapshot that is not declared live is never read."""

import itertools

import pytest

from mmuspec.errors import MmuspecError
from mmuspec.model import guest, symmetry
from mmuspec.model.layout import V_SNAP
from mmuspec.model.scenario import scenario_names
from tests.helpers import reachable, spec

STATES = 4000  # reachable states per scenario, breadth-first


def kernels(name):
    """The scenario at two eras it runs in (the newest first), with 2 vCPUs."""
    found = []
    for era in ("6.11", "6.10", "5.13", "5.10", "2.6.32"):
        try:
            found.append(spec(name, era, vcpus=2, accesses=1).kernel())
        except MmuspecError:
            continue
        if len(found) == 2:
            break
    return found


def test_the_symmetry_and_the_compiled_core_read_the_pc_declaration():
    assert symmetry.LIVE_SNAPSHOT is guest.LIVE_SNAPSHOT
    assert {pc for pc, d in guest.PCS.items() if d.snapshot} == guest.LIVE_SNAPSHOT
    assert {pc for pc, d in guest.PCS.items() if d.in_fault} == guest.IN_FAULT
    assert tuple(d.name for d in guest.PCS.values()) == guest.PC_NAMES


@pytest.mark.parametrize("name", scenario_names())
def test_a_snapshot_at_a_pc_not_declared_live_changes_nothing_the_vcpu_does_next(name):
    # Were a pc missing from the declaration (a new step of the fault path that compares
    # the snapshot later), the sequence quotient would forget whether the snapshot is stale
    # there, and a search with reductions would take steps the model cannot (ReplayError).
    found = kernels(name)
    if not any(t.kind == "vcpu" for k in found for t in k.threads):
        pytest.skip("no vCPU in this scenario")
    checked = 0
    for kernel in found:
        vcpus = [(t.index, t.base) for t in kernel.threads if t.kind == "vcpu"]
        for s in itertools.islice(reachable(kernel.initial(), kernel.successors), STATES):
            for t, b in vcpus:
                if s[b] in guest.LIVE_SNAPSHOT:
                    continue
                other = bytearray(s)
                other[b + V_SNAP] = (s[b + V_SNAP] + 1) % 256
                mine, theirs = kernel.successors(s, t), kernel.successors(bytes(other), t)
                assert [a for a, _, _ in mine] == [a for a, _, _ in theirs], guest.PC_NAMES[s[b]]
                for (action, n1, e1), (_, n2, e2) in zip(mine, theirs, strict=True):
                    where = f"{kernel.action_text(action)} from pc {guest.PC_NAMES[s[b]]}"
                    assert e1 == e2, where
                    if n1[b] in guest.LIVE_SNAPSHOT:
                        assert n1 == n2, where  # the snapshot now live must not come from before
                    else:
                        assert n1[:b + V_SNAP] + n1[b + V_SNAP + 1:] == n2[:b + V_SNAP] + n2[b + V_SNAP + 1:], where
                checked += 1
    assert checked > 0
