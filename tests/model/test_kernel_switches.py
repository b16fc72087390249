"""The switches the steps read as ``k.NAME`` are declared once, typed, with the switch each
reads (``model/kernel_switches.py``)."""

import typing
from dataclasses import fields

from mmuspec.model import SWITCHES
from mmuspec.model.kernel_switches import KernelSwitches
from tests.helpers import kernel


def test_every_field_reads_a_switch_that_exists_and_is_typed_bool_or_str():
    hints = typing.get_type_hints(KernelSwitches)
    for f in fields(KernelSwitches):
        assert f.metadata["switch"] in SWITCHES, f.name
        assert hints[f.name] in (bool, str), f.name


def test_the_model_reads_each_switch_through_the_typed_object():
    k = kernel("zap", "6.10", "kvm.fault_retry_checks=seq_only")
    for f in fields(KernelSwitches):
        assert getattr(k, f.name) == getattr(k.switches, f.name)
        assert type(getattr(k, f.name)) is typing.get_type_hints(KernelSwitches)[f.name]
    assert k.fault_retry_checks == "seq_only"


def test_a_switch_whose_code_an_arch_lacks_reads_as_its_off_value_there():
    assert kernel("zap", "6.10", "arch=x86", "kvm.retry_range=hva").retry_range == "hva"
    assert kernel("zap", "6.10", "arch=arm64").retry_range == "global"
    assert kernel("zap", "6.10", "arch=arm64").lockless_precheck is False
