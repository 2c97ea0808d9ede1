"""The staff dashboard's data: the snapshot runner (_runners/dashboard.py) from minions'
replies, and the page's data layer (jupyterhub_deploy/dashboard_data.py) from that snapshot,
bad input included: every failure must reach the page as a sentence."""

import datetime
import json
import os
import xml.dom.minidom

import pytest
from jupyterhub_deploy import dashboard, dashboard_data

from tests.common.loaders import load
from tests.common.minion_replies import NODES, hub_reply

runner = load("_runners/jupyterhub.py", {"__opts__": {}, "__context__": {}})
board = load(
    "_runners/dashboard.py",
    {
        "__opts__": {},
        "__salt__": {
            "jupyterhub.summarize": runner.summarize,
            "jupyterhub.reply_value": runner.reply_value,
        },
    },
)
NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
IMAGE = {"node1": {"ret": True, "retcode": 0}, "node2": {"ret": True, "retcode": 0}}
DAYS = [
    {"date": "2026-11-29", "active_users": 3, "peak_concurrent": 2, "polls": 6},
    {"date": "2026-11-30", "active_users": 5, "peak_concurrent": 4, "polls": 6},
]
REPORT = {"days": DAYS, "totals": {"active_users": 6, "peak_concurrent": 4}, "start": "a"}


def activity_replies():
    return {name: REPORT for name in board.RANGES}


CERTIFICATE = {
    "names": ["hub.example.edu"],
    "issuer": "CN=R11,O=Let's Encrypt,C=US",
    "serial": "1a",
    "not_after": "2027-01-01T00:00:00+00:00",
    "days_left": 45.2,
}
PROXY = ("proxy", {"ret": CERTIFICATE, "retcode": 0})


def snapshot(hub=None, nodes=NODES, images=IMAGE, activity=None, proxy=PROXY):
    hub = hub if hub is not None else hub_reply()
    gathered = ("hub", hub, ["node1", "node2"], nodes, images, proxy)
    model = board.page_model(gathered, activity or activity_replies(), NOW, 60)
    return json.loads(json.dumps(model, default=str))  # as the page reads it back


# --- the runner ---------------------------------------------------------------------------


def test_the_snapshot_has_the_status_problems_and_memory_figures():
    model = snapshot()
    assert model["version"] == dashboard_data.VERSION == board.VERSION
    assert model["problems"] == []
    node1 = model["nodes"][0]
    assert node1["minion"] == "node1" and node1["swarm"] == "ready, active"
    assert node1["containers"][0]["user"] == "alice"
    assert node1["containers"][0]["memory_limit_bytes"] == 2**30
    assert model["servers"][0] == {
        "user": "alice", "started": "2026-11-30T10:00:00Z",
        "last_activity": "2026-11-30T11:00:00Z", "node": "node1",
        "image": "jupyterhub-deploy/singleuser:week5",
    }  # fmt: skip
    assert model["status"]["student image on nodes"] == {"node1": "present", "node2": "present"}
    assert "logs" not in model["status"]


def test_a_node_without_the_image_is_a_status_problem():
    images = {**IMAGE, "node2": {"ret": False, "retcode": 0}}
    model = snapshot(images=images)
    assert model["problems"] == [
        "node node2: does not hold the student image singleuser:week5 (its next server "
        "pulls it; salt -N nodes state.apply images.prepull)"
    ]
    view = dashboard_data.view(model, NOW)
    assert view["image_on_nodes"] == "missing on node2"


def test_activity_asks_each_range_and_keeps_errors_in_words():
    asked = []

    def ask(kwarg):
        asked.append(kwarg)
        return {"ret": "stats db missing", "retcode": 1} if kwarg["start"] is None else None

    result = board.activity(ask, datetime.date(2026, 11, 30))
    assert [k["start"] for k in asked] == ["2026-11-24", "2026-11-01", None]
    assert all(k["end"] == "2026-11-30" and k["png"] is False for k in asked)
    assert result["term"] == {"error": "stats.report: stats db missing"}
    assert result["7d"] == {"error": "stats.report: no answer"}


def test_the_snapshot_is_written_whole_for_the_dashboard_group_only(tmp_path):
    path = tmp_path / "snapshot.json"
    board.write(str(path), {"version": 1}, gid=os.getgid())
    assert json.loads(path.read_text()) == {"version": 1}
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.json"]


# --- the data layer -----------------------------------------------------------------------


def test_the_view_shows_nodes_memory_servers_and_the_class_in_words():
    view = dashboard_data.view(snapshot(), NOW)
    assert view["notices"] == [] and view["problems"] == []
    node1, node2 = view["nodes"]
    assert node1["state"] == "swarm: ready, active"
    alice = node1["containers"][0]
    assert alice["memory"] == "200 MiB of 1024 MiB (20%)" and not alice["near_limit"]
    assert alice["started"] == "2026-11-30 10:00:00 UTC"
    assert node2["containers"] == []
    assert view["servers"][0]["image"] == "singleuser:week5"
    assert view["student_image"] == "singleuser:week5"
    assert view["image_on_nodes"] == "on every node that answered"
    assert view["last_cull"] == "2026-11-30T09:00:00+00:00: stopped bob"
    assert view["last_backup"].startswith("2026-11-30 11:05:00 UTC (")
    assert view["home"] == "12% of 100 GiB used on /home, 88.0 GiB free"
    assert view["certificate"] == (
        "hub.example.edu from CN=R11,O=Let's Encrypt,C=US: 45.2 days left "
        "(until 2027-01-01T00:00:00+00:00)"
    )
    assert view["snapshot"] == {"time": "2026-11-30 12:00:00 UTC", "age": "0 s", "notice": None}


def test_a_node_that_does_not_answer_is_said_so():
    nodes = {**NODES, "node2": None}
    model = snapshot(nodes=nodes, images={"node1": IMAGE["node1"]})
    view = dashboard_data.view(model, NOW)
    node2 = view["nodes"][1]
    assert not node2["answered"]
    assert node2["state"] == "does not answer: no answer"
    assert view["problems"] == ["node node2: no answer"]
    assert view["image_on_nodes"] == "on every node that answered"


def test_a_stale_backup_is_marked_and_is_a_problem():
    stale = {"last_backup": "2026-11-28T11:05:00Z", "stale": True, "age_human": "2 days"}
    model = snapshot(hub=hub_reply(backup__status=(stale, 0)))
    view = dashboard_data.view(model, NOW)
    assert view["last_backup"] == "2026-11-28 11:05:00 UTC (2 days old at the snapshot): STALE"
    assert "backup: the last backup is stale (2 days old)" in view["problems"]


def test_the_hub_api_down_is_a_notice_over_the_last_snapshot():
    view = dashboard_data.view(snapshot(), NOW, hub_api=dashboard.HUB_DOWN)
    assert view["notices"] == [dashboard.HUB_DOWN]
    assert view["nodes"][0]["containers"]


def test_the_hub_api_down_in_the_snapshot_is_said_in_words():
    model = snapshot(hub=hub_reply(jupyterhub__running_servers=("HTTP 502: bad gateway", 1)))
    view = dashboard_data.view(model, NOW)
    assert view["servers"] == []
    assert view["notices"] == ["Running servers are unknown: HTTP 502: bad gateway"]
    assert "the hub API: HTTP 502: bad gateway" in view["problems"]


def test_a_silent_hub_leaves_words_in_every_line():
    model = snapshot(hub={}, nodes={}, images=None, proxy=("proxy", None))
    view = dashboard_data.view(model, NOW)
    assert "the hub (hub) did not answer" in view["problems"]
    keys = ("last_cull", "last_backup", "home", "student_image", "image_on_nodes", "certificate")
    for key in keys:
        assert view[key].startswith("unknown"), (key, view[key])


def test_an_old_snapshot_is_said_to_be_late():
    later = NOW + datetime.timedelta(minutes=10)
    fresh = dashboard_data.view(snapshot(), later)["snapshot"]
    assert fresh["age"] == "10 min"
    assert fresh["notice"].startswith("This snapshot is 10 min old (it is refreshed every 60 s)")


def test_a_container_near_its_limit_is_marked():
    figures = dashboard_data.memory(900 * 2**20, 2**30)
    assert figures == {"text": "900 MiB of 1024 MiB (88%)", "percent": 87.9, "near_limit": True}
    assert dashboard_data.memory(5 * 2**20, 0)["text"] == "5 MiB (no limit)"


def test_missing_unreadable_or_foreign_snapshots_are_sentences(tmp_path):
    path = tmp_path / "snapshot.json"
    with pytest.raises(dashboard_data.DataError, match="There is no snapshot yet"):
        dashboard_data.read_snapshot(str(path))
    path.write_text("{half")
    with pytest.raises(dashboard_data.DataError, match="cannot be read"):
        dashboard_data.read_snapshot(str(path))
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(dashboard_data.DataError, match="has format 99, this page reads format 1"):
        dashboard_data.read_snapshot(str(path))
    path.write_text(json.dumps(snapshot()))
    assert dashboard_data.read_snapshot(str(path))["version"] == 1


def test_an_unknown_range_is_refused_in_words():
    with pytest.raises(dashboard_data.DataError) as error:
        dashboard_data.activity_view(snapshot(), "year")
    assert str(error.value) == "Unknown range 'year': choose one of 7d, 30d, term."


def test_activity_the_hub_could_not_give_is_said_so():
    model = snapshot(activity={"7d": {"error": "stats.report: no answer"}})
    with pytest.raises(dashboard_data.DataError, match="The activity for 7d is unknown: stats"):
        dashboard_data.activity_view(model, "7d")


def test_the_plot_is_valid_svg_with_one_bar_a_day_and_escaped_text():
    result = dashboard_data.activity_view(snapshot(), "30d")
    assert result["totals"]["active_users"] == 6
    svg = dashboard_data.plot_svg(DAYS, "<b>&")
    document = xml.dom.minidom.parseString(svg)
    assert len(document.getElementsByTagName("rect")) == 2
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg
    assert dashboard_data.plot_svg([], "empty").startswith("<svg")


# --- the service's words ------------------------------------------------------------------


def test_errors_are_sentences_never_tracebacks():
    from tornado.web import HTTPError

    down = HTTPError(500, "Failed to connect to Hub API at 'http://127.0.0.1:8081/hub/api/'")
    assert dashboard.error_text(500, down).startswith("The hub's API does not answer")
    refused = dashboard.error_text(403, HTTPError(403, "user alice is not allowed."))
    assert "for hub admins and the staff listed" in refused
    crash = dashboard.error_text(500, KeyError("nodes"))
    assert crash == "The dashboard failed (KeyError); on the hub: docker logs jupyterhub-dashboard."
