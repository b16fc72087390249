"""The shared fields of a state are declared once (``schema.SHARED``): the layout, the
footprint groups and the value quotient come from that table, every field holds the values
its kind allows, and a field the scenario lacks raises in both engines."""

import itertools
import typing

import pytest

import mmuspec.model.layout as layout_module
from mmuspec.checking import CheckSpec, run_check
from mmuspec.errors import InputError, MmuspecError
from mmuspec.model import load_scenario, parse_variant
from mmuspec.model.footprints import GROUPS, group_fields
from mmuspec.model.layout import PTE_SWAP, V_SNAP, VCPU_FIELDS, Layout
from mmuspec.model.scenario import scenario_names
from mmuspec.model.schema import BLOCK_FIELDS, KINDS, ROLES, SHAPES, SHARED, Field, block_field
from mmuspec.model.symmetry import Symmetry
from tests.helpers import reachable, runnable_spec


def kernel_of(name):
    return runnable_spec(name, ("6.10", "6.11", "5.13", "5.10", "2.6.32"), ((None, None),)).kernel()


def test_every_declared_field_has_a_known_shape_kind_group_and_role():
    assert len({f.attr for f in SHARED}) == len(SHARED)
    for f in SHARED:
        assert (f.shape in SHAPES, f.kind in KINDS, f.group in GROUPS, f.role in ROLES) == (True,) * 4, f.attr


def test_the_layouts_typed_attributes_are_the_declared_fields():
    hints = typing.get_type_hints(Layout)
    declared = {f.attr: (int if f.shape == "one" else tuple[int, ...]) for f in SHARED}
    assert {name: hints[name] for name in declared} == declared
    assert {n for n in hints if n.isupper()} == set(declared)


@pytest.mark.parametrize("name", scenario_names())
def test_the_layout_groups_and_value_quotient_come_from_the_declaration(name):
    k = kernel_of(name)
    L = k.L
    expected: dict[str, list[int]] = {g: [] for g in GROUPS}
    offset = 0
    for f in SHARED:
        value = getattr(L, f.attr)
        offsets = [value] if f.shape == "one" and value >= 0 else list(value) if f.shape != "one" else []
        assert offsets == list(range(offset, offset + len(offsets))), f.attr  # laid out in the table's order
        if f.shape == "one" and offsets:
            assert L.names[offsets[0]] == f.name
        offset += len(offsets)
        expected[f.group] += offsets
    assert offset == k.threads[0].base  # every shared field is declared, then the threads' blocks
    assert {g: list(v) for g, v in group_fields(L).items()} == expected
    values = [i for f in SHARED if f.role == "value" for i in (getattr(L, f.attr)[1:] if f.shape == "frame"
                                                                else getattr(L, f.attr))]
    assert list(Symmetry(k).value_fields) == values


LIMITS = {"bool": 1, "prot": PTE_SWAP, "enum": 16}


@pytest.mark.parametrize("name", scenario_names())
def test_every_field_holds_the_values_its_kind_allows(name):
    k = kernel_of(name)
    L = k.L
    checks = []
    for f in SHARED:
        value = getattr(L, f.attr)
        offsets = ([value] if value >= 0 else []) if f.shape == "one" else list(value)
        limit = L.frames - 1 if f.kind == "pfn" else LIMITS.get(f.kind)
        checks += [(i, limit) for i in offsets if limit is not None]
    for s in itertools.islice(reachable(k.initial(), k.successors), 5000):
        for i, limit in checks:
            assert s[i] <= limit, f"{L.names[i]} = {s[i]}"


def test_a_field_appended_to_the_declaration_is_laid_out_grouped_and_absent_elsewhere(monkeypatch):
    extra = Field("TEST_FLAG", "test_flag", "one", "bool", "slot", when=lambda sc: bool(sc.merge))
    monkeypatch.setattr(layout_module, "SHARED", (*SHARED, extra))
    L = Layout(load_scenario("ksm-merge"))
    assert L.names[L.TEST_FLAG] == "test_flag"  # type: ignore[attr-defined]
    assert L.TEST_FLAG in group_fields(L)["slot"]  # type: ignore[attr-defined]
    one_gfn = Layout(load_scenario("zap"))
    with pytest.raises(MmuspecError, match="no field TEST_FLAG"):
        (b"\0" * one_gfn.size)[one_gfn.TEST_FLAG]  # type: ignore[attr-defined]


# zap has no memslot that comes or goes, and no memory attributes.
READS_ABSENT_GLOBAL = "def mmu_notifier_retry_hva(k, s, mmu_seq, hva):\n    return s[k.L.SLOT] != 0\n"
WRITES_ABSENT_VCPU_FIELD = ("def mmu_notifier_retry_hva(k, s, mmu_seq, hva):\n    s[k.base[0] + k.L.V_ATTR] = 1\n"
                            "    return s[k.L.SEQ] != mmu_seq\n")


@pytest.mark.parametrize("engine", ["compiled", "interpreted"])
@pytest.mark.parametrize(("text", "field"), [(READS_ABSENT_GLOBAL, "SLOT"), (WRITES_ABSENT_VCPU_FIELD, "V_ATTR")],
                         ids=["read-global", "write-vcpu-field"])
def test_a_field_the_scenario_lacks_raises_in_both_engines(engine, text, field):
    variant = parse_variant(text, "absent.py")
    with pytest.raises(InputError) as info:
        run_check(CheckSpec(load_scenario("zap"), "5.13", {}, variant), engine=engine)
    assert str(info.value).startswith("absent.py:2: mmu_notifier_retry_hva() raised AbsentField: the state has no "
                                      f"field {field} in this scenario")


def test_every_thread_block_field_has_a_declared_kind_and_the_snapshot_is_where_the_steps_keep_it():
    assert all(kind in KINDS and role in ROLES for kind, role in BLOCK_FIELDS.values())
    snapshots = [i for i, name in enumerate(VCPU_FIELDS) if block_field(name)[1] == "snapshot"]
    assert snapshots == [V_SNAP]


@pytest.mark.parametrize("name", scenario_names())
def test_every_thread_field_holds_the_values_its_kind_allows(name):
    k = kernel_of(name)
    L = k.L
    limits = {"bool": 1, "prot": PTE_SWAP, "pfn": L.frames - 1, "gfn": L.gfns - 1}
    checks = []
    for thread in k.threads:
        for i, field in enumerate(thread.fields):
            kind, _ = block_field(field)  # a KeyError is a field nobody declared
            if kind in limits:
                checks.append((thread.base + i, limits[kind]))
    for s in itertools.islice(reachable(k.initial(), k.successors), 5000):
        for i, limit in checks:
            assert s[i] <= limit, f"{L.names[i]} = {s[i]}"


def test_an_absent_field_error_pickles_with_its_field_name():
    import pickle

    from mmuspec.model.layout import AbsentField

    again = pickle.loads(pickle.dumps(AbsentField("SLOT")))
    assert str(again) == str(AbsentField("SLOT"))
