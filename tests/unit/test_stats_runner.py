"""_runners/stats.py (salt-run stats.report): it asks the hub nodegroup for the report,
prints a table, passes the PNG's path on, and fails when the hub fails or is silent."""

from tests.common.loaders import load

REPORT = {
    "db": "/srv/stats/db/activity.sqlite",
    "start": "2024-10-07",
    "end": "2024-10-09",
    "png": "/srv/stats/report.png",
    "days": [
        {"date": "2024-10-07", "active_users": 3, "peak_concurrent": 2, "polls": 144},
        {"date": "2024-10-08", "active_users": 12, "peak_concurrent": 10, "polls": 144},
        {"date": "2024-10-09", "active_users": 0, "peak_concurrent": 0, "polls": 0},
    ],
    "totals": {
        "active_users": 13,
        "peak_concurrent": 10,
        "peak_at": "2024-10-08 14:20:00",
        "polls": 288,
        "days": 3,
        "users_seen": 40,
    },
}


class FakeClient:
    def __init__(self, returns):
        self.returns = returns
        self.calls = []

    def cmd(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.returns


def runner_with(returns, monkeypatch):
    runner = load("_runners/stats.py", {"__opts__": {}, "__context__": {}})
    client = FakeClient(returns)
    monkeypatch.setattr(runner.salt.client, "get_local_client", lambda **_: client)
    return runner, client


def test_the_runner_asks_the_hub_nodegroup_and_prints_a_table(monkeypatch):
    runner, client = runner_with({"hub.example.edu": {"ret": REPORT, "retcode": 0}}, monkeypatch)
    text = runner.report("2024-10-07", "2024-10-09")
    ((args, kwargs),) = client.calls
    assert args == ("hub", "stats.report")
    assert kwargs["tgt_type"] == "nodegroup"
    assert kwargs["kwarg"] == {"start": "2024-10-07", "end": "2024-10-09"}
    assert text.splitlines()[:9] == [
        "Activity 2024-10-07 to 2024-10-09 (UTC days) from /srv/stats/db/activity.sqlite",
        "",
        "day         active users  peak concurrent  polls",
        "----------  ------------  ---------------  -----",
        "2024-10-07             3                2    144",
        "2024-10-08            12               10    144",
        "2024-10-09             0                0      0",
        "----------  ------------  ---------------  -----",
        "total                 13               10    288",
    ]
    assert "Peak: 10 concurrent users at 2024-10-08 14:20:00 UTC." in text
    assert "1 day(s) without any poll" in text
    assert "Plot written on the hub: /srv/stats/report.png" in text
    assert runner.__context__ == {}


def test_the_runner_passes_png_and_returns_raw_data(monkeypatch):
    runner, client = runner_with({"hub.example.edu": {"ret": REPORT, "retcode": 0}}, monkeypatch)
    assert runner.report(png=False, raw=True) == {"hub.example.edu": REPORT}
    assert client.calls[0][1]["kwarg"] == {"start": None, "end": None, "png": False}


def test_the_runner_fails_when_the_hub_fails_or_is_silent(monkeypatch):
    error = "ERROR: no activity database at /srv/stats/db/activity.sqlite: ..."
    runner, _ = runner_with({"hub.example.edu": {"ret": error, "retcode": 1}}, monkeypatch)
    result = runner.report()
    assert result["retcode"] == 1 and error in result["error"]
    assert runner.__context__["retcode"] == 1
    runner, _ = runner_with({}, monkeypatch)
    result = runner.report()
    assert result["retcode"] == 1 and "no minion of nodegroup hub answered" in result["error"]
