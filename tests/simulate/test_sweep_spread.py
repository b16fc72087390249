"""sweep re-costs instead of re-simulating, runs several seeds, and finds the frontier."""

import pytest

from mmuspec.model import era_config
from mmuspec.simulate import sweep as sweep_mod
from mmuspec.simulate.run import simulate_era
from mmuspec.simulate.sweep import frontier, summarize, sweep
from tests.simulate.test_simulate import small

ERAS = [("5.13", "5.13", era_config("5.13"))]


def counting(monkeypatch):
    calls = []

    def fake(*args, **kwargs):
        calls.append(args)
        return simulate_era(*args, **kwargs)

    monkeypatch.setattr(sweep_mod, "simulate_era", fake)
    return calls


def test_a_sweep_over_costs_only_re_costs_one_simulation_and_prices_it_as_a_run_would(monkeypatch):
    calls = counting(monkeypatch)
    w = small().with_duration(10)
    rows = sweep(w, {"costs.tlb_flush_us": [0.5, 3.0]}, ERAS, 5)
    assert len(calls) == 1 and len(rows) == 2
    fresh = simulate_era(w.with_values({"costs.tlb_flush_us": 3.0}), "5.13", "5.13", era_config("5.13"), 5)
    priced = next(r for r in rows if r["costs.tlb_flush_us"] == 3.0)
    assert priced["guest_time_lost_s"] == pytest.approx(fresh.guest_time_lost_s)
    assert priced["host_cpu_s"] == pytest.approx(fresh.host_cpu_s)


def test_a_cost_that_shapes_the_run_is_simulated_at_each_value(monkeypatch):
    calls = counting(monkeypatch)
    sweep(small().with_duration(10), {"costs.merge_window_us": [1.0, 30.0]}, ERAS, 5)
    assert len(calls) == 2


def test_several_seeds_give_each_point_a_mean_and_a_spread():
    w = small().with_duration(10)
    rows = sweep(w, {"ksm.pages_to_scan": [400]}, ERAS, 5, seeds=3)
    assert sorted(r["seed"] for r in rows) == [5, 6, 7]
    (point,) = summarize(rows, ["ksm.pages_to_scan"])
    assert point["seeds"] == 3 and point["exits_total_sd"] > 0
    assert point["exits_total"] == pytest.approx(sum(r["exits_total"] for r in rows) / 3)


def test_the_frontier_keeps_only_points_no_other_beats_on_both_memory_saved_and_time_lost():
    summary = [{"era": "5.13", "p": p, "saved_mib_mean": s, "guest_time_lost_pct": lost}
               for p, s, lost in ((1, 10.0, 0.1), (2, 50.0, 0.3), (3, 40.0, 0.4), (4, 50.0, 0.2))]
    assert [r["p"] for r in frontier(summary, "5.13")] == [1, 4]
