"""What a kernel trace can show of one guest page, read off the model.

``trace validate`` asks whether a recorded sequence of events on one page is a
behaviour of the model.  The model's scenarios are finite (each thread does its work
once); a real page sees the same work again and again.  So the model is explored with
every thread *restarting* its work when it finishes (ksmd scans again, the vCPU
accesses again, madvise zaps again): the reachable states are still finite, and every
path through them is a behaviour of the model repeated.  Each transition is labelled
with what the kernel's tracepoints would print about the projected gfn (``observe``),
and unlabelled transitions are invisible: the result is a nondeterministic automaton
whose language is exactly the model's observable behaviours of that page.  Nothing here
is a table of expected sequences: remove a step from the model and the automaton changes.

Labels (and the tracepoint each stands for):

* ``unmap:ksmd`` / ``unmap:mm``: ``kvm_unmap_hva_range`` over the page, printed by KVM's
  ``invalidate_range_start()``, from ksmd, or from the process's own threads and kswapd;
* ``map``: ``kvm_mmu_spte_requested`` for the gfn: a fault passed the retry test and
  installs the SPTE (``direct_page_fault()``);
* ``merge`` / ``merge-in-place`` / ``merge-failed``: ``ksm_merge_with_ksm_page`` at the end
  of ``try_to_merge_with_ksm_page()``, with a KSM page, without (the first page of an
  unstable-tree pair, made the KSM page in place), or with an error (the check takes them
  as invisible until a trace shows a ksm event: kernels before v6.4 print none);
* ``age`` / ``test-age``: ``kvm_age_hva`` / ``kvm_test_age_hva``;
* ``change-pte``: ``kvm_set_spte_hva`` (only eras with the callback);
* ``zap-shadow``: ``kvm_mmu_prepare_zap_page`` of a direct shadow page over the gfn: KVM
  dropping SPTEs on its own (NX huge page recovery, shadow page reclaim), with no
  notifier.  The model has no such thread; the automaton lets it happen between any two
  steps, as an SPTE removal under ``mmu_lock`` (which is what ``kvm_mmu_zap_page()`` is).
  For the memslot workload the removal is invisible: deleting or moving a memslot zaps its
  SPTEs without a per-page tracepoint.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from functools import cache

from mmuspec.model import Kernel, Scenario, era_config
from mmuspec.model.events import BIT
from mmuspec.model.host import R_CLEAR_YOUNG, R_REFERENCED, R_TEST_YOUNG, first_reclaim_pc
from mmuspec.model.layout import K_KPAGE, K_PAGE, K_TARGET, PC, V_GFN
from mmuspec.model.notifier import notifier_target

LABELS = ("unmap:ksmd", "unmap:mm", "map", "merge", "merge-in-place", "merge-failed", "age", "test-age",
          "change-pte", "zap-shadow")
AGING_STEPS = {"page_idle_clear_pte_refs": "age", "page_referenced": "age",
               "mmu_notifier_test_young_probe": "test-age"}
# ksmd's merge outcome, carried from the step that decides it to the step that traces it.
NO_MERGE, MERGED, IN_PLACE, FAILED = range(4)
OUTCOME_LABEL = {MERGED: "merge", IN_PLACE: "merge-in-place", FAILED: "merge-failed"}
MAX_NODES = 400_000
AGEING_PCS = (R_CLEAR_YOUNG, R_TEST_YOUNG, R_REFERENCED)  # kswapd's ageing steps (model/host.py)


class ModelTooLarge(Exception):
    """The restarting model did not close within ``MAX_NODES`` states."""


@dataclass(frozen=True)
class Projection:
    """One model scenario and the gfn whose events are compared with a real page."""

    scenario: Scenario
    gfn: int
    what: str


def _scenario(name: str, **kw: object) -> Scenario:
    """A one-page lab scenario.  Every one ages the page (kswapd's ageing, without reclaim):
    a host ages pages on its own (kswapd, DAMON's kdamond, MGLRU), whatever the workload."""
    base = Scenario(name=name, description="a page of a lab run", gfns=1, initial=("anon",),
                    table_kept_alive=True, stable_page=False, merge=(), vcpus=1, accesses=2,
                    ops=("read", "write"), guest_gfns=(0,), zap=(), aging=(0,), reclaim=False)
    return replace(base, **kw)  # type: ignore[arg-type]


def projections(workload: str) -> tuple[Projection, ...]:
    """The model scenarios a real page of ``workload`` is compared with.  A page merged into
    an existing KSM page is gfn 0 of a scenario with a stable page; the first page of the
    first unstable-tree pair is the page made KSM in place (gfn 1 of a two-page pair)."""
    if workload in ("ksm-merge", "cow-break"):
        ops = ("read",) if workload == "ksm-merge" else ("read", "write")
        accesses = len(ops)
        stable = _scenario("lab-ksm-stable", stable_page=True, merge=(0,), ops=ops, accesses=accesses)
        pair = _scenario("lab-ksm-pair", gfns=2, initial=("anon", "anon"), merge=(0, 1), ops=ops,
                         accesses=accesses, guest_gfns=(1,), aging=(1,))
        return (Projection(stable, 0, "merged into a KSM page"), Projection(pair, 1, "made a KSM page in place"),
                Projection(pair, 0, "the tree page of an unstable pair"))
    if workload == "zap":
        # The host's writes through the hva are not a thread here: what the trace shows of
        # one (an unmap when it breaks COW of the zero page, then the guest's refault) is
        # the same as the madvise thread's zap followed by a refault.
        return (Projection(_scenario("lab-zap", zap=(0,)), 0, "zapped"),)
    # The host unmaps any page on its own as well: kcompactd and NUMA balancing migrate it
    # (try_to_migrate(): an invalidate_range_start, then the guest refaults on the new
    # page), which a trace shows as a zap does.  A recorded aging run on 6.18 has kcompactd
    # unmap four guest pages.  The KSM workloads' pages carry no such thread: cow-break's
    # restarting model with it exceeds MAX_NODES, so there such an unmap is not admitted.
    if workload == "aging":
        return (Projection(_scenario("lab-aging", zap=(0,)), 0, "aged, and migrated by the host"),)
    if workload == "memslot":
        return (Projection(_scenario("lab-memslot", zap=(0,)), 0, "accessed, and migrated by the host"),)
    raise ValueError(f"no model projection for workload {workload!r}")


def observe(k: Kernel, s: bytes, action: int, nxt: bytes, ev: int, aux: int, gfn: int) -> tuple[str | None, int]:
    """The label the kernel's tracepoints would print about ``gfn`` for this transition,
    and ksmd's pending merge outcome after it."""
    t = k.thread_of(action)
    thread = k.threads[t]
    step = k.action_parts(action)[1]
    info = k.step_info(action)
    if thread.kind == "ksmd":
        b = k.base[t]
        target, in_place = k.ksm_targets[s[b + K_TARGET]]
        if step == "ksm_put_page":
            label = OUTCOME_LABEL.get(aux) if target == gfn else None
            return label, NO_MERGE
        if ev & BIT["ksm_merged"]:
            aux = MERGED
        elif ev & BIT["ksm_merge_aborted"]:
            aux = FAILED
        elif step == "try_to_merge_one_page_compare" and in_place and nxt[b + K_KPAGE] == s[b + K_PAGE]:
            aux = IN_PLACE
    if info is not None and info.notifier == "start" and k.kvm_subscribed:
        if notifier_target(k, s, t) == gfn:
            return ("unmap:ksmd" if thread.kind == "ksmd" else "unmap:mm"), aux
        return None, aux
    if ev & BIT["change_pte_called"] and notifier_target(k, s, t) == gfn:
        return "change-pte", aux
    if step == "direct_page_fault" and not ev & BIT["fault_retried"] and s[k.base[t] + V_GFN] == gfn:
        return "map", aux
    if step in AGING_STEPS and notifier_target(k, s, t) == gfn:
        return AGING_STEPS[step], aux
    return None, aux


@dataclass
class PageAutomaton:
    """The observable behaviours of one page: nodes are (model state, ksmd's pending merge
    outcome, projection), ``edges[n]`` maps a label (None: invisible) to successor nodes."""

    era: str
    workload: str
    nodes: list[tuple[bytes, int, int]]
    edges: list[dict[str | None, set[int]]]
    starts: frozenset[int]
    kernels: list[Kernel]
    gfns: list[int]

    def closure(self, nodes: frozenset[int]) -> frozenset[int]:
        seen = set(nodes)
        todo = list(nodes)
        while todo:
            for m in self.edges[todo.pop()].get(None, ()):
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        return frozenset(seen)

    def step(self, nodes: frozenset[int], label: str) -> frozenset[int]:
        out: set[int] = set()
        for n in nodes:
            out |= self.edges[n].get(label, set())
        return self.closure(frozenset(out))

    def describe(self, node: int) -> str:
        s, _aux, p = self.nodes[node]
        k, gfn = self.kernels[p], self.gfns[p]
        L = k.L
        pcs = ", ".join(f"{t.name} at {k.pc_name(s, t.index)}" for t in k.threads)
        return (f"{k.scenario.name} gfn {gfn}: pte {k.pte_text(s, gfn)}, spte pfn {s[L.SPTE_PFN[gfn]]}"
                f"{' (writable)' if s[L.SPTE_W[gfn]] else ''}, mmu_notifier_count {s[L.COUNT]}; {pcs}")


def _spte_dropped(k: Kernel, s: bytes, gfn: int) -> bytes:
    """``s`` after KVM zapped ``gfn``'s SPTE on its own (a shadow page freed under mmu_lock)."""
    m = bytearray(s)
    m[k.L.SPTE_PFN[gfn]] = 0
    m[k.L.SPTE_W[gfn]] = 0
    return bytes(m)


def _restarts(k: Kernel, s: bytes, init: bytes) -> list[bytes]:
    """The states in which one finished thread starts its work again, and those in which
    the page's ager (see ``_agers``) calls any of its ageing notifiers next."""
    out = []
    for t in k.threads:
        if s[t.base + PC] == k.done_pc[t.index]:
            size = len(t.fields) or 1
            m = bytearray(s)
            m[t.base:t.base + size] = init[t.base:t.base + size]
            out.append(bytes(m))
        if t.kind == "kswapd":
            out += _agers(k, s, t.base, k.done_pc[t.index], init)
    return out


def _agers(k: Kernel, s: bytes, base: int, done: int, init: bytes) -> list[bytes]:
    """A real page is aged by several agers at once, each calling the ageing notifiers in
    its own order: DAMON's kdamond calls clear_young (``damon_ptep_mkold()``) and later
    test_young (``damon_folio_young_one()``) on sampled pages, reclaim calls
    clear_flush_young (``folio_referenced_one()``), MGLRU's look-around test_young.  A
    recorded cow-break run on 6.18 has kdamond print kvm_age_hva, kvm_test_age_hva,
    kvm_age_hva, kvm_test_age_hva on one page, which one kswapd round (clear_young,
    test_young, clear_flush_young) repeated cannot.  So between its rounds' steps, or when
    done, the model's kswapd may go on with any ageing step of its era: each is one notifier
    call under mmu_lock on its own, and what it does to the SPTE is still the model's."""
    pc = s[base + PC]
    if pc != done and pc not in AGEING_PCS:
        return []
    out = []
    for nxt in range(first_reclaim_pc(k), R_REFERENCED + 1):
        if nxt != pc:
            m = bytearray(s)
            m[base:base + 2] = init[base:base + 2]  # pc and target as a new round has them
            m[base + PC] = nxt
            out.append(bytes(m))
    return out


@cache
def automaton(era: str, workload: str, arch: str = "x86",
              settings: tuple[tuple[str, str], ...] = ()) -> PageAutomaton:
    """The page automaton of ``workload``'s projections under ``era`` with switch ``settings``
    on top (a stable kernel's backported fix), cached per process."""
    nodes: list[tuple[bytes, int, int]] = []
    edges: list[dict[str | None, set[int]]] = []
    index: dict[tuple[bytes, int, int], int] = {}
    starts: set[int] = set()
    kernels: list[Kernel] = []
    gfns: list[int] = []
    config = era_config(era, {"arch": arch, **dict(settings)})
    invisible_drops = workload == "memslot"
    for p, proj in enumerate(projections(workload)):
        k = Kernel(proj.scenario, config)
        k.set_reductions(vcpus=False, seq=True, values=True)
        kernels.append(k)
        gfns.append(proj.gfn)
        init = k.representative(k.initial())

        def node(key: tuple[bytes, int, int]) -> tuple[int, bool]:
            n = index.get(key)
            if n is not None:
                return n, False
            if len(nodes) >= MAX_NODES:
                raise ModelTooLarge(f"the restarting model of {workload} under {era} exceeds {MAX_NODES:,} states")
            index[key] = len(nodes)
            nodes.append(key)
            edges.append({})
            return len(nodes) - 1, True

        first, _ = node((init, NO_MERGE, p))
        starts.add(first)
        queue = deque([first])
        while queue:
            n = queue.popleft()
            s, aux, _ = nodes[n]
            succ: list[tuple[str | None, bytes, int]] = []
            for action, nxt, ev in k.successors(s):
                if k.thread_of(action) == 254:
                    continue
                label, aux2 = observe(k, s, action, nxt, ev, aux, proj.gfn)
                succ.append((label, k.representative(nxt), aux2))
            succ.extend((None, k.representative(r), aux) for r in _restarts(k, s, init))
            dropped = k.representative(_spte_dropped(k, s, proj.gfn))
            succ.append(("zap-shadow", dropped, aux))
            if invisible_drops:
                succ.append((None, dropped, aux))
            for label, nxt, aux2 in succ:
                m, new = node((nxt, aux2, p))
                edges[n].setdefault(label, set()).add(m)
                if new:
                    queue.append(m)
    return PageAutomaton(era, workload, nodes, edges, frozenset(starts), kernels, gfns)
