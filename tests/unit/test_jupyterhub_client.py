"""
_modules/jupyterhub.py, _states/jupyterhub.py and _beacons/jupyterhub_idle.py against a
stand-in of the hub's REST API on loopback (tests/common/fake_hub.py: the shapes JupyterHub 5
answers with, pagination included). The e2e tier runs them against the lab's real hub.
"""

import fcntl
import json

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.fake_hub import CLASS, CULL, NOW, TOKEN, iso, user
from tests.common.loaders import load


def client(hub=None, token=TOKEN, cull=None, tmp_path=None, url=None):
    opts = {"jupyterhub.api_url": url or (hub.url if hub else "http://127.0.0.1:9/hub/api")}
    if tmp_path is not None:
        opts["jupyterhub.cull_record"] = str(tmp_path / "last-cull.json")
    pillar = {"hub": {"api_tokens": {"salt": token} if token else {}}, "cull": cull or CULL}
    return load("_modules/jupyterhub.py", {"__opts__": opts, "__pillar__": pillar})


# --- the client --------------------------------------------------------------------------


def test_list_users_follows_pagination_with_the_token(hub_factory):
    hub = hub_factory(CLASS, page=2)
    names = [u["name"] for u in client(hub).list_users()]
    assert names == sorted(u["name"] for u in CLASS)
    pages = [r for r in hub.requests if r[1] == "/hub/api/users"]
    assert [p[2]["offset"] for p in pages] == [["0"], ["2"], ["4"]]


def test_list_users_passes_the_state_filter(hub_factory):
    hub = hub_factory(CLASS)
    names = {u["name"] for u in client(hub).list_users(state="ready")}
    assert names == {"alice", "bob", "dave", "labadmin"}
    assert all(r[2]["state"] == ["ready"] for r in hub.requests)


def test_info_reports_the_version_and_proves_the_token(hub_factory):
    hub = hub_factory(CLASS)
    assert client(hub).info()["version"] == "5.5.1"
    with pytest.raises(CommandExecutionError, match="hub:api_tokens:salt"):
        client(hub, token="wrong").info()


def test_missing_token_names_the_pillar_key():
    with pytest.raises(CommandExecutionError, match="'hub:api_tokens:salt' is not set"):
        client(token=None).list_users()


def test_hub_down_says_where_to_look():
    with pytest.raises(CommandExecutionError, match=r"does not answer.*docker logs jupyterhub"):
        client(url="http://127.0.0.1:9/hub/api").list_users()


def test_idle_reason_rules():
    jh = client()
    server = {"ready": True, "pending": None, "started": iso(100), "last_activity": iso(50)}
    assert jh.idle_reason(server, timeout=60, now=NOW) is None
    assert jh.idle_reason(server, timeout=40, now=NOW).startswith("idle for 50s")
    assert jh.idle_reason(dict(server, last_activity=None), timeout=90, now=NOW).startswith(
        "idle for 100s"
    )
    assert jh.idle_reason(server, timeout=3600, max_age=90, now=NOW).startswith("running for")
    assert jh.idle_reason(server, timeout=3600, max_age=0, now=NOW) is None
    assert jh.idle_reason(dict(server, pending="stop"), timeout=1, now=NOW) is None
    assert jh.idle_reason(dict(server, ready=False), timeout=1, now=NOW) is None


def test_idle_servers_by_pillar_exempts_admins(hub_factory):
    hub = hub_factory(CLASS)
    assert set(client(hub).idle_servers()) == {"alice", "dave"}
    assert set(client(hub).idle_servers(exempt_admins=False)) == {"alice", "dave", "labadmin"}
    assert set(client(hub).idle_servers(timeout=30)) == {"alice", "bob", "dave"}


def test_stop_server_waits_until_it_is_gone(hub_factory):
    hub = hub_factory(CLASS)
    assert client(hub).stop_server("alice") is True
    assert hub.users["alice"]["servers"] == {}
    assert client(hub).stop_server("carol") is False
    with pytest.raises(CommandExecutionError, match="no user nobody"):
        client(hub).stop_server("nobody")
    with pytest.raises(CommandExecutionError, match="would not stop erin's server"):
        client(hub).stop_server("erin")


def test_stop_servers_bounds_concurrency(hub_factory):
    many = [user(f"s{i:02d}", idle=7200) for i in range(12)]
    hub = hub_factory(many, delete_delay=0.2)
    results = client(hub).stop_servers([u["name"] for u in many] + ["ghost"], concurrency=3)
    assert hub.max_in_flight == 3
    assert results.pop("ghost").startswith("failed: ")
    assert set(results.values()) == {"stopped"}


def test_cull_stops_only_the_idle_and_records_it(hub_factory, tmp_path):
    hub = hub_factory(CLASS)
    jh = client(hub, tmp_path=tmp_path)
    assert jh.last_cull() is None
    dry = jh.cull(test=True)
    assert set(dry["culled"]) == {"alice", "dave"}
    assert not [r for r in hub.requests if r[0] == "DELETE"] and jh.last_cull() is None
    done = jh.cull()
    assert done["results"] == {"alice": "stopped", "dave": "stopped"}
    assert sorted(r[1] for r in hub.requests if r[0] == "DELETE") == [
        "/hub/api/users/alice/server", "/hub/api/users/dave/server",
    ]  # fmt: skip
    assert hub.users["bob"]["servers"][""]["ready"]
    assert jh.last_cull()["culled"].keys() == {"alice", "dave"}


def test_the_reactor_s_culls_coalesce(hub_factory, tmp_path):
    """Issue #18 item 8: a flood of forged idle events runs one cull at a time, and none
    while the last was under ``coalesce`` seconds ago."""
    hub = hub_factory(CLASS)
    jh = client(hub, tmp_path=tmp_path)
    assert set(jh.cull(coalesce=10)["culled"]) == {"alice", "dave"}
    deletes = len([r for r in hub.requests if r[0] == "DELETE"])
    again = jh.cull(coalesce=10)
    assert again["skipped"].startswith("the last cull was") and "coalesce 10s" in again["skipped"]
    record = tmp_path / "last-cull.json"
    with open(str(record) + ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert jh.cull(coalesce=1)["skipped"] == "another cull is running"
    assert len([r for r in hub.requests if r[0] == "DELETE"]) == deletes
    assert "culled" in jh.cull()  # by hand: never coalesced


# --- the state ---------------------------------------------------------------------------


def cull_state(hub, tmp_path, test=False):
    jh = client(hub, tmp_path=tmp_path)
    return load(
        "_states/jupyterhub.py",
        {"__opts__": {"test": test}, "__salt__": {"jupyterhub.cull": jh.cull}},
    )


def test_state_reports_each_stopped_server_as_a_change(hub_factory, tmp_path):
    hub = hub_factory(CLASS)
    ret = cull_state(hub, tmp_path).idle_culled("cull", timeout=3600)
    assert ret["result"] is True
    assert set(ret["changes"]) == {"alice", "dave"}
    assert ret["changes"]["alice"]["new"] == "stopped"
    # alice's last activity was 2 h before the module's NOW, itself before this test ran.
    idle = int(ret["changes"]["alice"]["old"].split()[2].rstrip("s"))
    assert idle >= 7200 and ret["changes"]["alice"]["old"].endswith("(timeout 3600s)")
    again = cull_state(hub, tmp_path).idle_culled("cull", timeout=3600)
    assert again["changes"] == {} and again["comment"] == "no server is idle"


def test_state_test_mode_changes_nothing(hub_factory, tmp_path):
    hub = hub_factory(CLASS)
    ret = cull_state(hub, tmp_path, test=True).idle_culled("cull", timeout=3600)
    assert ret["result"] is None and set(ret["changes"]) == {"alice", "dave"}
    assert not [r for r in hub.requests if r[0] == "DELETE"]


def test_state_fails_naming_a_server_it_could_not_stop(hub_factory, tmp_path):
    hub = hub_factory(CLASS)
    jh = client(hub, tmp_path=tmp_path)
    culled = {"culled": {"alice": "idle", "bob": "idle"},
              "results": {"alice": "stopped", "bob": "failed: the hub answered 500"}}  # fmt: skip
    salt = {"jupyterhub.cull": lambda **kwargs: culled}
    state = load("_states/jupyterhub.py", {"__opts__": {"test": False}, "__salt__": salt})
    ret = state.idle_culled("cull")
    assert ret["result"] is False and set(ret["changes"]) == {"alice"}
    assert "bob: failed: the hub answered 500" in ret["comment"]
    assert jh.last_cull() is None


def test_state_with_the_hub_down_fails_with_the_clients_message(tmp_path):
    jh = client(None, url="http://127.0.0.1:9/hub/api", tmp_path=tmp_path)
    salt = {"jupyterhub.cull": jh.cull}
    state = load("_states/jupyterhub.py", {"__opts__": {"test": True}, "__salt__": salt})
    ret = state.idle_culled("cull")
    assert ret["result"] is False and ret["changes"] == {}
    assert "does not answer" in ret["comment"] and "Traceback" not in ret["comment"]


# --- the beacon --------------------------------------------------------------------------


def beacon(idle_servers):
    return load(
        "_beacons/jupyterhub_idle.py", {"__salt__": {"jupyterhub.idle_servers": idle_servers}}
    )


def test_beacon_fires_only_with_idle_servers(hub_factory):
    hub = hub_factory(CLASS)
    events = beacon(client(hub).idle_servers).beacon([{"interval": 600}])
    assert events == [{"tag": "idle", "servers": ["alice", "dave"]}]
    quiet = hub_factory([user("bob", idle=60)])
    assert beacon(client(quiet).idle_servers).beacon([]) == []


def test_beacon_with_the_hub_down_fires_nothing():
    assert beacon(client(url="http://127.0.0.1:9/hub/api").idle_servers).beacon([]) == []


def test_beacon_validation():
    module = beacon(None)
    assert module.validate([{"interval": 3600}, {"disable_during_state_run": True}])[0]
    assert not module.validate({"interval": 3600})[0]
    ok, message = module.validate([{"timeout": 5}])
    assert not ok and "timeout" in message


def test_student_image_is_the_one_in_the_settings_the_hub_reads(tmp_path):
    image = "10.0.0.10:5000/jupyterhub-deploy/singleuser:week5"
    (tmp_path / "settings.json").write_text(
        json.dumps({"images": {"names": {"singleuser": image}}})
    )
    pillar = {"hub": {"data_dir": str(tmp_path)}}
    module = load("_modules/jupyterhub.py", {"__opts__": {}, "__pillar__": pillar})
    assert module.student_image() == image
    # Pinned to the digest imagectl recorded, as the hub's config pins it.
    digest = "sha256:" + "d" * 64
    record = tmp_path / "singleuser-image.json"
    record.write_text(json.dumps({"image": image, "digest": digest}))
    assert module.student_image() == f"{image}@{digest}"
    record.write_text(json.dumps({"image": image.replace("week5", "week4"), "digest": digest}))
    assert module.student_image() == image
    (tmp_path / "settings.json").unlink()
    with pytest.raises(CommandExecutionError, match="no student image in .*settings.json"):
        module.student_image()
