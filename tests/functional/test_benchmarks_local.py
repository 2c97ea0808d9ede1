"""
The benchmarks that need no lab (render, backup), on tiny sizes, so they cannot rot:
figures into a tmp dir, behaviour checked, never a time.
"""

import json
import os
import shutil
import subprocess

import pytest

from tests.common.paths import REPO

RUN = str(REPO / "benchmarks" / "run")


def run(tmp_path, *args):
    env = {**os.environ, "JHD_BENCH_RESULTS": str(tmp_path)}
    proc = subprocess.run([RUN, *args], capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    name = args[args.index("--name") + 1]
    assert (tmp_path / f"{name}.png").stat().st_size > 0
    return json.loads((tmp_path / f"{name}.json").read_text())


def test_render_benchmark_renders_every_role(tmp_path):
    record = run(tmp_path, "render", "--students", "3,30", "--repeats", "1", "--name", "smoke")
    for size in ("3", "30"):
        fig = record["sizes"][size]
        assert set(fig["highstate_render_s"]) == {"proxy", "hub", "node"}
        assert fig["validation_ms"] > 0


@pytest.mark.skipif(shutil.which("duplicity") is None, reason="needs duplicity (script/setup)")
def test_backup_benchmark_backs_up_and_restores_both_ways(tmp_path):
    record = run(tmp_path, "backup", "--students", "2", "--files", "20", "--changed", "0.1",
                 "--repeats", "1", "--name", "smoke")  # fmt: skip
    fig = record["figures"]
    assert fig["files"] == 40 and fig["changed_files"] == 4
    assert fig["ours_incremental_reported_changed"] == 4
    assert fig["restores_match"] is True  # both restores are the home as it is now
    for kind in ("full", "incremental", "restore_one_home"):
        assert fig[f"{kind}_overhead_ratio"] > 0
