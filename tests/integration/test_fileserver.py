"""What the master serves: custom Python reaches minions, the pillar tree never does."""

from tests.common.sites import ROLES

NODE = ROLES["nodes"][0]


def test_custom_modules_reach_minions_with_sync_all(salt_cli):
    ret = salt_cli.run("sys.list_functions", "swarm", minion_tgt=NODE)
    assert "swarm.status" in ret.data and "swarm.join" in ret.data
    ret = salt_cli.run("sys.list_state_functions", "swarm", minion_tgt=NODE)
    assert set(ret.data) >= {"swarm.manager", "swarm.worker"}


def test_a_minion_calls_a_custom_module(salt_cli):
    # The node's own Docker engine (this machine's) answers: not a swarm member.
    ret = salt_cli.run("swarm.status", minion_tgt=NODE)
    assert ret.returncode == 0, ret
    assert ret.data["state"] in {"inactive", "active"}
    assert set(ret.data) == {"state", "manager", "node_id", "managers"}


def test_file_server_lists_states_and_custom_python_only(salt_cli):
    files = salt_cli.run("cp.list_master", minion_tgt=NODE).data
    assert "top.sls" in files and "_modules/swarm.py" in files and "_states/swarm.py" in files
    leaked = [f for f in files if f.startswith("pillar") or "secrets" in f or f == "site.sls"]
    assert leaked == []


def test_minion_gets_nothing_from_the_pillar_tree(salt_cli):
    for url in (
        "salt://pillar/example/secrets/hub.sls",
        "salt://pillar/top.sls",
        "salt://../pillar/top.sls",
        "salt://../pillar/example/secrets/hub.sls",
        "salt://secrets/hub.sls",
        "salt://site.sls",
    ):
        ret = salt_cli.run("cp.get_file_str", url, minion_tgt=NODE)
        assert ret.data is False, (url, ret.data)
