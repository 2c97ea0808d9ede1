"""The status runner (_runners/jupyterhub.py: salt-run jupyterhub.status) from minions' replies."""

from tests.common.loaders import load
from tests.common.minion_replies import NODES, USAGE, hub_reply

runner = load("_runners/jupyterhub.py", {"__opts__": {}, "__context__": {}})
status_report = load("_utils/status_report.py")
swarm = load("_modules/swarm.py")


def test_a_healthy_cluster():
    report, problems = runner.summarize("hub", hub_reply(), ["node1", "node2"], NODES)
    assert problems == []
    hub = report["hub"]["hub"]
    assert hub["users"] == {"in the hub": 2, "admins": ["labadmin"], "system accounts": 2}
    assert list(hub["running servers"]) == ["alice"]
    assert hub["last cull"] == {"time": "2026-11-30T09:00:00+00:00", "stopped": ["bob"]}
    assert hub["last backup"]["time"] == "2026-11-30T11:05:00Z"
    assert hub["last backup"]["stale"] is False and hub["last backup"]["last failed"] == "none"
    assert hub["/home"]["mount"] == "/home" and hub["/home"]["used"] == "12% of 100 GiB"
    assert hub["student image"] == "singleuser:week5"
    assert report["nodes"]["node1"] == {
        "jupyter-alice": "200 MiB of 1024 MiB, running, image singleuser:week5"
    }
    assert report["nodes"]["node2"] == "no student containers"
    assert "docker logs jupyterhub" in report["logs"]["jupyterhub"]


def test_a_vanished_node_and_a_stale_backup_are_problems():
    stale = {"last_backup": "2026-11-20T00:00:00Z", "stale": True, "age_human": "10 days"}
    replies = hub_reply(backup__status=(stale, 0))
    report, problems = runner.summarize("hub", replies, ["node1", "node2", "node3"], NODES)
    assert "node node3: no answer" in problems
    assert "node node3: swarm says not in the swarm" in problems
    assert any("stale (10 days old)" in p for p in problems)
    assert report["nodes"]["node3"] == "PROBLEM: no answer"


def test_the_hub_api_down_is_a_problem_and_the_rest_still_reports():
    down = "the hub API at http://127.0.0.1:8081/hub/api does not answer"
    replies = hub_reply(jupyterhub__list_users=(down, 1), jupyterhub__running_servers=(down, 1))
    report, problems = runner.summarize("hub", replies, ["node1"], NODES)
    assert problems == [f"the hub API: {down}"]
    assert report["hub"]["hub"]["users"] == {"system accounts": 2}


def test_a_proxy_that_lost_its_routes_or_does_not_answer_is_a_problem():
    """Issue #21: the proxy is its own container; one restarted by docker (a crash) has no
    routes until the hub puts them back."""
    _, problems = runner.summarize(
        "hub", hub_reply(jupyterhub__proxy_routes=([], 0)), ["node1"], NODES
    )
    assert problems == [
        "the proxy has no route to the running servers of alice: "
        "docker restart jupyterhub (on the hub) puts every route back"
    ]
    down = "the hub's proxy API at http://10.214.0.2:8001/api/routes does not answer"
    _, problems = runner.summarize(
        "hub", hub_reply(jupyterhub__proxy_routes=(down, 1)), ["node1"], NODES
    )
    assert problems == [f"the proxy: {down}"]


def test_a_silent_hub_is_a_problem():
    _, problems = runner.summarize("hub", {}, [], {})
    assert problems[0] == "the hub (hub) did not answer"


def test_home_usage_picks_the_filesystem_holding_home():
    usage = {k: v for k, v in USAGE.items() if k == "/"}
    assert status_report.usage_of("/home", usage)["mount"] == "/"
    assert status_report.usage_of("/home", {}) is None
    assert status_report.usage_of("/home", {"/homework": USAGE["/home"]}) is None


def test_memory_leaves_out_the_page_cache():
    stats = {"memory_stats": {"usage": 500, "limit": 1000, "stats": {"inactive_file": 200}}}
    assert swarm.memory_of(stats) == (300, 1000)
    v1 = {"memory_stats": {"usage": 500, "limit": 1000, "stats": {"total_inactive_file": 100}}}
    assert swarm.memory_of(v1) == (400, 1000)
    assert swarm.memory_of({}) == (0, 0)


def test_a_missing_or_crashing_function_is_a_problem_in_one_line():
    traceback = (
        "Traceback (most recent call last):\n  File x\nTypeError: 'str' object is not callable"
    )
    replies = hub_reply(backup__status=(traceback, 0))
    report, problems = runner.summarize("hub", replies, [], {})
    assert problems == ["backup: TypeError: 'str' object is not callable"]
    replies = hub_reply(backup__status=("'backup.status' is not available.", 0))
    assert runner.summarize("hub", replies, [], {})[1] == [
        "backup: 'backup.status' is not available."
    ]


def test_backup_summary_names_failed_functions_and_disabled_backups():
    status = {"last_backup": "t", "age_human": "5m", "stale": False, "target": "sftp://x",
              "last_results": {"run": {"result": False}, "verify": {"result": True}}}  # fmt: skip
    assert status_report.backup_summary(status)["last failed"] == ["run"]
    assert status_report.backup_summary({"enabled": False}).startswith("disabled")


def test_a_lost_node_is_named_with_the_servers_that_were_on_it():
    down = [
        {"minion": "node1", "role": "worker", "state": "down", "availability": "active"},
        {"minion": "node2", "role": "worker", "state": "ready", "availability": "active"},
    ]
    replies = hub_reply(swarm__nodes=(down, 0))
    answered = {"node2": NODES["node2"]}
    report, problems = runner.summarize("hub", replies, ["node1", "node2"], answered)
    assert problems == [
        "node node1: swarm says down",
        "node node1: no answer (servers there: jupyter-alice)",
    ]
    assert report["nodes"]["node1"] == "PROBLEM: no answer (servers there: jupyter-alice)"
    assert report["swarm"]["node1"] == "down, active"


def test_a_drained_node_is_shown_and_is_not_a_problem():
    paused = [{"minion": "node1", "role": "worker", "state": "ready", "availability": "pause"}]
    replies = hub_reply(swarm__nodes=(paused, 0))
    report, problems = runner.summarize("hub", replies, ["node1"], NODES)
    assert problems == []
    assert report["swarm"]["node1"] == "ready, pause (drained: no new servers)"


def test_a_failed_verify_is_a_problem_naming_it():
    verify = {"result": False, "error": "hash mismatch: vol1"}
    failed = {"last_backup": "t", "stale": False, "last_results": {"verify": verify}}
    _, problems = runner.summarize("hub", hub_reply(backup__status=(failed, 0)), [], {})
    assert problems == ["backup: the last backup.verify failed: hash mismatch: vol1"]


def test_minions_not_connected_answer_at_once_and_are_not_asked(monkeypatch):
    """Salt would wait the whole timeout for a lost node; the status says so at once."""
    asked = []

    class Client:
        def cmd(self, targets, function, **kwargs):
            asked.append((targets, function, kwargs["tgt_type"]))
            return {t: {"ret": [], "retcode": 0} for t in targets}

    monkeypatch.setattr(runner, "_connected", lambda ids: [i for i in ids if i != "node2"])
    replies = runner._ask(Client(), ["node1", "node2"], "swarm.student_containers")
    assert asked == [(["node1"], "swarm.student_containers", "list")]
    assert replies["node2"] == runner.NOT_CONNECTED
    _, problems = runner.summarize("hub", hub_reply(), ["node1", "node2"], replies)
    assert problems == ["node node2: not connected to the master"]


def test_a_server_on_an_older_image_is_marked_until_it_restarts():
    older = dict(NODES["node1"]["ret"][0], service="jupyter-bob")
    older["image"] = "jupyterhub-deploy/singleuser:week4"
    nodes = {"node1": {"ret": [NODES["node1"]["ret"][0], older], "retcode": 0}}
    report, problems = runner.summarize("hub", hub_reply(), ["node1"], nodes)
    assert problems == []
    assert report["nodes"]["node1"] == {
        "jupyter-alice": "200 MiB of 1024 MiB, running, image singleuser:week5",
        "jupyter-bob": "200 MiB of 1024 MiB, running, image singleuser:week4 "
        "(older: until the server restarts)",
    }


def test_a_node_or_hub_that_cannot_say_the_image_is_no_problem():
    """Minions whose modules predate the image field, or a hub without its settings file."""
    bare = {k: v for k, v in NODES["node1"]["ret"][0].items() if k != "image"}
    missing = "no student image in /srv/jupyterhub/settings.json: FileNotFoundError(2)"
    replies = hub_reply(jupyterhub__student_image=(missing, 1))
    report, problems = runner.summarize("hub", replies, ["node1"], {"node1": {"ret": [bare]}})
    assert problems == []
    assert report["hub"]["hub"]["student image"] == f"unknown: {missing}"
    assert report["nodes"]["node1"] == {"jupyter-alice": "200 MiB of 1024 MiB, running"}


def test_a_node_without_the_student_image_is_a_problem_naming_prepull():
    absent = "'swarm.image_present' is not available."
    images = {"node1": {"ret": True, "retcode": 0}, "node2": {"ret": False, "retcode": 0},
              "node3": {"ret": absent, "retcode": 1}}  # fmt: skip
    nodes = {**NODES, "node3": {"ret": [], "retcode": 0}}
    report, problems = runner.summarize("hub", hub_reply(), ["node1", "node2", "node3"], nodes,
                                        images)  # fmt: skip
    assert report["student image on nodes"] == {"node1": "present", "node2": "missing"}
    assert problems == [
        "node node3: swarm says not in the swarm",
        "node node2: does not hold the student image singleuser:week5 (its next server pulls "
        "it; salt -N nodes state.apply images.prepull)",
    ]


def test_no_backup_yet_is_said_so_not_as_a_stale_age():
    none = {"last_backup": None, "stale": True, "age_human": None, "target": "sftp://b//h"}
    _, problems = runner.summarize("hub", hub_reply(backup__status=(none, 0)), [], {})
    assert problems == ["backup: there is no complete backup at sftp://b//h yet"]


def certificate_reply(days_left, names=("hub.example.edu",)):
    cert = {"names": list(names), "issuer": "CN=R11,O=Let's Encrypt,C=US", "serial": "1a",
            "not_after": "2027-01-01T00:00:00+00:00", "days_left": days_left}  # fmt: skip
    return ("proxy", {"ret": cert, "retcode": 0})


def test_the_proxy_s_certificate_is_shown_and_is_a_problem_under_14_days():
    report, problems = runner.summarize(
        "hub", hub_reply(), ["node1", "node2"], NODES, proxy=certificate_reply(45.2)
    )
    assert problems == []
    assert report["certificate"]["issuer"] == "CN=R11,O=Let's Encrypt,C=US"
    assert report["certificate"]["days left"] == 45.2
    _, problems = runner.summarize(
        "hub", hub_reply(), ["node1", "node2"], NODES, proxy=certificate_reply(13.9)
    )
    assert (
        len(problems) == 1
        and "certificate for hub.example.edu expires in 13.9 days" in (problems[0])
    )


def test_a_proxy_that_does_not_answer_about_its_certificate_is_a_problem():
    _, problems = runner.summarize(
        "hub", hub_reply(), ["node1", "node2"], NODES, proxy=("proxy", None)
    )
    assert problems == ["the proxy's certificate (proxy): no answer"]
