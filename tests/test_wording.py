"""Headers count in words a reader does not stumble on: ``1 device x 1 access``."""

from mmuspec.model import load_scenario
from mmuspec.wording import counted


def test_a_count_of_one_is_singular_and_any_other_plural():
    assert [counted(n, "access", "accesses") for n in (0, 1, 2)] == ["0 accesses", "1 access", "2 accesses"]
    assert counted(1, "VM") == "1 VM" and counted(8, "VM") == "8 VMs"


def test_a_check_header_says_1_device_x_1_access_and_3_vcpus_x_1_access():
    assert load_scenario("hmm-mirror").size_text() == "1 device x 1 access"
    assert load_scenario("ksm-merge").scaled(3, 1).size_text() == "3 vCPUs x 1 access"
    assert load_scenario("zap").size_text() == "1 vCPU x 2 accesses"
