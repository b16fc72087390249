"""Parallel, distributed, checkpointed, bounded and random searches agree with the plain one."""

import functools

import pytest

from mmuspec.checking import Reductions, build_kernel, model_key, run_check
from mmuspec.errors import InputError
from mmuspec.explore import bfs
from mmuspec.explore.minimize import minimize, reaches, switches
from tests.helpers import spec

ALL = Reductions(True, True, True, False)


def test_local_workers_give_the_same_states_transitions_and_witnesses():
    the_spec = spec("ksm-merge", "5.13", vcpus=2, accesses=2)
    _, one = run_check(the_spec, reductions=ALL)
    _, two = run_check(the_spec, reductions=ALL, workers=2)
    assert (two.states, two.transitions, two.depth) == (one.states, one.transitions, one.depth)
    assert {e: w.actions for e, w in two.witnesses.items()} == {e: w.actions for e, w in one.witnesses.items()}


def test_a_dask_cluster_of_local_workers_gives_the_same_verdict_and_state_count():
    distributed = pytest.importorskip("dask.distributed")
    the_spec = spec("zap", "5.13", "kvm.fault_retry_checks=seq_only", vcpus=2, accesses=2)
    _, local = run_check(the_spec, reductions=ALL)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        _, remote = run_check(the_spec, reductions=ALL, cluster=lc.scheduler_address)
    assert (remote.verdict, remote.states, remote.transitions) == (local.verdict, local.states, local.transitions)
    assert remote.violation.actions == local.violation.actions


def test_a_killed_search_resumes_from_its_checkpoint_to_the_same_result(tmp_path):
    the_spec = spec("ksm-merge", "5.13", vcpus=2, accesses=2)
    path = str(tmp_path / "search.ckpt")
    _, whole = run_check(the_spec, reductions=ALL)
    # Stop partway (as a kill would), saving a checkpoint at every chunk.
    _, part = run_check(the_spec, reductions=ALL, max_states=whole.states // 2, checkpoint=path,
                        checkpoint_every=0)
    assert not part.complete
    _, resumed = run_check(the_spec, reductions=ALL, resume=path)
    assert (resumed.states, resumed.transitions, resumed.verdict) == (whole.states, whole.transitions, whole.verdict)


def test_a_checkpoint_of_another_check_is_refused(tmp_path):
    path = str(tmp_path / "search.ckpt")
    run_check(spec("zap", "5.13"), reductions=ALL, max_states=50, checkpoint=path, checkpoint_every=0)
    with pytest.raises(InputError, match="different check"):
        run_check(spec("zap", "6.10"), reductions=ALL, resume=path)


def test_a_checkpoint_written_by_another_version_of_the_model_is_refused(tmp_path, monkeypatch):
    from mmuspec import checking

    path = str(tmp_path / "search.ckpt")
    run_check(spec("zap", "5.13"), reductions=ALL, max_states=50, checkpoint=path, checkpoint_every=0)
    monkeypatch.setattr(checking, "source_key", lambda kernel: "a-patched-model")
    with pytest.raises(InputError, match="different check"):
        run_check(spec("zap", "5.13"), reductions=ALL, resume=path)


def test_a_checkpoint_on_disk_is_always_complete(tmp_path):
    path = tmp_path / "search.ckpt"
    run_check(spec("zap", "5.13"), reductions=ALL, max_states=50, checkpoint=str(path), checkpoint_every=0)
    with open(path, "rb") as handle:
        assert handle.read(21) == b"mmuspec-checkpoint-2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["search.ckpt"]


def test_a_preemption_bound_explores_a_subset_and_still_finds_the_race():
    the_spec = spec("zap", "5.13", "kvm.fault_retry_checks=seq_only", vcpus=2)
    sizes = [run_check(the_spec, reductions=ALL, preemptions=k)[1] for k in (0, 1, 2)]
    assert sizes[0].states < sizes[1].states < sizes[2].states
    assert sizes[0].verdict == "unknown" and sizes[1].verdict == "violation"
    assert not sizes[1].complete


def test_random_walks_are_deterministic_for_a_seed_and_find_the_race():
    the_spec = spec("zap", "5.13", "kvm.fault_retry_checks=seq_only", vcpus=3)
    _, a = run_check(the_spec, walks=50, seed=3)
    _, b = run_check(the_spec, walks=50, seed=3, workers=2)
    assert (a.states, a.transitions, a.violation.actions) == (b.states, b.transitions, b.violation.actions)
    assert a.verdict == "violation" and not a.complete


def test_minimizing_keeps_the_violation_and_never_adds_steps_or_switches():
    kernel, walked = run_check(spec("zap", "5.13", "kvm.fault_retry_checks=seq_only", vcpus=3), walks=20, seed=5)
    bit = 1 << [e.id for e in kernel.events].index(walked.violation.event)
    shrunk = minimize(kernel, walked.violation.actions, bit, kernel.thread_of)
    assert reaches(kernel, shrunk, bit)
    assert len(shrunk) <= walked.violation.length
    assert switches(shrunk, kernel.thread_of) <= switches(list(walked.violation.actions), kernel.thread_of)


def test_the_fingerprint_store_stays_under_40_bytes_per_state():
    the_spec = spec("ksm-merge", "5.13", vcpus=2, accesses=2)
    kernel = build_kernel(the_spec, Reductions(False, False, False, False))
    result = bfs(kernel, factory=functools.partial(build_kernel, the_spec, Reductions(False, False, False, False)),
                 model_key=model_key(the_spec, Reductions(False, False, False, False)))
    assert result.states == 224216
    assert result.bytes_per_state < 40
