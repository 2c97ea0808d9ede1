"""_modules/stats.py and its _utils/stats_activity.py: the active rule, the report's arithmetic
and the errors.

The runner is tested in test_stats_runner.py, the sls in test_stats_sls.py.
"""

import datetime

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.loaders import load
from tests.common.sites import minion_pillar

activity = load("_utils/stats_activity.py")

NOW = datetime.datetime(2024, 10, 7, 12, 0, 0)
INTERVAL = 600


def user(name="alice", server="/user/alice/", last_activity="2024-10-07T11:59:00Z", **extra):
    """A JupyterHub 5 user model, as GET /hub/api/users returns it."""
    model = {
        "kind": "user",
        "name": name,
        "admin": False,
        "server": server,
        "last_activity": last_activity,
        "servers": {},
    }
    if server:
        model["servers"][""] = {
            "name": "",
            "ready": True,
            "pending": None,
            "started": "2024-10-07T09:00:00Z",
            "last_activity": last_activity,
            "url": server,
        }
    model.update(extra)
    return model


def iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def hub_stats():
    """The stats section the master gives the example site's hub."""
    return minion_pillar("example", "hub")["stats"]


@pytest.fixture
def stats(hub_stats, tmp_path):
    pillar = {"stats": dict(hub_stats, db=str(tmp_path / "db" / "activity.sqlite"))}
    return load("_modules/stats.py", {"__pillar__": pillar, "__salt__": {}, "__opts__": {}})


# --- the active rule -------------------------------------------------------------------


def test_the_pillar_gives_seconds_and_the_original_paths(hub_stats):
    assert hub_stats["interval"] == 600
    assert hub_stats["db"] == "/srv/stats/db/activity.sqlite"
    assert hub_stats["report_png"] == "/srv/stats/report.png"
    assert hub_stats["enabled"] is True


def test_a_running_server_with_recent_activity_is_active():
    assert activity.is_active(user(), NOW, INTERVAL)


def test_activity_exactly_one_interval_ago_is_not_active():
    edge = NOW - datetime.timedelta(seconds=INTERVAL)
    assert not activity.is_active(user(last_activity=iso(edge)), NOW, INTERVAL)
    just_inside = edge + datetime.timedelta(microseconds=1)
    assert activity.is_active(user(last_activity=iso(just_inside)), NOW, INTERVAL)
    older = edge - datetime.timedelta(seconds=1)
    assert not activity.is_active(user(last_activity=iso(older)), NOW, INTERVAL)


def test_no_server_is_never_active():
    assert not activity.is_active(user(server=None), NOW, INTERVAL)


def test_a_pending_server_is_not_running():
    starting = user(server=None)
    starting["servers"][""] = {
        "name": "",
        "ready": False,
        "pending": "spawn",
        "last_activity": iso(NOW),
        "url": "/user/alice/",
    }
    assert not activity.is_active(starting, NOW, INTERVAL)
    stopping = user(server=None)
    stopping["servers"][""] = dict(starting["servers"][""], pending="stop")
    assert not activity.is_active(stopping, NOW, INTERVAL)


def test_a_null_last_activity_is_not_active():
    model = user(last_activity=None)
    assert not activity.is_active(model, NOW, INTERVAL)
    assert activity.last_activity(model) is None


def test_a_ready_named_server_counts_with_its_own_activity():
    model = user(server=None, last_activity=None)
    model["servers"]["analysis"] = {
        "name": "analysis",
        "ready": True,
        "pending": None,
        "last_activity": iso(NOW - datetime.timedelta(seconds=30)),
        "url": "/user/alice/analysis/",
    }
    assert activity.has_running_server(model)
    assert activity.is_active(model, NOW, INTERVAL)


def test_users_without_the_servers_key_follow_the_original_rule():
    # Tokens without read:servers get no `servers`; `server` alone decides.
    model = user()
    del model["servers"]
    assert activity.is_active(model, NOW, INTERVAL)
    model["server"] = None
    assert not activity.is_active(model, NOW, INTERVAL)


@pytest.mark.parametrize(
    "text",
    [
        "2024-10-07T11:59:00Z",
        "2024-10-07T11:59:00.000000Z",
        "2024-10-07T11:59:00+00:00",
        "2024-10-07T13:59:00+02:00",
        "2024-10-07T11:59:00",
    ],
)
def test_times_are_read_as_utc(text):
    assert activity.parse_time(text) == datetime.datetime(2024, 10, 7, 11, 59)


def test_a_garbled_time_is_an_error():
    with pytest.raises(CommandExecutionError, match="not ISO 8601: 'yesterday'"):
        activity.is_active(user(last_activity="yesterday"), NOW, INTERVAL)


def test_one_row_per_user_with_the_poll_time_in_the_original_format():
    users = [user("alice"), user("bob", server=None), user("carol", last_activity=None)]
    rows = activity.activity_rows(users, datetime.datetime(2024, 10, 7, 12, 0, 0, 1234), INTERVAL)
    assert rows == [
        ("2024-10-07 12:00:00.001234", "alice", True),
        ("2024-10-07 12:00:00.001234", "bob", False),
        ("2024-10-07 12:00:00.001234", "carol", False),
    ]
    assert activity.format_timestamp(NOW) == "2024-10-07 12:00:00.000000"


def test_a_user_without_a_name_is_an_error():
    with pytest.raises(CommandExecutionError, match="without a name"):
        activity.activity_rows([{"server": None}], NOW, INTERVAL)


# --- the report's arithmetic -----------------------------------------------------------

DAY1, DAY2, DAY3 = (
    datetime.date(2024, 10, 7),
    datetime.date(2024, 10, 8),
    datetime.date(2024, 10, 9),
)
POLLS = [
    "2024-10-07 09:00:00.000000",
    "2024-10-07 09:10:00.000000",
    "2024-10-07 09:20:00.000000",
    # The original's adapter wrote no microseconds when they were zero.
    "2024-10-08 23:59:59",
    "2024-10-09 00:00:00.000001",
]
ACTIVE = [
    ("2024-10-07 09:00:00.000000", "alice"),
    ("2024-10-07 09:10:00.000000", "alice"),
    ("2024-10-07 09:10:00.000000", "bob"),
    ("2024-10-07 09:20:00.000000", "carol"),
    ("2024-10-08 23:59:59", "bob"),
    ("2024-10-09 00:00:00.000001", "dave"),
]


def test_daily_actives_are_distinct_and_peaks_are_per_poll():
    result = activity.summarize(POLLS, ACTIVE, DAY1, DAY3)
    assert result["days"] == [
        # alice, bob, carol over the day; at most alice and bob at 09:10.
        {"date": "2024-10-07", "active_users": 3, "peak_concurrent": 2, "polls": 3},
        {"date": "2024-10-08", "active_users": 1, "peak_concurrent": 1, "polls": 1},
        {"date": "2024-10-09", "active_users": 1, "peak_concurrent": 1, "polls": 1},
    ]
    assert result["totals"] == {
        "active_users": 4,
        "peak_concurrent": 2,
        "peak_at": "2024-10-07 09:10:00",
        "polls": 5,
        "days": 3,
    }


def test_the_range_keeps_whole_days_and_drops_the_rest():
    result = activity.summarize(POLLS, ACTIVE, DAY2, DAY2)
    assert result["days"] == [
        {"date": "2024-10-08", "active_users": 1, "peak_concurrent": 1, "polls": 1}
    ]
    assert result["totals"]["active_users"] == 1
    assert result["totals"]["polls"] == 1


def test_days_without_polls_are_listed_as_empty():
    result = activity.summarize(POLLS, ACTIVE, datetime.date(2024, 10, 5), DAY1)
    assert [(d["date"], d["polls"], d["active_users"]) for d in result["days"]] == [
        ("2024-10-05", 0, 0),
        ("2024-10-06", 0, 0),
        ("2024-10-07", 3, 3),
    ]


def test_polls_with_nobody_active_count_as_polls():
    result = activity.summarize(["2024-10-07 09:00:00.000000"], [], DAY1, DAY1)
    assert result["days"][0] == {
        "date": "2024-10-07",
        "active_users": 0,
        "peak_concurrent": 0,
        "polls": 1,
    }
    assert result["totals"]["peak_at"] is None


def test_a_range_that_ends_before_it_starts_is_an_error():
    with pytest.raises(CommandExecutionError, match="start 2024-10-08 is after end 2024-10-07"):
        activity.summarize(POLLS, ACTIVE, DAY2, DAY1)


def test_dates_must_be_days():
    assert activity.parse_day("2024-10-07", "start") == DAY1
    assert activity.parse_day(DAY1, "start") == DAY1
    assert activity.parse_day(None, "end") is None
    with pytest.raises(
        CommandExecutionError, match=r"end='7/10/2024' is not a date: use YYYY-MM-DD"
    ):
        activity.parse_day("7/10/2024", "end")


# --- errors ----------------------------------------------------------------------------


def test_a_missing_database_names_the_path_and_the_schedule(stats, tmp_path):
    path = tmp_path / "db" / "activity.sqlite"
    with pytest.raises(CommandExecutionError) as error:
        stats.report()
    assert str(path) in str(error.value)
    assert "the stats schedule has not run yet" in str(error.value)
    assert not path.exists()


def test_a_database_without_the_table_is_an_error(stats, tmp_path):
    import sqlite3

    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).close()
    with pytest.raises(CommandExecutionError, match="has no activity table"):
        stats.report(db=str(path), png=False)


def test_record_needs_the_hub_client(stats):
    with pytest.raises(CommandExecutionError, match="jupyterhub.list_users is not available"):
        stats.record()


def test_record_refuses_an_answer_that_is_not_a_list(stats):
    stats.__salt__ = {"jupyterhub.list_users": lambda: {"alice": {}}}
    with pytest.raises(CommandExecutionError, match="returned dict, not a list"):
        stats.record()


def test_a_pillar_without_stats_is_an_error():
    module = load("_modules/stats.py", {"__pillar__": {}, "__salt__": {}, "__opts__": {}})
    with pytest.raises(CommandExecutionError, match="pillar stats:db is not set"):
        module.report()
