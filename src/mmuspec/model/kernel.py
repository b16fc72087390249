"""One configured model: a scenario, an era's switches, and optionally a variant.

``Kernel`` is what the explorer and the simulator drive.  It offers
``initial()``, ``successors(state)`` and the event catalogue, and nothing about
how it is searched.  Every registered step and helper is bound to it as a method,
after a variant (if any) has replaced some of them by name.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from types import MethodType
from typing import TYPE_CHECKING, Any

from mmuspec.errors import InputError, ModelError, UsageError
from mmuspec.model import (  # noqa: F401  (registers steps)
    accessor,
    arch,
    footprints,
    gmem,
    guest,
    hmm,
    host,
    interval,
    kvm,
    kvm_mmu,
    memslot,
    notifier,
    pages,
    pfncache,
    primary,
    unmap,
)
from mmuspec.model import ksm as ksm_mod
from mmuspec.model.events import (
    DATA_INTEGRITY,
    DEADLOCK,
    EVENTS,
    QUIESCENCE,
    STALE_SPTE,
    WARN_DANGLING,
    EventSpec,
)
from mmuspec.model.kernel_switches import KernelSwitches
from mmuspec.model.layout import (
    HOST_KINDS,
    K_KPAGE,
    K_TARGET,
    KSM_PFN,
    PC,
    PG_KSM,
    PTE_NONE,
    PTE_RO,
    PTE_RW,
    SLOT_ABSENT,
    SLOT_VALID,
    SUB_TREE,
    ZERO_PFN,
    AbsentField,
    Layout,
)
from mmuspec.model.primary import visible_contents
from mmuspec.model.registry import FUNCTIONS, STEPS, StepInfo
from mmuspec.model.render import Renderer
from mmuspec.model.scenario import Scenario
from mmuspec.model.switches import SWITCHES, Config
from mmuspec.model.symmetry import Symmetry

if TYPE_CHECKING:
    from mmuspec.model.kernel_functions import KernelFunctions
    from mmuspec.model.kernel_switches import KernelSwitches as KernelSwitchFields
    from mmuspec.model.variant import Variant
else:
    class KernelFunctions:
        """At run time the functions are bound per instance (see ``Kernel.__init__``)."""

    class KernelSwitchFields:
        """At run time the switches are copied onto the instance (see ``Kernel.__init__``)."""

INITIAL_VALUE = 1  # contents of every page the scenario starts with, except the zero page
DEADLOCK_ACTION = 0xFFFF
# Methods of the model object that steps call as ``k.NAME()`` besides the registered functions.
STEP_METHODS = ("thread_finished", "all_done", "final_data_check")

Entry = tuple[int, Callable[..., Any], Callable[..., Any] | None, int]

_PROGRAMS: dict[str, tuple[Callable[[Any], dict[int, list[tuple[str, int]]]], int]] = {
    "vcpu": (guest.program, guest.DONE),
    "accessor": (accessor.program, guest.DONE),
    "ksmd": (ksm_mod.program, ksm_mod.DONE),
    "madvise": (host.zap_program, host.Z_DONE),
    "kswapd": (host.reclaim_program, host.R_DONE),
    "oom_reaper": (unmap.reaper_program, host.Z_DONE),
    "munmap": (unmap.munmap_program, host.Z_DONE),
    "kvm_zap": (kvm_mmu.kvm_zap_program, kvm_mmu.KZ_DONE),
    "kvm_sync": (kvm_mmu.kvm_sync_program, kvm_mmu.KS_DONE),
    "memslot": (memslot.program, memslot.MS_DONE),
    "dmirror": (hmm.program, hmm.DONE),
    "gpc": (pfncache.program, guest.DONE),
    "gmem": (gmem.punch_program, gmem.GP_DONE),
    "gmem_slot": (gmem.slot_program, gmem.GS_DONE),
    "gmem_user": (gmem.user_program, gmem.GU_DONE),
}
PC_NAMES = {
    "vcpu": guest.PC_NAMES,
    "accessor": guest.PC_NAMES,
    "ksmd": ksm_mod.PC_NAMES,
    "madvise": host.ZAP_PC_NAMES,
    "kswapd": host.RECLAIM_PC_NAMES,
    "oom_reaper": unmap.PC_NAMES,
    "munmap": unmap.PC_NAMES,
    "kvm_zap": kvm_mmu.KVM_ZAP_PC_NAMES,
    "kvm_sync": kvm_mmu.KVM_SYNC_PC_NAMES,
    "memslot": memslot.PC_NAMES,
    "dmirror": hmm.PC_NAMES,
    "gpc": pfncache.PC_NAMES,
    "gmem": gmem.PC_NAMES,
    "gmem_slot": gmem.SLOT_PC_NAMES,
    "gmem_user": gmem.USER_PC_NAMES,
}


class Kernel(Renderer, KernelFunctions, KernelSwitchFields):
    """The executable model of one configuration."""

    events: Sequence[EventSpec] = EVENTS
    # The element types of lists that may be empty (the compiled core reads them).
    ksm_targets: list[tuple[int, bool]]
    unmap_targets: list[tuple[int, ...]]
    host_threads: tuple[tuple[int, int], ...]

    def __init__(self, scenario: Scenario, config: Config, variant: Variant | None = None) -> None:
        self.scenario = scenario
        self.config = config
        self.variant = variant
        self.L = Layout(scenario)
        self.threads = self.L.threads
        self.base = [t.base for t in self.threads]
        self.arch = config["arch"]
        # The switches as the steps read them, typed (``kernel_switches.py``).
        self.switches = KernelSwitches.of(config)
        for f in fields(KernelSwitches):
            setattr(self, f.name, getattr(self.switches, f.name))
        self.has_change_pte = self.change_pte != "none"
        # Whether set_pte_at_notify() calls anything: KVM's change_pte, or the fallback.
        self.notifies_change_pte = self.has_change_pte or self.change_pte_fallback == "invalidate_page"
        self.precheck_after_lookup = guest.second_precheck_matters(self)
        self.prefault = scenario.prefault  # KVM_PRE_FAULT_MEMORY vCPUs (guest.py)
        self.hva_offset = scenario.hva_offset
        self.vma_lookup_step = bool(scenario.remap) and self.arch == "arm64"
        self.unstable_merge = bool(scenario.merge) and not scenario.stable_page
        self.table_kept_alive = scenario.table_kept_alive
        self.ev = 0
        self.explain = False
        self.notes: list[tuple[int, str]] = []
        self.ksm_targets = ksm_mod.targets(self) if scenario.merge else []
        self.vcpu_bases = tuple(t.base for t in self.threads if t.kind == "vcpu")
        accesses = {"vcpu": scenario.accesses, "dmirror": scenario.device_accesses,
                    "gpc": scenario.pfncache_accesses}
        self.accesses = [accesses.get(t.kind, scenario.accessor_accesses) for t in self.threads]
        self._secondary_mmus(scenario, config)
        unmaps = {"madvise": scenario.zap, "oom_reaper": scenario.oom_reap, "munmap": scenario.remap}
        self.unmap_targets = [unmaps.get(t.kind, ()) for t in self.threads]
        self.host_threads = tuple((t.base, t.index) for t in self.threads if t.kind in HOST_KINDS)

        # Every call of a replaced function, through ``k.`` or by its bare name, reaches the
        # variant's (``binding.py``); the compiled core translates the same functions.
        self.functions = variant.bound() if variant is not None else FUNCTIONS
        for name, fn in self.functions.items():
            if name in self.__dict__:
                raise ModelError(f"the model function {name!r} would hide the attribute of the same name")
            setattr(self, name, MethodType(fn, self))
        if variant is not None:
            for name in STEP_METHODS:
                setattr(self, name, MethodType(self.step_method(name), self))
        self._build_tables()
        self.symmetry = Symmetry(self, seq=self.seq_quotient_exact, values=variant is None)

    def step_method(self, name: str) -> Callable[..., Any]:
        """A method of the model that steps call (``STEP_METHODS``), as this model runs it."""
        fn = getattr(Kernel, name)
        return self.variant.rebound(fn) if self.variant is not None else fn  # type: ignore[no-any-return]

    @property
    def seq_quotient_exact(self) -> bool:
        """The seq quotient needs the sequence compared only for equality with snapshots: not
        so for a variant (it may do anything) or a truncated ``int`` snapshot."""
        return self.variant is None and not self.int_mmu_seq and not self.L.track_pfncache

    def representative(self, s: bytes) -> bytes:
        """A canonical member of ``s``'s class (see ``symmetry.py``)."""
        return self.symmetry(s)

    def set_reductions(self, *, vcpus: bool, seq: bool, values: bool = True) -> None:
        exact = self.variant is None
        self.symmetry = Symmetry(self, vcpus=vcpus, seq=seq and self.seq_quotient_exact, values=values and exact)

    # -- programs --------------------------------------------------------------------

    def _build_tables(self) -> None:
        self.step_keys: list[tuple[str, int]] = []
        index: dict[tuple[str, int], int] = {}
        self._tables: list[tuple[int, int, tuple[tuple[Entry, ...], ...]]] = []
        self.done_pc: list[int] = []
        for thread in self.threads:
            make, done = _PROGRAMS[thread.kind]
            program = make(self)
            table: list[tuple[Entry, ...]] = []
            for pc in range(max(program) + 1):
                entries: list[Entry] = []
                for key in self._with_phases(thread.index, pc, program.get(pc, [])):
                    if key not in index:
                        index[key] = len(self.step_keys)
                        self.step_keys.append(key)
                    name = key[0]
                    info = STEPS[name]
                    guard = getattr(self, info.guard) if info.guard else None
                    action = thread.index << 8 | index[key]
                    entries.append((action, getattr(self, name), guard, key[1]))
                table.append(tuple(entries))
            self._tables.append((thread.index, thread.base, tuple(table)))
            self.done_pc.append(done)
        self._done_at = tuple((th.base, done) for th, done in zip(self.threads, self.done_pc, strict=True))
        if len(self.step_keys) > 255:
            raise ModelError("too many distinct steps for the action encoding")

    # -- the interface the explorer and simulator use --------------------------------

    def _with_phases(self, t: int, pc: int, keys: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """The steps at ``pc``, preceded by the phase steps of the notifier call they make
        (``notifier.py``), if it has any in this scenario."""
        kinds = {STEPS[name].notifier for name, _ in keys}
        if kinds == {None} or not kinds or not self.L.track_mn:
            return keys
        if None in kinds or len(kinds) > 1:
            raise ModelError(f"{self.threads[t].name}: a notifier call shares its pc with other steps")
        phases = self.end_phases if kinds == {"end"} else self.start_phases
        if phases and self.mn_field[t] < 0:
            raise ModelError(f"{self.threads[t].name} calls the notifier but has no 'mn' field")
        if kinds == {"end"} and self.L.track_itree_lock:
            self.end_pcs.add((t, pc))
        failed_end: list[tuple[str, int]] = []
        if kinds == {"start_nonblock"} and self.L.track_itree_lock:
            # A failed invalidate() ends the interval tree's range itself, in two steps.
            failed_end = [("mn_itree_inv_end_failed_deferred", notifier.MN_FAILED_DEFERRED)]
        return [(name, i) for i, name in enumerate(phases)] + failed_end + keys

    # -- the secondary MMUs besides KVM's fault path ---------------------------------

    def _secondary_mmus(self, scenario: Scenario, config: Config) -> None:
        """Which secondary MMUs subscribe, how the interval tree and the pfn cache behave,
        and the phase steps of a notifier call (``notifier.py``).  A scenario whose
        subscriber the configuration's kernel does not have is refused, in one line."""
        L = self.L
        refuse_missing_subscriber(scenario, config)
        self.kvm_subscribed = scenario.kvm
        self.interval_remove_wait = str(config["mm.interval_remove_wait"])
        self.device_update = str(config["hmm.device_update"])
        self.pfncache_retry = str(config["kvm.pfncache_retry"])
        self.tracks_mn_active = self.memslot_update_waits and L.MN_ACTIVE >= 0
        self.mn_active_in_phase = L.track_pfncache
        self.mn_field = L.mn_fields()
        self.nonblock = [t.kind == "oom_reaper" for t in self.threads]
        self.mn_target = [notifier.TARGET_OF_KIND.get(t.kind, notifier.TARGET_FAULT) for t in self.threads]
        devices = [t.index for t in self.threads if t.kind == "dmirror"]
        self.device_index = [devices.index(t.index) if t.index in devices else -1 for t in self.threads]
        start: list[tuple[str, int]] = []
        end: list[tuple[str, int]] = []
        if L.track_itree:
            start.append(("mn_itree_inv_start_range", -1))
            start += [("dmirror_interval_invalidate", d) for d in range(L.devices)]
            end.append(("mn_itree_inv_end", -1))
            if L.track_itree_lock:
                end.append(("mn_itree_inv_end_deferred", -1))
        self.start_after_itree = len(start)
        if L.track_pfncache:
            start.append(("gfn_to_pfn_cache_invalidate_start", -1))
        self.start_phases = [name for name, _ in start]
        self.start_phase_device = [d for _, d in start]
        self.end_phases = [name for name, _ in end]
        self.start_phase_count = len(start)
        self.end_phase_count = len(end)
        self.end_pcs: set[tuple[int, int]] = set()  # where a thread may hold subscriptions->lock

    def initial(self) -> bytes:
        L = self.L
        sc = self.scenario
        s = bytearray(L.size)
        s[L.LAST_WRITTEN] = INITIAL_VALUE
        s[L.REF[ZERO_PFN]] = 1
        if sc.stable_page:
            # Another VM maps the stable page, which keeps it alive.
            s[L.REF[KSM_PFN]] = 1
            s[L.MAP[KSM_PFN]] = 1
            s[L.FLAGS[KSM_PFN]] = PG_KSM
            s[L.VAL[KSM_PFN]] = INITIAL_VALUE
        s[L.SPT_TABLE] = 1 if sc.table_kept_alive else 0
        s[L.SEQ] = sc.initial_seq
        if L.TLBS_DIRTY >= 0:
            s[L.TLBS_DIRTY] = sc.initial_tlbs_dirty
        if L.track_slot:
            s[L.SLOT] = SLOT_VALID if sc.memslot_initially == "present" else SLOT_ABSENT
        for gfn, kind in enumerate(sc.initial):
            if kind == "anon":
                page = self.alloc_page(s, INITIAL_VALUE)
                self.page_add_rmap(s, page)
                self.set_pte_at(s, gfn, page, PTE_RW)
            elif kind == "ksm":
                self.get_page(s, KSM_PFN)
                self.page_add_rmap(s, KSM_PFN)
                self.set_pte_at(s, gfn, KSM_PFN, PTE_RO)
            elif kind == "zero":
                self.set_pte_at(s, gfn, ZERO_PFN, PTE_RO)
            else:
                s[L.PTE_PROT[gfn]] = PTE_NONE
            s[L.EXPECT[gfn]] = INITIAL_VALUE if kind in ("anon", "ksm") else 0
            if L.track_young:
                s[L.PTE_YOUNG[gfn]] = 0
        for gfn in sc.lru_add:
            # Faulted in since the last lru_add_drain_all(): the batch's reference (folio_add_lru()).
            self.get_page(s, s[L.PTE_PFN[gfn]])
            s[L.LRU_ADD[s[L.PTE_PFN[gfn]]]] = 1
        for gfn in sc.faulted_in:
            # An earlier fault mapped the page as the primary PTE maps it.
            s[L.SPTE_PFN[gfn]] = s[L.PTE_PFN[gfn]]
            s[L.SPTE_W[gfn]] = 1 if s[L.PTE_PROT[gfn]] == PTE_RW else 0
        for thread in self.threads:
            if thread.kind == "ksmd":
                s[thread.base + K_KPAGE] = ksm_mod.initial_kpage(self)
                s[thread.base + K_TARGET] = 0
            elif thread.kind == "memslot":
                s[thread.base + PC] = memslot.first_pc(self)
            elif thread.kind == "kswapd":
                s[thread.base + PC] = host.first_reclaim_pc(self)
            elif thread.kind == "dmirror":
                s[thread.base + PC] = hmm.first_pc(self)
        if L.track_gmem:
            gmem.initial(self, s)
        if L.track_itree:
            s[L.ITREE_SEQ] = interval.ITREE_INITIAL_SEQ
            if not sc.device_insert:
                # dmirror_fops_open() inserted each subscription before the scenario starts.
                for d in range(L.devices):
                    s[L.DEV_SUB[d]] = SUB_TREE
                    s[L.DEV_SEQ[d]] = interval.ITREE_INITIAL_SEQ - 1
        return bytes(s)

    def successors(self, s: bytes, thread: int | None = None) -> list[tuple[int, bytes, int]]:
        """Every enabled atomic step from ``s``: (action, next state, event bits); with
        ``thread``, only that thread's."""
        out: list[tuple[int, bytes, int]] = []
        for t, base, table in self._tables:
            if thread is not None and t != thread:
                continue
            for action, fn, guard, arg in table[s[base]]:
                try:
                    if guard is not None and not guard(s, t, arg):
                        continue
                    m = bytearray(s)
                    self.ev = 0
                    fn(m, t, arg)
                except Exception as exc:
                    failed = self.step_failed(action, exc)
                    if failed is exc:
                        raise
                    raise failed from None
                out.append((action, bytes(m), self.ev))
        if not out and thread is None and not self.all_done(s):
            self.ev = 0
            self.fire(DEADLOCK, lambda: "no thread can move: " + self.blocked_text(s))
            out.append((DEADLOCK_ACTION, s, self.ev))
        return out

    def step_failed(self, action: int, exc: Exception) -> Exception:
        """What a step's exception means: a variant's own error is bad input, located in its
        file; a store out of 0..255 and a field the scenario lacks are named with the step."""
        step = self.action_text(action)
        if isinstance(exc, InputError):
            return exc  # already located (a variant stopped by its deadline)
        if self.variant is not None:
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == self.variant.path]
            if frames:
                what = ("stored a value out of 0..255" if _out_of_range(exc)
                        else f"raised {type(exc).__name__}: {exc}")
                return InputError(self.variant.path, frames[-1].lineno,
                                  f"{frames[-1].name}() {what} (in step {step})")
        if isinstance(exc, AbsentField):
            frames = traceback.extract_tb(exc.__traceback__)
            inner = [f for f in frames if "__index__" not in f.name and "__getitem__" not in f.name]
            where = f"{inner[-1].filename}:{inner[-1].lineno}: " if inner else ""
            return ModelError(f"{where}step {step}: {exc}")
        if _out_of_range(exc):
            return ModelError(f"step {step} drove a field out of 0..255: {exc}")
        return exc

    def canonical_successors(self, s: bytes, thread: int | None = None) -> list[tuple[int, bytes, int]]:
        """``successors`` of a representative, each successor a representative too.
        A copy of ``successors`` with one more line, on purpose: the hottest loop of the
        search, where even a no-op settle call per transition costs time."""
        out: list[tuple[int, bytes, int]] = []
        settlers = self.symmetry.settlers
        for t, base, table in self._tables:
            if thread is not None and t != thread:
                continue
            settle = settlers[t]
            for action, fn, guard, arg in table[s[base]]:
                try:
                    if guard is not None and not guard(s, t, arg):
                        continue
                    m = bytearray(s)
                    self.ev = 0
                    fn(m, t, arg)
                except Exception as exc:
                    failed = self.step_failed(action, exc)
                    if failed is exc:
                        raise
                    raise failed from None
                settle(m, s)
                out.append((action, bytes(m), self.ev))
        if not out and thread is None and not self.all_done(s):
            self.ev = 0
            self.fire(DEADLOCK, lambda: "no thread can move: " + self.blocked_text(s))
            out.append((DEADLOCK_ACTION, s, self.ev))
        return out

    def footprints(self) -> footprints.Declaration | None:
        """What each thread's steps may touch, for partial-order reduction (see
        ``footprints.py``); None for a variant, whose functions declare nothing, and with a
        memslot updater, whose wait for faults reads the vCPUs' program counters, and with
        guest_memfd, whose memslot thread does the same."""
        if self.variant is not None or self.scenario.memslot_change != "none" or self.scenario.gmem:
            return None
        return footprints.declaration(self)

    def explain_action(self, s: bytes, action: int) -> tuple[bytes, int, list[tuple[int, str]]]:
        """Take one action from ``s`` and say what happened: (next, events, notes).
        Raises KeyError if the action is not enabled in ``s``."""
        self.explain, self.notes, self.ev = True, [], 0
        try:
            if action == DEADLOCK_ACTION and not any(True for _ in self._enabled(s)):
                self.fire(DEADLOCK, lambda: "no thread can move: " + self.blocked_text(s))
                return s, self.ev, self.notes
            for a, fn, t, arg in self._enabled(s):
                if a == action:
                    m = bytearray(s)
                    fn(m, t, arg)
                    return bytes(m), self.ev, self.notes
            raise KeyError(action)
        finally:
            self.explain = False
            self.notes = []

    def explain_replaced(self, s: bytes, action: int) -> tuple[bytes, int, list[tuple[int, str]], tuple[str, ...]]:
        """``explain_action``, and the functions of the variant (if any) the step called, first
        call first: what a trace marks as the variant's."""
        if self.variant is None:
            return (*self.explain_action(s, action), ())
        (nxt, events, notes), names = self.variant.calls(self.explain_action, s, action)
        return nxt, events, notes, names

    def _enabled(self, s: bytes) -> Iterator[tuple[int, Callable[..., Any], int, int]]:
        for t, base, table in self._tables:
            for action, fn, guard, arg in table[s[base]]:
                if guard is None or guard(s, t, arg):
                    yield action, fn, t, arg

    def fire(self, bit: int, detail: Callable[[], str]) -> None:
        self.ev |= bit
        if self.explain:
            self.notes.append((bit, detail()))

    def say(self, detail: Callable[[], str]) -> None:
        """An explanation for traces only (bit 0: no event)."""
        if self.explain:
            self.notes.append((0, detail()))

    # -- thread lifetime ---------------------------------------------------------------

    def all_done(self, s: bytes | bytearray) -> bool:
        for base, done in self._done_at:  # noqa: SIM110  (a generator is slower on this hot path)
            if s[base] != done:
                return False
        return True

    def thread_finished(self, s: bytearray, t: int) -> None:
        s[self.base[t] + PC] = self.done_pc[t]
        if self.all_done(s):
            self.final_data_check(s)

    def host_threads_done(self, s: bytes | bytearray) -> bool:
        """Whether every thread but the vCPUs has finished (the end state of quiescence)."""
        return all(s[base] == self.done_pc[t] for base, t in self.host_threads)

    def final_data_check(self, s: bytearray) -> None:
        """When every thread has finished, each gfn must still hold the guest's last
        write (a write that went to a page the mm no longer maps is lost), no SPTE may
        carry what a completed change made stale, and no invalidation may still count."""
        L = self.L
        for gfn in range(L.gfns):
            got, want = visible_contents(self, s, gfn), s[L.EXPECT[gfn]]
            if got != want:
                self.fire(DATA_INTEGRITY, _lost_write_text(gfn, got, want))
            if L.track_attrs and s[L.SPTE_PFN[gfn]] and s[L.SPTE_ATTR[gfn]] != s[L.ATTR[gfn]]:
                self.fire(STALE_SPTE, _stale_text(gfn, s[L.SPTE_ATTR[gfn]], s[L.ATTR[gfn]]))
        active = s[L.MN_ACTIVE] if L.MN_ACTIVE >= 0 else 0
        if self.invalidate_begin_add_end and (L.MN_ACTIVE >= 0 or L.track_gmem) and s[L.COUNT] and not active:
            # kvm_destroy_vm(): an unbalanced mn_active_invalidate_count (notifier unregistered
            # mid-invalidation) is reset; balanced, in_progress must be 0 (d497a0fab8b8).  A
            # guest_memfd scenario's MMU-notifier ranges (the host mmap's) are blockable and
            # always end, so its untracked mn_active_invalidate_count is balanced.
            count = s[L.COUNT]
            self.fire(WARN_DANGLING, lambda: f"WARN_ON(kvm->mmu_invalidate_in_progress) in kvm_destroy_vm(): "
                      f"in_progress is {count} with mn_active_invalidate_count 0")
        if s[L.COUNT] or active:
            count = s[L.COUNT]
            self.fire(QUIESCENCE, lambda: f"every thread has finished, but mmu_notifier_count is {count}"
                      + (f" and mn_active_invalidate_count {active}" if active else "")
                      + ": an invalidation never ended")
        if L.track_itree and (s[L.ITREE_ACTIVE] or s[L.ITREE_SEQ] & 1):
            ranges, seq = s[L.ITREE_ACTIVE], s[L.ITREE_SEQ]
            self.fire(QUIESCENCE, lambda: f"every thread has finished, but active_invalidate_ranges is {ranges} "
                      f"and invalidate_seq {seq}: an interval-tree invalidation never ended")

    def quiescent(self, s: bytes) -> bool:
        """The goal of the liveness check: every thread has finished."""
        return self.all_done(s)

    # -- naming actions ----------------------------------------------------------------

    def thread_of(self, action: int) -> int:
        """The thread an action belongs to (254 for the deadlock pseudo-action)."""
        return 254 if action == DEADLOCK_ACTION else action >> 8

    def locks_held(self, s: bytes | bytearray, t: int) -> list[str]:
        """The locks thread ``t`` holds in ``s`` between steps (mmu_lock never is)."""
        thread = self.threads[t]
        pc = s[thread.base]
        held = []
        if thread.kind in ("vcpu", "accessor"):
            held += [lock for lock in guest.PCS[pc].locks if lock != "ptl" or s[self.L.PTL]]
        if s[self.L.PTL] and ((thread.kind == "ksmd" and pc in (ksm_mod.WP_NOTIFY, ksm_mod.RP_NOTIFY))
                              or (thread.kind == "kswapd" and pc in host.AGE_PCS)):
            held.append("ptl")
        if thread.kind == "munmap" and pc in (host.Z_CLEAR, host.Z_END, host.Z_FREE):
            held.append("mmap_lock (write)")
        if (thread.kind == "ksmd" and pc not in (ksm_mod.SCAN, ksm_mod.DONE)) or (
            thread.kind == "kswapd" and pc in (host.R_UNMAP_START, host.R_UNMAP, host.R_UNMAP_END, host.R_FREE)
        ):
            held.append("page lock")
        L = self.L
        if thread.kind == "dmirror" and pc == interval.D_UPDATE and s[L.DEV_MUTEX[self.device_index[t]]]:
            held.append("dmirror->mutex")
        if thread.kind == "gmem" and L.GMEM_LOCK >= 0 and s[L.GMEM_LOCK] and pc not in (gmem.GP_BEGIN,
                                                                                      gmem.GP_RELEASE):
            held.append("filemap_invalidate_lock")
        if (t, pc) in self.end_pcs and s[L.ITREE_LOCK] and s[self.mn_field[t]] == self.end_phase_count - 1:
            held.append("subscriptions->lock")
        if self.nonblock[t] and L.track_itree_lock and s[L.ITREE_LOCK] \
                and s[self.mn_field[t]] == notifier.MN_FAILED_DEFERRED:
            held.append("subscriptions->lock")
        return held

    def action_parts(self, action: int) -> tuple[str, str, str]:
        """(thread name, step name, argument text) of an action."""
        if action == DEADLOCK_ACTION:
            return ("-", "deadlock", "")
        thread = self.threads[action >> 8]
        name, arg = self.step_keys[action & 0xFF]
        return thread.name, name, self.arg_text(name, arg)

    def arg_text(self, name: str, arg: int) -> str:
        if name in ("guest_access", "accessor_access", "gmem_user_access"):
            gfn, write = divmod(arg, 2)
            return f"{'write' if write else 'read'} gfn {gfn}"
        if name == "oom_reap_range_start":
            return "-EAGAIN" if arg == unmap.FAILS else "ok"
        if name == "dmirror_access":
            gfn, write = divmod(arg, 2)
            return f"{'write' if write else 'read'} gfn {gfn}"
        if name == "kvm_gpc_check":
            return f"{'write' if arg else 'read'} gfn {self.scenario.pfncache_gfn}"
        if name == "dmirror_interval_invalidate" and self.L.devices > 1:
            return f"dmirror{self.start_phase_device[arg]}"
        return ""

    def action_text(self, action: int) -> str:
        thread, name, arg = self.action_parts(action)
        return f"{thread}:{name}" + (f"({arg})" if arg else "")

    def action_by_text(self, text: str) -> int:
        for _t, _, table in self._tables:
            for entries in table:
                for action, *_ in entries:
                    if self.action_text(action) == text:
                        return action
        if text == "-:deadlock":
            return DEADLOCK_ACTION
        raise KeyError(text)

    def step_info(self, action: int) -> StepInfo | None:
        if action == DEADLOCK_ACTION:
            return None
        return STEPS[self.step_keys[action & 0xFF][0]]

    def pc_name(self, s: bytes | bytearray, t: int) -> str:
        thread = self.threads[t]
        return PC_NAMES[thread.kind][s[thread.base]]

    def blocked_text(self, s: bytes | bytearray) -> str:
        return ", ".join(
            f"{th.name} at {self.pc_name(s, th.index)}"
            for th in self.threads
            if s[th.base] != self.done_pc[th.index]
        )


def _out_of_range(exc: Exception) -> bool:
    return isinstance(exc, ValueError) and "range(0, 256)" in str(exc)


def _lost_write_text(gfn: int, got: int, want: int) -> Callable[[], str]:
    return lambda: f"at the end gfn {gfn} holds {got} but the guest last wrote {want}: a write was lost"


def _stale_text(gfn: int, built: int, now: int) -> Callable[[], str]:
    return lambda: f"at the end spte[{gfn}] was built with attr {built}, but the completed change made it {now}"


def refuse_missing_subscriber(scenario: Scenario, config: Config) -> None:
    """A scenario whose secondary MMU this kernel does not have, or which the model does not
    combine with it, is a usage error (one line), not a verdict."""
    name = scenario.name
    if scenario.device_threads:
        if not config["mm.interval_notifier"]:
            raise UsageError(f"scenario {name} has a device mirror, which subscribes with mmu_interval_notifier "
                             "(99cb252f5e68, v5.5); this era has none (mm.interval_notifier=false)")
        if not config["mm.wrap_change_pte"] or config["mm.rmap_unmap_notifier"] != "range":
            raise UsageError(f"scenario {name}: an interval notifier hears only invalidate_range_start/end, and "
                             "this configuration changes PTEs outside them (mm.wrap_change_pte=false or "
                             "mm.rmap_unmap_notifier=invalidate_page)")
        if scenario.remap:
            raise UsageError(f"scenario {name}: munmap() with a device mirror is not modelled")
    if scenario.pfncache:
        retry = config["kvm.pfncache_retry"]
        if retry == "none":
            raise UsageError(f"scenario {name} has a gfn_to_pfn_cache (982ed0de4753, v5.17); this era has none "
                             "(kvm.pfncache_retry=none)")
        if retry == "active_count" and not config["kvm.memslot_update_waits"]:
            raise UsageError("kvm.pfncache_retry=active_count needs mn_active_invalidate_count "
                             "(52ac8b358b0c, v5.15: kvm.memslot_update_waits=true)")
        if not config["mm.wrap_change_pte"] or not config["kvm.start_zaps_change_pte_events"]:
            raise UsageError(f"scenario {name}: the pfn cache is invalidated only by invalidate_range_start(), "
                             "which this configuration skips for some PTE changes")
        if scenario.remap or scenario.memslot_change != "none":
            raise UsageError(f"scenario {name}: a pfn cache with munmap() or a memslot change is not modelled")
    if scenario.prefault and scenario.vcpus:
        if config["kvm.prefault"] == "none":
            raise UsageError(f"scenario {name} prefaults with KVM_PRE_FAULT_MEMORY (bc1a5cd00211, v6.11); this "
                             "era has no such ioctl (kvm.prefault=none)")
        if config["arch"] != "x86":
            raise UsageError(f"scenario {name}: KVM_PRE_FAULT_MEMORY is modelled on x86 only "
                             "(kvm_arch_vcpu_pre_fault_memory())")
    if scenario.gmem:
        mode = config["kvm.guest_memfd"]
        if mode == "none":
            raise UsageError(f"scenario {name} has a guest_memfd file (a7800aa80ea4, v6.8); this era has none "
                             "(kvm.guest_memfd=none)")
        if scenario.gmem_mmap and mode != "mmap":
            raise UsageError(f"scenario {name} maps the guest_memfd file in host userspace (v6.18); this era's "
                             "guest_memfd cannot be mapped (kvm.guest_memfd=private)")


def _acts(name: str, on: object) -> bool:
    return SWITCHES[name].acts_on(on)  # type: ignore[arg-type]
