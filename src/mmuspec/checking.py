"""One check, end to end: a specification in, a search result and its traces out.

``CheckSpec`` names everything that determines a model (scenario, era, switch
overrides, variant, sizes) and can be written into a trace file and read back,
so that ``mmuspec replay`` rebuilds exactly the model that produced a trace.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mmuspec.errors import EnvironmentFailure, InputError, MmuspecError, UsageError
from mmuspec.explore import Progress, SearchResult, Witness, bfs, concretize
from mmuspec.explore.bounded import PreemptionBounded, bounded_factory
from mmuspec.explore.cluster import default_workers
from mmuspec.explore.coverage import CountingModel
from mmuspec.explore.liveness import check_progress
from mmuspec.explore.minimize import minimize as explore_minimize
from mmuspec.explore.partitioned import partitioned_bfs
from mmuspec.explore.por import persistent_sets
from mmuspec.explore.swarm import swarm
from mmuspec.model import (
    Config,
    Kernel,
    Scenario,
    Variant,
    era_config,
    load_variant,
    parse_assignments,
    parse_scenario,
)
from mmuspec.model.events import DEADLOCK
from mmuspec.model.kernel import refuse_missing_subscriber
from mmuspec.model.switches import Value
from mmuspec.model.variant import sha256_text
from mmuspec.native.build import NativeUnavailable, source_key
from mmuspec.native.search import (
    NativeError,
    NativeKernel,
    NativeModel,
    build_native_kernel,
    native_bfs,
)
from mmuspec.native.search import load as load_native
from mmuspec.variant_check import cross_check
from mmuspec.variant_guard import guard as variant_guard


@dataclass(frozen=True)
class CheckSpec:
    scenario: Scenario
    era: str
    overrides: dict[str, Value] = field(default_factory=dict)
    variant: Variant | None = None

    def __post_init__(self) -> None:
        """A scenario file's own [check] set and variant apply unless the caller's override
        them (``--set``, ``--variant``)."""
        sc = self.scenario
        if sc.sets:
            callers = set(self.overrides)
            object.__setattr__(self, "overrides", {**dict(sc.sets), **self.overrides})
            try:
                era_config(self.era, self.overrides)
            except UsageError as exc:  # a switch of the file's own [check] set: name the file
                if any(f"--set {name}:" in str(exc) for name, _ in sc.sets if name not in callers):
                    raise InputError(sc.source, None, "[check] set " + str(exc).removeprefix("--set ")) from None
                raise
        if sc.variant and self.variant is None:
            object.__setattr__(self, "variant", load_variant(sc.variant))

    @property
    def config(self) -> Config:
        return era_config(self.era, self.overrides)

    def kernel(self) -> Kernel:
        return Kernel(self.scenario, self.config, self.variant)

    def label(self) -> str:
        parts = [self.scenario.name, f"era {self.era}", f"arch {self.config['arch']}"]
        parts += [f"{k}={_text(v)}" for k, v in sorted(self.overrides.items()) if k != "arch"]
        parts.append(self.scenario.size_text())
        if self.variant:
            parts.append(f"variant {self.variant.path}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": {
                "name": self.scenario.name,
                "source": self.scenario.source,
                "text": self.scenario.text,
            },
            "era": self.era,
            "set": {k: _text(v) for k, v in sorted(self.overrides.items())},
            "subscriber": self.scenario.subscriber,
            "vcpus": self.scenario.vcpus,
            "accesses": self.scenario.accesses,
            "variant": None if self.variant is None else {"path": self.variant.path, "text": self.variant.text,
                                                          "sha256": sha256_text(self.variant.text)},
        }

    @staticmethod
    def from_json(data: dict[str, Any], source: str, variant: Variant | None,
                  locate: Callable[[str], int | None] = lambda key: None) -> CheckSpec:
        """The spec a trace file records; ``variant`` is the one to use (the caller decides
        whether the Python source the file embeds may run: see ``mmuspec.replay``).  A field
        the model refuses is bad input in ``source`` at the line ``locate`` gives for it."""
        key = "scenario"
        try:
            sc = data["scenario"]
            scenario = parse_scenario(sc["text"], sc.get("source", source), sc["name"])
            key = "subscriber"
            scenario = scenario.with_subscriber(str(data.get("subscriber", scenario.subscriber)))
            key = "vcpus"
            scenario = scenario.scaled(int(data["vcpus"]), int(data["accesses"]))
            key = "set"
            overrides = parse_assignments(f"{k}={v}" for k, v in data.get("set", {}).items())
            key = "era"
            spec = CheckSpec(scenario, str(data["era"]), overrides, variant)
            era_config(spec.era, {})
            key = "set"
            _ = spec.config
        except MmuspecError as exc:
            raise InputError(source, locate(key), f"\"{key}\" is refused: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(source, None, f"not an mmuspec trace file ({type(exc).__name__}: {exc})") from None
        return spec


def _text(value: Value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Reductions:
    """Which exact reductions a search uses (all on by default)."""

    symmetry: bool = True  # interchangeable vCPUs
    seq: bool = True  # the value of mmu_notifier_seq only matters relative to snapshots
    values: bool = True  # data values only matter up to renaming
    por: bool = True  # persistent sets from the steps' declared footprints

    @property
    def quotient(self) -> bool:
        return self.symmetry or self.seq or self.values

    def label(self) -> str:
        names = (("symmetry", self.symmetry), ("seq", self.seq), ("values", self.values), ("por", self.por))
        return "+".join(n for n, v in names if v) or "none"


NO_REDUCTIONS = Reductions(False, False, False, False)
# Frontier states per chunk when workers expand with the compiled core.  Its chunks take
# milliseconds, so with bfs's 1,024 the parent spent its time per chunk, not per state.
COMPILED_CHUNK = 8192


def build_kernel(spec: CheckSpec, reductions: Reductions) -> Kernel:
    """Picklable factory: the model a worker process rebuilds."""
    kernel = spec.kernel()
    kernel.set_reductions(vcpus=reductions.symmetry, seq=reductions.seq, values=reductions.values)
    return kernel


def model_key(spec: CheckSpec, reductions: Reductions) -> str:
    data = json.dumps([spec.to_json(), reductions.label()], sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()


def run_check(
    spec: CheckSpec,
    *,
    stop_on_violation: bool = False,
    exact: bool = False,
    max_states: int | None = None,
    max_depth: int | None = None,
    preemptions: int | None = None,
    walks: int | None = None,
    seed: int = 0,
    reductions: Reductions = NO_REDUCTIONS,
    workers: int | None = 1,
    cluster: str | None = None,
    checkpoint: str | None = None,
    checkpoint_every: float = 60.0,
    resume: str | None = None,
    minimize: bool = False,
    progress: Callable[[Progress], None] | None = None,
    max_seconds: float | None = None,
    coverage: bool = False,
    engine: str = "auto",
    chunk: int | None = None,
    threads: int = 1,
    table_memory: int = 0,
    partitions: int | None = None,
    max_memory: int | None = None,
) -> tuple[Kernel, SearchResult]:
    """Search ``spec``'s model: exhaustively (BFS), within a preemption bound, or by
    random walks.  Witnesses in the result are paths of the model itself.
    ``max_seconds`` stops the BFS when the time is spent (a smoke test, not a proof);
    ``coverage`` counts the transitions per action in this process (one worker), into
    ``result.action_counts``, with a sample of the states expanded.  ``engine`` is
    ``auto`` (the compiled core where it can run this search, else the interpreter),
    ``compiled`` or ``interpreted``; ``result.engine`` says which ran, and why.  ``chunk``
    is how many frontier states a worker expands at once (default: ``COMPILED_CHUNK`` for
    the compiled core, whose chunks are cheap to expand, else ``bfs``'s).  ``threads`` runs
    the compiled core's search on that many threads, and ``table_memory`` > 0 gives it a
    fixed, compact visited set of that many bytes with the frontier on disk
    (``native.search``); both give the serial search's states, counts and witnesses.
    ``partitions`` splits the visited set and frontier across that many actors
    (``explore.partitioned``: Ray's where ``cluster`` is a Ray address, else Dask's, on
    ``cluster`` or on as many local processes)."""
    if spec.variant is not None and cluster is None:
        # The variant's code runs in this process, where Ctrl-C and the time budget can stop
        # it if it never returns (variant_guard.py); a worker stuck in it could not be.
        workers = 1
    with variant_guard(spec.variant, max_seconds):
        return _run_check(spec, stop_on_violation=stop_on_violation, exact=exact, max_states=max_states,
                          max_depth=max_depth, preemptions=preemptions, walks=walks, seed=seed,
                          reductions=reductions, workers=workers, cluster=cluster, checkpoint=checkpoint,
                          checkpoint_every=checkpoint_every, resume=resume, minimize=minimize, progress=progress,
                          max_seconds=max_seconds, coverage=coverage, engine=engine, chunk=chunk,
                          threads=threads, table_memory=table_memory, partitions=partitions,
                          max_memory=max_memory)


def _run_check(
    spec: CheckSpec,
    *,
    stop_on_violation: bool,
    exact: bool,
    max_states: int | None,
    max_depth: int | None,
    preemptions: int | None,
    walks: int | None,
    seed: int,
    reductions: Reductions,
    workers: int | None,
    cluster: str | None,
    checkpoint: str | None,
    checkpoint_every: float,
    resume: str | None,
    minimize: bool,
    progress: Callable[[Progress], None] | None,
    max_seconds: float | None,
    coverage: bool,
    engine: str,
    chunk: int | None,
    threads: int,
    table_memory: int,
    partitions: int | None,
    max_memory: int | None,
) -> tuple[Kernel, SearchResult]:
    if preemptions is not None:
        # The bound counts switches between named threads, so vCPUs are not interchangeable,
        # and it prunes by path, which persistent sets do not account for.
        reductions = replace(reductions, symmetry=False, por=False)
    kernel = build_kernel(spec, reductions)
    factory = functools.partial(build_kernel, spec, reductions)
    native: NativeModel | None = None
    engine_note = "random walks run in the interpreter"
    result: SearchResult | None = None
    if walks is not None:
        result = swarm(factory, walks=walks, seed=seed, max_depth=max_depth or 200, workers=workers or default_workers(),
                       cluster=cluster)
    else:
        model: Any = kernel
        model_factory: Any = factory
        if preemptions is not None:
            model = PreemptionBounded(kernel, preemptions)
            model_factory = functools.partial(bounded_factory, factory, preemptions)
        if coverage:
            model = counter = CountingModel(model)
            workers, cluster = 1, None
        native, engine_note = choose_engine(kernel, engine, not (coverage or preemptions is not None))
        if partitions and native is None:
            raise UsageError(f"--partitions needs the compiled engine ({engine_note})")
    variant_note = ""
    if spec.variant is not None and walks is None:
        # Both engines must run the user's code alike, before either searches it.
        variant_note = cross_check(kernel, native).note()
    serial = workers is None or workers <= 1
    if partitions and walks is None and native is not None:
        native_factory = functools.partial(build_native_kernel, factory, native.built.path.read_bytes())
        result, _ = partitioned_bfs(NativeKernel(kernel, native), native_factory, partitions=partitions,
                                    address=cluster, symmetry=reductions.quotient, por=reductions.por,
                                    max_depth=max_depth, stop_on_violation=stop_on_violation, progress=progress)
    elif walks is None and native is not None and serial and not (cluster or checkpoint or resume or max_seconds):
        reached = _Reached(progress)
        try:
            result = native_bfs(native, symmetry=reductions.quotient, por=reductions.por, exact=exact,
                                max_states=max_states, max_depth=max_depth, stop_on_violation=stop_on_violation,
                                progress=reached, **in_process(threads, table_memory, max_memory))
        except NativeError as exc:
            reached.refuse_out_of_memory(exc)
            # The interpreter runs the search again and says what Python says (an exception
            # with its file and line, or the right answer where C was stricter than Python).
            native, engine_note = None, _fell_back(exc)
    if walks is None and result is None:

        def run_bfs(model: Any, model_factory: Any, engine_key: str = "", size: int | None = None) -> SearchResult:
            return bfs(
                model,
                factory=model_factory,
                **({"chunk": size} if size else {}),
                stop_on_violation=stop_on_violation,
                exact=exact,
                symmetry=reductions.quotient,
                por=reductions.por,
                max_states=max_states,
                max_depth=max_depth,
                max_seconds=max_seconds,
                max_memory=max_memory,
                workers=workers or default_workers(),
                cluster=cluster,
                checkpoint=checkpoint,
                checkpoint_every=checkpoint_every,
                resume=resume,
                progress=progress,
                # Fingerprints differ between the engines, and a changed model has other
                # states: a checkpoint resumes only with its own engine and model source.
                model_key=model_key(spec, reductions) + f"/{preemptions}{engine_key}/{source_key(kernel)}",
            )

        if native is not None:
            # Chunks expanded by the compiled core, in this process or in workers that load it.
            try:
                result = run_bfs(NativeKernel(kernel, native),
                                 functools.partial(build_native_kernel, factory, native.built.path.read_bytes()),
                                 "/compiled", chunk or COMPILED_CHUNK)
            except NativeError as exc:
                _Reached(None).refuse_out_of_memory(exc)
                native, engine_note = None, _fell_back(exc)
        if result is None:
            result = run_bfs(model, model_factory, size=chunk)
    assert result is not None
    if walks is None:
        result.engine = "compiled" if native is not None else "interpreted"
        result.engine_note = engine_note
        if variant_note:
            result.notes.append(variant_note)
        if spec.variant is not None:
            result.notes += _reductions_off(spec, kernel, reductions)
        if coverage:
            result.action_counts = dict(counter.counts())
            result.sampled = counter.sample()
        if preemptions is not None:
            result.stop_reason = result.stop_reason or f"at most {preemptions} preemptions: not exhaustive"
            result.complete = False
        elif reductions.por and not result.interrupted and persistent_sets(kernel) is not None:
            _shortest_failures(result, kernel, factory, reductions.quotient, workers, cluster, native,
                               in_process(threads, table_memory, max_memory))
        if reductions.quotient:
            result.witnesses = {
                event: replace(w, actions=tuple(concretize(kernel, w.actions, kernel.representative)))
                for event, w in result.witnesses.items()
            }
    if kernel.scenario.quiescence and walks is None and preemptions is None and result.complete:
        _check_progress(spec, result)
    if minimize and not result.interrupted:
        bits = {e.id: 1 << i for i, e in enumerate(kernel.events)}
        for event, w in list(result.witnesses.items()):
            if w.kind != "observation" and w.loop_start is None:
                shorter = explore_minimize(kernel, w.actions, bits[event], kernel.thread_of)
                result.witnesses[event] = replace(w, actions=tuple(shorter))
        result.minimized = True
    return kernel, result


def _reductions_off(spec: CheckSpec, kernel: Kernel, reductions: Reductions) -> list[str]:
    """Why a variant's search explores more states than upstream's: the reductions that
    upstream's model of the same configuration applies and the variant's may not."""
    upstream = Kernel(spec.scenario, spec.config, None)
    off, kept = [], ["symmetry"] if reductions.symmetry else []
    if reductions.seq and upstream.seq_quotient_exact and not kernel.seq_quotient_exact:
        off.append("the sequence-count quotient (a variant may use mmu_notifier_seq's value, not only compare it)")
    if reductions.values:
        off.append("the page-value quotient (a variant may use the values a page holds)")
    if reductions.por and persistent_sets(upstream) is not None:
        if persistent_sets(kernel) is None:
            off.append("partial-order reduction (a variant's functions declare no footprint)")
        else:
            kept.append("por")
    if not off:
        return []
    return ["a variant is searched without " + "; without ".join(off)
            + ": it explores more states than upstream's default check; upstream with --reduce "
            + (",".join(kept) or "none") + " is searched alike"]


class _Reached:
    """Passes progress on and keeps the last figures, so that running out of memory in the
    compiled core can say how far the search got.  The interpreter would run out too, later
    and slower: it is not tried."""

    def __init__(self, progress: Callable[[Progress], None] | None) -> None:
        self.progress = progress
        self.last: Progress | None = None

    def __call__(self, figures: Progress) -> None:
        self.last = figures
        if self.progress is not None:
            self.progress(figures)

    def refuse_out_of_memory(self, exc: Exception) -> None:
        if "out of memory" not in str(exc):
            return
        at = self.last
        reached = "" if at is None else (f" after {at.states:,} states, {at.transitions:,} transitions, "
                                         f"depth {at.depth}, {at.seconds:.1f} s")
        raise EnvironmentFailure(f"the compiled core ran out of memory{reached}; bound the search with "
                                 "--max-memory, --max-states or --max-depth, or check smaller sizes (--vcpus, "
                                 "--accesses)") from None


ENGINES = ("auto", "compiled", "interpreted")


def in_process(threads: int, table_memory: int, max_memory: int | None = None) -> dict[str, Any]:
    """``native_bfs``'s options for ``threads``, ``table_memory`` and ``max_memory``: a
    fixed table keeps the frontier and parent links in the temporary directory."""
    return {"threads": threads, "table_bytes": table_memory, "max_memory": max_memory,
            "spill_dir": tempfile.gettempdir() if table_memory else ""}


def choose_engine(kernel: Kernel, engine: str, plain: bool) -> tuple[NativeModel | None, str]:
    """The compiled core for ``kernel`` if ``engine`` allows it and the search is one it
    runs (a plain breadth-first search: no checkpoints, bounds on time, preemption bounds,
    coverage or cluster); else None, and why, in a few words."""
    if engine == "interpreted":
        return None, "asked for"
    if not plain:
        return None, "coverage counts and preemption bounds run in the interpreter"
    try:
        return load_native(kernel), ""
    except NativeUnavailable as exc:
        if engine == "compiled":
            raise UsageError(f"--engine compiled: {exc}") from None
        _say_once(f"mmuspec: {exc}; the interpreted engine runs instead (slower, same results)")
        return None, str(exc)


def _fell_back(exc: Exception) -> str:
    """The interpreter runs a search the compiled core stopped: say so on stderr too."""
    note = f"the compiled core stopped ({exc}); the interpreter ran instead"
    _say_once(f"mmuspec: {note}")
    return note


_SAID: set[str] = set()


def _say_once(line: str) -> None:
    """One line on stderr the first time this process falls back to the interpreter for a
    reason (a matrix of 160 checks says it once, not 160 times)."""
    if line not in _SAID:
        _SAID.add(line)
        print(line, file=sys.stderr, flush=True)


PROGRESS_MAX_STATES = 2_000_000


def _check_progress(spec: CheckSpec, result: SearchResult) -> None:
    """The liveness half of ``quiescence``: search the concrete state graph for a state from
    which the threads can never all finish, and report it as a lasso."""
    kernel = spec.kernel()
    found = check_progress(kernel, kernel.quiescent, max_states=PROGRESS_MAX_STATES, stuck_events=DEADLOCK)
    result.progress_states = found.states
    if not found.complete:
        result.stop_reason = f"progress not checked: over {PROGRESS_MAX_STATES:,} concrete states"
        result.complete = False
    elif found.lasso is not None and "quiescence" not in result.witnesses:
        lasso = found.lasso
        result.witnesses["quiescence"] = Witness("quiescence", "property", lasso.actions, loop_start=len(lasso.stem),
                                                 cycle=lasso.kind)


def _shortest_failures(
    result: SearchResult, kernel: Kernel, factory: Callable[[], Kernel], symmetry: bool,
    workers: int | None, cluster: str | None, native: NativeModel | None = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Persistent sets can make the first witness of a violation or warning longer than
    the shortest one: search again without them, no deeper than the longest such witness,
    and keep the shorter witnesses.  Observations keep theirs."""
    failures = {e: w for e, w in result.witnesses.items() if w.kind != "observation"}
    if not failures:
        return
    depth = max(len(w.actions) for w in failures.values())
    if native is not None:
        again = native_bfs(native, symmetry=symmetry, por=False, max_depth=depth, **(options or {}))
    else:
        again = bfs(kernel, factory=factory, symmetry=symmetry, max_depth=depth, workers=workers or 1,
                    cluster=cluster)
    result.interrupted = again.interrupted  # Ctrl-C here still ends the command (status 130)
    for event, w in again.witnesses.items():
        if event in failures and len(w.actions) < len(failures[event].actions):
            result.witnesses[event] = w


@dataclass(frozen=True)
class MatrixCell:
    scenario: str
    era: str
    arch: str
    verdict: str
    property: str | None
    warnings: tuple[str, ...]
    change_pte_called: bool
    change_pte_useful: bool | None  # installed or re-pointed an SPTE
    change_pte_removed: bool | None
    states: int
    seconds: float
    note: str = ""  # why a cell is n/a: the era lacks a subscriber the scenario needs


def matrix_cell(spec: CheckSpec, reductions: Reductions = NO_REDUCTIONS, engine: str = "auto") -> MatrixCell:
    """Run one check of the matrix and keep what the table shows; a scenario whose
    subscriber the era's kernel does not have (a device mirror before v5.5, a pfn cache
    before v5.17) gives an ``n/a`` cell instead of a verdict."""
    try:
        refuse_missing_subscriber(spec.scenario, spec.config)
    except UsageError as exc:
        return MatrixCell(spec.scenario.name, spec.era, str(spec.config["arch"]), "n/a", None, (), False, None,
                          None, 0, 0.0, str(exc))
    _, result = run_check(spec, reductions=reductions, engine=engine)
    if result.interrupted:
        raise KeyboardInterrupt  # Ctrl-C ends the whole matrix, not only this cell
    return MatrixCell(
        scenario=spec.scenario.name,
        era=spec.era,
        arch=str(spec.config["arch"]),
        verdict=result.verdict,
        property=result.violation.event if result.violation else None,
        warnings=tuple(w.event for w in result.warnings),
        change_pte_called=bool(result.reachable("change_pte_called")),
        change_pte_useful=_either(result.reachable("change_pte_installed_spte"),
                                  result.reachable("change_pte_repointed_spte")),
        change_pte_removed=result.reachable("change_pte_removed_spte"),
        states=result.states,
        seconds=result.seconds,
    )


def _either(a: bool | None, b: bool | None) -> bool | None:
    """Three-valued or: True if either is, False if both are, else undetermined."""
    if a or b:
        return True
    return False if a is False and b is False else None


def run_matrix(
    scenarios: list[Scenario],
    eras: list[str],
    arches: list[str],
    overrides: dict[str, Value],
    variant: Variant | None = None,
    on_cell: Callable[[MatrixCell], None] | None = None,
    reductions: Reductions = NO_REDUCTIONS,
    engine: str = "auto",
) -> list[MatrixCell]:
    cells: list[MatrixCell] = []
    for scenario in scenarios:
        for era in eras:
            first: MatrixCell | None = None
            for arch in arches:
                spec = CheckSpec(scenario, era, {**overrides, "arch": arch}, variant)
                if first is not None and not scenario.kvm and variant is None:
                    # The arch switch selects KVM's handlers only: without KVM every arch
                    # explores the same state space.
                    cell = replace(first, arch=arch)
                else:
                    cell = first = matrix_cell(spec, reductions, engine)
                cells.append(cell)
                if on_cell is not None:
                    on_cell(cell)
    return cells
