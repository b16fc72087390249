"""Review D22: real users insert narrow intervals (nouveau one page per GPU fault), so an
invalidation can be counted in active_invalidate_ranges without hitting the subscription,
leaving invalidate_seq even.  device.interval gives each subscription one page."""

from pathlib import Path

import pytest

from mmuspec.errors import InputError
from mmuspec.model import load_scenario
from mmuspec.model.layout import SUB_TREE
from tests.helpers import check, kernel, reachable

LEAK = str(Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "oom-reaper-itree-narrow.toml")


def test_a_range_beside_the_interval_is_counted_without_making_the_sequence_odd():
    k = kernel(LEAK, "6.10", "mm.nonblock_itree_end=true")
    L = k.L
    assert any(s[L.ITREE_ACTIVE] and not s[L.ITREE_SEQ] & 1 and s[L.DEV_SUB[0]] == SUB_TREE
               for s in reachable(k.initial(), k.successors))


def test_the_reaper_s_leak_beside_the_interval_hangs_the_next_insert_s_read_begin():
    result = check(LEAK, "6.10")
    assert {w.event for w in result.failures} >= {"no_deadlock", "quiescence"}
    assert check(LEAK, "6.10", "mm.nonblock_itree_end=true").verdict == "safe"


def test_a_device_access_outside_its_one_page_interval_is_refused(tmp_path):
    text = Path(LEAK).read_text().replace("gfns = [0]", "gfns = [1]")
    bad = tmp_path / "narrow.toml"
    bad.write_text(text)
    with pytest.raises(InputError, match=r"narrow.toml:12: device.interval = 0: the devices access gfns \[1\]"):
        load_scenario(str(bad))


def test_without_an_interval_every_subscription_covers_the_whole_address_space():
    assert load_scenario("hmm-mirror").device_interval == -1
