import json

from mmuspec.cli import main
from mmuspec.model import era_config
from mmuspec.simulate.run import simulate_era
from mmuspec.simulate.workload import parse_workload

SMALL = """\
description = "two small VMs"
seed = 5
[vms]
count = 2
pages = 4000
vcpus = 2
[content]
zero = 0.3
shared = 0.4
[access]
rate = 200
write_fraction = 0.2
working_set = 0.5
[[phases]]
name = "boot"
duration = 10
rate_scale = 5
[[phases]]
name = "steady"
duration = 20
[ksm]
pages_to_scan = 400
sleep_millisecs = 20
"""


def small():
    return parse_workload(SMALL, "small.toml", "small")


def test_a_simulation_is_deterministic_for_a_seed():
    a = simulate_era(small(), "5.13", "5.13", era_config("5.13"), 9)
    b = simulate_era(small(), "5.13", "5.13", era_config("5.13"), 9)
    assert a.exits == b.exits and a.ksm == b.ksm and a.series == b.series


def test_eras_differ_only_where_the_model_says_they_do():
    by_era = {e: simulate_era(small(), e, e, era_config(e), 3) for e in ("3.7", "5.13", "6.10", "glisse-2019")}
    # 3.7, 5.13 and 6.10 zap at start(); change_pte never changes anything there.
    assert by_era["5.13"].exits == by_era["3.7"].exits == by_era["6.10"].exits
    changed = ("change_pte_installed_spte", "change_pte_repointed_spte", "change_pte_removed_spte")
    assert all(getattr(by_era["5.13"], c) == 0 for c in changed) and by_era["6.10"].change_pte_calls == 0
    assert by_era["5.13"].ksm["pages_sharing"] > 0
    # The 2019 proposal keeps SPTEs across merges: no refault after a zap.
    assert by_era["glisse-2019"].exits["refault_after_zap"] == 0 < by_era["5.13"].exits["refault_after_zap"]
    assert by_era["glisse-2019"].change_pte_repointed_spte > 0


def test_simulate_writes_results_and_plots_with_the_documented_keys(tmp_path, capsys):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    out = tmp_path / "out"
    assert main(["simulate", str(path), "--era", "5.13", "--era", "glisse-2019", "--out", str(out)]) == 0
    data = json.loads((out / "results.json").read_text())
    assert set(data["eras"]) == {"5.13", "glisse-2019"}
    era = data["eras"]["5.13"]
    assert {"exits", "exits_total", "change_pte_calls", "change_pte_repointed_spte", "ksm", "guest_time_lost_s",
            "host_cpu_s"} <= set(era)
    assert set(era["ksm"]) >= {"pages_shared", "pages_sharing", "pages_unshared", "pages_volatile", "full_scans",
                               "cow_ksm", "general_profit"}
    assert data["seed"] == 5 and data["workload"]["name"] == "small"
    assert (out / "memory_saved.png").stat().st_size > 1000 and (out / "exits_per_second.png").exists()
    assert "| VM exits" in capsys.readouterr().out


def test_a_bad_workload_writes_nothing_and_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(SMALL.replace("pages_to_scan = 400", "pages_to_scan = 0"))
    out = tmp_path / "out"
    assert main(["simulate", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.toml:22: ksm.pages_to_scan = 0: expected an integer in 1..1000000" in err
    assert not out.exists()


def test_sweep_writes_a_table_and_heat_maps(tmp_path, capsys):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    out = tmp_path / "sweep"
    assert main(["sweep", str(path), "--grid", "ksm.pages_to_scan=100,800", "--grid", "access.write_fraction=0.1,0.5",
                 "--era", "5.13", "--duration", "10", "--workers", "2", "--out", str(out), "--quiet"]) == 0
    rows = (out / "sweep.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and rows[0].startswith("ksm.pages_to_scan,access.write_fraction,era,")
    assert len(list(out.glob("heatmap_5.13_*.png"))) == 3


def test_a_sweep_on_a_dask_cluster_gives_the_same_table_as_local_processes(tmp_path):
    import pytest

    distributed = pytest.importorskip("dask.distributed")
    from mmuspec.simulate.sweep import sweep

    eras = [("5.13", "5.13", era_config("5.13"))]
    grid = {"ksm.pages_to_scan": [100.0, 800.0]}
    local = sweep(small().with_duration(5), grid, eras, 1, workers=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        remote = sweep(small().with_duration(5), grid, eras, 1, cluster=lc.scheduler_address)
    assert remote == local


def test_reclaim_swaps_out_idle_pages_and_their_refaults_are_counted_apart():
    quiet = simulate_era(small(), "5.13", "5.13", era_config("5.13"), 4)
    reclaiming = small().with_values({"reclaim.pages_per_second": 2000, "reclaim.idle_seconds": 2})
    busy = simulate_era(reclaiming, "5.13", "5.13", era_config("5.13"), 4)
    assert quiet.pages_reclaimed == 0 == quiet.exits["refault_after_reclaim"]
    assert busy.pages_reclaimed > 0 and 0 < busy.exits["refault_after_reclaim"] <= busy.pages_reclaimed
    assert busy.spte_zaps > quiet.spte_zaps
