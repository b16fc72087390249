"""The proposed fix of the OOM reaper's interval-tree leak (reports/oom-reaper-itree-leak.md),
written as the patch changes mm/mmu_notifier.c.

``__mmu_notifier_invalidate_range_start()`` runs the interval tree first and the hlist
second.  When an hlist subscriber fails a non-blockable start, the core returns -EAGAIN
and ``__oom_reap_task_mm()`` skips ``mmu_notifier_invalidate_range_end()``; the interval
tree's ``active_invalidate_ranges++`` is never undone.  The patch calls
``mn_itree_inv_end()`` on that path, as ``mn_itree_invalidate()`` already does on its own
failure.  In the model the interval tree's part of the call has already run (its phase
steps) when the hlist's part (this helper) runs, so the fix is the one extra call below:
``mmuspec check oom-reaper-itree --era 6.10 --variant examples/variants/itree_end_on_hlist_failure.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.notifier import mmu_notifier_invalidate_range_start_nonblock as _upstream

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel


def mmu_notifier_invalidate_range_start_nonblock(k: Kernel, s: bytearray, gfn: int, fails: bool) -> bool:
    ok = bool(_upstream(k, s, gfn, fails))
    if not ok and k.L.track_itree:
        k.mn_itree_inv_end_inline(s)
    return ok
