import pytest

from mmuspec.emulate import kconfig
from mmuspec.errors import InputError


def test_the_shipped_fragment_asks_for_kvm_amd_ksm_tracing_and_test_hmm() -> None:
    names = {o.name: o.value for o in kconfig.fragment()}
    for name in ("CONFIG_KVM_AMD", "CONFIG_KSM", "CONFIG_FTRACE", "CONFIG_TEST_HMM", "CONFIG_DEVTMPFS",
                 "CONFIG_BLK_DEV_INITRD", "CONFIG_SERIAL_8250_CONSOLE", "CONFIG_SLUB_DEBUG"):
        assert names[name] == "y"


def test_a_line_that_is_not_an_option_is_refused_with_its_line_number() -> None:
    with pytest.raises(InputError, match=r"frag:3: expected CONFIG_NAME=value"):
        kconfig.parse_fragment("# c\nCONFIG_A=y\nKVM=y\n", "frag")


def test_an_option_given_twice_is_refused() -> None:
    with pytest.raises(InputError, match="CONFIG_A already set on line 1"):
        kconfig.parse_fragment("CONFIG_A=y\nCONFIG_A=n\n", "frag")


def test_an_option_dropped_by_olddefconfig_is_reported_with_what_kconfig_chose() -> None:
    resolved = "CONFIG_KVM=y\n# CONFIG_TEST_HMM is not set\nCONFIG_NR_CPUS=8\n# CONFIG_WERROR is not set\n"
    options = kconfig.parse_fragment("CONFIG_KVM=y\nCONFIG_TEST_HMM=y\nCONFIG_NR_CPUS=4\nCONFIG_WERROR=n\n"
                                     "CONFIG_KSM=y\n")
    assert kconfig.lost(resolved, options) == [
        "CONFIG_TEST_HMM=y (got n)", "CONFIG_NR_CPUS=4 (got 8)", "CONFIG_KSM=y (got n)"]


def test_the_cache_key_changes_with_any_byte_of_the_resolved_config() -> None:
    a = kconfig.config_key("CONFIG_KVM=y\n")
    assert len(a) == 12 and a != kconfig.config_key("CONFIG_KVM=m\n")


def test_the_version_comes_from_the_top_makefile() -> None:
    text = "# SPDX\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\nEXTRAVERSION =\n"
    assert kconfig.kernel_version(text) == "6.1.192"
    with pytest.raises(InputError):
        kconfig.kernel_version("VERSION = 6\n")
