"""The highstate of every minion of the example topology, through a real master."""

import pytest

from tests.common.sites import MINION_IDS, ROLES

HUB, PROXY, NODES = ROLES["hub"], ROLES["proxy"], ROLES["nodes"]

EXPECTED_STATES = {
    PROXY: {"common", "users", "nginx"},
    HUB: {
        "common",
        "users",
        "docker",
        "swarm.manager",
        "registry",
        "nfs.server",
        "restuser",
        "hub",
        "hub.proxy",
        "stats",
        "backup",
        "dashboard",
    },
    **{
        node: {"common", "users", "docker", "swarm.worker", "nfs.client", "images.prepull"}
        for node in NODES
    },
}

HUB_SECRETS = [
    ("hub", "cookie_secret"),
    ("hub", "proxy_auth_token"),
    ("hub", "api_tokens"),
    ("auth", "google", "client_secret"),
    ("backup", "passphrase"),
]


def lookup(data, path):
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


@pytest.mark.parametrize("minion_id", MINION_IDS)
def test_each_role_gets_its_states(salt_cli, minion_id):
    ret = salt_cli.run("state.show_top", minion_tgt=minion_id)
    assert ret.returncode == 0, ret
    assert set(ret.data["base"]) == EXPECTED_STATES[minion_id]


@pytest.mark.parametrize("minion_id", MINION_IDS)
def test_highstate_renders(salt_cli, minion_id):
    ret = salt_cli.run("state.show_highstate", minion_tgt=minion_id)
    assert ret.returncode == 0, ret
    assert isinstance(ret.data, dict) and ret.data, ret


@pytest.mark.parametrize("minion_id", MINION_IDS)
def test_highstate_test_mode_runs_without_failures(salt_cli, minion_id):
    ret = salt_cli.run("state.apply", test=True, minion_tgt=minion_id, _timeout=300)
    assert isinstance(ret.data, dict), ret
    failed = {k: v["comment"] for k, v in ret.data.items() if v["result"] is False}
    assert failed == {}
    assert len(ret.data) >= len(EXPECTED_STATES[minion_id])


@pytest.mark.parametrize("minion_id", [PROXY, *NODES])
def test_hub_secrets_never_reach_other_minions(salt_cli, minion_id):
    pillar = salt_cli.run("pillar.items", unmask=True, minion_tgt=minion_id).data
    for path in HUB_SECRETS:
        assert not lookup(pillar, path), f"{':'.join(path)} reached {minion_id}"
    assert "mine_functions" not in pillar


def test_hub_has_its_secrets_and_only_the_proxy_has_the_tls_key(salt_cli):
    hub = salt_cli.run("pillar.items", unmask=True, minion_tgt=HUB).data
    for path in HUB_SECRETS:
        assert lookup(hub, path), ":".join(path)
    assert not lookup(hub, ("proxy", "tls", "key"))
    proxy = salt_cli.run("pillar.items", unmask=True, minion_tgt=PROXY).data
    assert "PRIVATE KEY" in lookup(proxy, ("proxy", "tls", "key"))
    for node in NODES:
        node_pillar = salt_cli.run("pillar.items", unmask=True, minion_tgt=node).data
        assert not lookup(node_pillar, ("proxy", "tls", "key"))


@pytest.mark.parametrize("minion_id", MINION_IDS)
def test_roles_come_from_the_site_pillar(salt_cli, minion_id):
    roles = salt_cli.run("pillar.get", "minion_roles", unmask=True, minion_tgt=minion_id).data
    expected = {PROXY: ["proxy"], HUB: ["hub"]}.get(minion_id, ["node"])
    assert roles == expected


def test_nodegroups_follow_the_roles(salt_cli):
    for group, expected in (("nodes", NODES), ("hub", [HUB]), ("proxy", [PROXY])):
        ret = salt_cli.run("-N", "test.ping", minion_tgt=group)
        assert ret.returncode == 0, ret
        assert set(ret.data) == set(expected)
