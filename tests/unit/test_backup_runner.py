"""`salt-run backup.status` (_runners/backup.py): the hub's answer becomes an exit code."""

import pytest

from tests.common.loaders import load

HEALTHY = {
    "enabled": True,
    "target": "sftp://jhd-backup@10.0.0.12//srv/backup/home",
    "last_full": "2026-11-29T05:05:00+00:00",
    "last_backup": "2026-11-30T11:05:00+00:00",
    "age_seconds": 1500,
    "age_human": "25m 00s",
    "stale_after": 10800,
    "stale_after_human": "3h 00m",
    "stale": False,
    "chain_count": 2,
    "running": None,
    "last_results": {
        "run": {"result": True, "time": "2026-11-30T11:05:09+00:00", "error": None},
        "verify": {"result": True, "time": "2026-11-29T05:40:00+00:00", "error": None},
    },
}


@pytest.fixture
def runner():
    return load("_runners/backup.py", {"__opts__": {"conf_file": "/dev/null"}, "__context__": {}})


def answer(status, retcode=0):
    return {"hub": {"ret": status, "retcode": retcode, "jid": "20261130110900000000"}}


def test_a_recent_good_backup_exits_zero(runner):
    report = runner._judge(answer(HEALTHY))
    assert report["retcode"] == 0 and report["result"] is True
    assert report["problems"] == []
    assert report["summary"] == "last complete backup 2026-11-30T11:05:00+00:00, 25m 00s ago"
    assert (report["age"], report["stale_after"], report["chains"]) == ("25m 00s", "3h 00m", 2)


def test_a_stale_backup_exits_non_zero_and_says_how_old(runner):
    stale = dict(HEALTHY, age_seconds=4 * 3600 + 60, age_human="4h 01m", stale=True)
    report = runner._judge(answer(stale))
    assert report["retcode"] == 1
    assert report["problems"] == [
        "the last complete backup is 4h 01m old, older than backup:stale_after (3h 00m)"
    ]


def test_no_backup_at_all_exits_non_zero(runner):
    empty = dict(HEALTHY, last_backup=None, last_full=None, age_seconds=None, stale=True)
    report = runner._judge(answer(empty))
    assert report["retcode"] == 1
    assert report["problems"] == [f"there is no complete backup at {HEALTHY['target']}"]


def test_a_failed_last_run_exits_non_zero_even_when_the_backup_is_fresh(runner):
    failed = {"result": False, "time": "2026-11-30T12:05:03+00:00", "error": "exit 23: ..."}
    status = dict(HEALTHY, last_results=dict(HEALTHY["last_results"], run=failed))
    report = runner._judge(answer(status))
    assert report["retcode"] == 1
    assert report["problems"] == [
        "the last backup.run failed at 2026-11-30T12:05:03+00:00: exit 23: ..."
    ]


def test_an_error_on_the_hub_or_no_answer_exits_non_zero(runner):
    error = "ERROR: pillar 'backup:target' is not set"
    report = runner._judge(answer(error, retcode=1))
    assert report["retcode"] == 1 and report["problems"] == [
        f"backup.status failed on hub: {error}"
    ]
    silent = runner._judge({})
    assert silent["retcode"] == 1 and "answered backup.status" in silent["problems"][0]


def test_disabled_backups_are_not_a_failure(runner):
    report = runner._judge(answer({"enabled": False, "target": None}))
    assert report["retcode"] == 0
    assert report["summary"] == "backups are disabled (pillar backup:enabled is false)"


def test_status_asks_the_hub_nodegroup_and_sets_the_exit_code(runner, monkeypatch):
    asked = []

    def ask(timeout):
        asked.append(timeout)
        return answer(dict(HEALTHY, stale=True, age_seconds=99999))

    monkeypatch.setattr(runner, "_ask_hub", ask)
    report = runner.status()
    assert asked == [120]
    # salt-run exits with the return's retcode; __context__ marks the job as failed.
    assert report["retcode"] == 1 and runner.__context__["retcode"] == 1
    assert runner.NODEGROUP == "hub"
