"""
The lab benchmarks (benchmarks/) on tiny sizes, so the scripts cannot rot. Their figures
go to a tmp dir (never over benchmarks/results/); only behaviour is checked, never a time.
"""

import json
import os
import subprocess

import pytest

from tests.common.paths import REPO

RUN = str(REPO / "benchmarks" / "run")


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("JHD_BENCH_RESULTS", str(tmp_path))
    return tmp_path


def run(results, *args):
    env = {**os.environ, "JHD_LAB_REUSE": "1"}
    proc = subprocess.run([RUN, *args], capture_output=True, text=True, timeout=1200, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    name = args[args.index("--name") + 1]
    assert (results / f"{name}.png").stat().st_size > 0
    return json.loads((results / f"{name}.json").read_text()), proc.stdout


def test_burst_of_two_students_logs_in_spawns_and_runs_code(lab, results):
    record, out = run(results, "burst", "--students", "2", "--curve", "2", "--floor-runs", "1",
                      "--window", "1", "--name", "smoke-burst")  # fmt: skip
    burst = record["bursts"]["2"]
    assert burst["failures"] == [] and burst["stop_errors"] == []
    assert burst["phases"]["execute"]["n"] == 2  # both ran 5*4 and got 20
    assert burst["all_ready_s"] > 0 and record["floor"]["median_spawn_cpu_s"] > 0
    assert "single-spawn floor" in out
    # Everyone stopped afterwards.
    users = lab.salt("hub", "jupyterhub.running_servers")["hub"]
    assert not {"student01", "student02"} & set(users)


def test_cull_benchmark_counts_requests_on_a_small_hub(lab, results):
    """A real second hub and salt's real client; its servers are the benchmark's stand-in."""
    record, _ = run(results, "cull", "--users", "20,60", "--running", "3", "--repeats", "1",
                    "--name", "smoke-cull")  # fmt: skip
    for size in ("20", "60"):
        fig = record["sizes"][size]
        assert fig["idle_found"] == 3 and fig["cull_stopped"] == 3
        assert fig["poll_requests"] >= 1 and fig["cull_requests"] > fig["poll_requests"]
    assert lab.exec("hub", "docker", "inspect", "jhd-bench-hub", check=False).returncode != 0


def test_reapply_of_the_lab_as_it_is_changes_nothing(lab, results):
    record, _ = run(results, "deploy", "--warm-ups", "0", "--nodes", "", "--repeats", "1",
                    "--name", "smoke-deploy")  # fmt: skip
    (runs,) = record["reapply"].values()
    assert runs[0]["changed"] == 0 and runs[0]["failed"] == 0
    assert set(runs[0]["hosts"]) == {"proxy", "hub", "node1", "node2"}


def test_restart_benchmark_keeps_a_busy_websocket_through_every_event(lab, results):
    """Issue #21: two servers, one busy, through a settings change, a recreated hub, a
    JupyterHub release change (a rebuilt image) and an nginx reload; the one figure checked
    is behaviour: no websocket dropped."""
    record, out = run(results, "restart", "--students", "2", "--busy", "1", "--settle", "2",
                      "--name", "smoke-restart")  # fmt: skip
    assert set(record["events"]) == {
        "settings", "hub_recreated", "jupyterhub_release", "nginx_reload"
    }  # fmt: skip
    for event, fig in record["events"].items():
        assert fig["dropped_websockets"] == 0 and fig["failed_executes"] == 0, (event, fig)
        assert fig["executes"] >= 1 and fig["new_spawn_ready_s"], (event, fig)
    assert record["stop_errors"] == []
