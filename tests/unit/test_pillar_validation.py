"""The site pillar validator (_pillar/jupyterhub_deploy.py): the shipped sites, defaults,
roles, durations and image names.

What it refuses is tested in test_pillar_refusals.py, the backup section in
test_pillar_backup.py.
"""

import copy

import pytest

from tests.common.sites import DEFAULTS, deploy, errors_of, read
from tests.common.sites import sls_pillar as site_pillar

HUB = "hub.example.edu"


@pytest.mark.parametrize("site", ["example", "lab"])
def test_shipped_site_pillars_are_valid_for_every_role(site):
    pillar = read(f"pillar/{site}/site.sls")
    roles = pillar["roles"]
    hub = deploy.build(roles["hub"], site_pillar(site, ("hub",)), DEFAULTS)
    proxy = deploy.build(roles["proxy"], site_pillar(site, ("proxy",)), DEFAULTS)
    node = deploy.build(roles["nodes"][0], site_pillar(site, ()), DEFAULTS)
    assert hub["minion_roles"] == ["hub"]
    # The lab backs up to its proxy.
    assert proxy["minion_roles"] == (["proxy", "backup_target"] if site == "lab" else ["proxy"])
    assert node["minion_roles"] == ["node"]


def test_defaults_fill_what_the_site_leaves_out():
    pillar = site_pillar()
    del pillar["cull"]
    result = deploy.build(HUB, pillar, DEFAULTS)
    assert result["cull"]["timeout"] == 24 * 3600
    assert result["cull"]["interval"] == 3600
    assert result["spawner"]["mem_limit"] == "1G"


def test_site_values_override_defaults_and_durations_become_seconds():
    pillar = site_pillar()
    pillar["cull"] = {"timeout": "90m"}
    pillar["backup"]["full_every"] = "2w"
    result = deploy.build(HUB, pillar, DEFAULTS)
    assert result["cull"]["timeout"] == 5400
    assert result["cull"]["interval"] == 3600  # untouched sibling keeps its default
    assert result["backup"]["full_every"] == 14 * 86400


def test_defaults_are_not_mutated_by_a_build():
    before = copy.deepcopy(DEFAULTS)
    pillar = site_pillar()
    pillar["cull"] = {"timeout": "1h"}
    deploy.build(HUB, pillar, DEFAULTS)
    assert before == DEFAULTS


# --- roles -------------------------------------------------------------------------


def test_one_host_may_hold_every_role():
    pillar = site_pillar(secrets=("hub", "proxy"))
    pillar["hosts"] = {"allinone": "10.0.0.5"}
    pillar["roles"] = {"proxy": "allinone", "hub": "allinone", "nodes": ["allinone"]}
    assert deploy.build("allinone", pillar, DEFAULTS)["minion_roles"] == ["proxy", "hub", "node"]


def test_a_minion_outside_the_site_gets_no_role():
    assert deploy.build("stranger", site_pillar(secrets=()), DEFAULTS)["minion_roles"] == []


def test_salt_keys_pass_through_unvalidated():
    pillar = site_pillar()
    pillar["mine_functions"] = {"x": [{"mine_function": "test.ping"}]}
    assert "x" not in deploy.build(HUB, pillar, DEFAULTS)["mine_functions"]


def test_the_worker_token_and_the_nodegroups_go_by_minion_id():
    """Issue #18 item 5: never by pillar, which a minion's pillar_override changes in the
    master's cache."""
    site = read("pillar/example/site.sls")
    nodes = site["roles"]["nodes"]
    token = deploy.build(HUB, site_pillar("example", ("hub",)), DEFAULTS)["mine_functions"]
    assert token["swarm_worker_token"] == [
        {"mine_function": "swarm.join_token"},
        {"allow_tgt": nodes},
        {"allow_tgt_type": "list"},
    ]
    groups = deploy.nodegroups(site)
    assert groups == {"proxy": [site["roles"]["proxy"]], "hub": [HUB], "nodes": nodes,
                      "backup_target": []}  # fmt: skip
    assert deploy.build(HUB, site_pillar("example", ("hub",)), DEFAULTS, groups)
    stale = {**groups, "nodes": [*nodes, site["roles"]["proxy"]]}
    message = errors_of_groups(HUB, site_pillar("example", ("hub",)), stale)
    assert "the salt master's nodegroups" in message
    assert "run script/bootstrap --master again on the hub" in message


def errors_of_groups(minion_id, pillar, groups):
    with pytest.raises(deploy.PillarError) as info:
        deploy.build(minion_id, pillar, DEFAULTS, groups)
    return str(info.value)


@pytest.mark.parametrize(
    "text,seconds",
    [(90, 90), ("90", 90), ("90s", 90), ("10m", 600), ("24h", 86400), ("7d", 604800)],
)
def test_parse_duration(text, seconds):
    assert deploy.parse_duration(text) == seconds


def test_the_hub_alone_gets_the_idle_beacon_at_the_cull_interval():
    pillar = site_pillar("example", ("hub",))
    pillar["cull"]["interval"] = "15m"
    beacons = deploy.build(HUB, pillar, DEFAULTS)["beacons"]
    assert beacons == {"jupyterhub_idle": [{"interval": 900}, {"disable_during_state_run": True}]}
    roles = read("pillar/example/site.sls")["roles"]
    assert "beacons" not in deploy.build(roles["nodes"][0], site_pillar("example", ()), DEFAULTS)
    pillar["cull"]["enabled"] = False
    assert "beacons" not in deploy.build(HUB, pillar, DEFAULTS)


def test_image_names_and_registry_address_are_computed():
    result = deploy.build(HUB, site_pillar("example", ("hub",)), DEFAULTS)
    assert result["registry"]["address"] == "10.0.0.10:5000"
    assert result["registry"]["push_address"] == "127.0.0.1:5001"
    assert result["images"]["names"] == {
        "hub": "10.0.0.10:5000/jupyterhub-deploy/hub:current",
        "proxy": "10.0.0.10:5000/jupyterhub-deploy/proxy:current",
        "singleuser": "10.0.0.10:5000/jupyterhub-deploy/singleuser:current",
    }
    assert result["images"]["singleuser_tag"] == "current"  # null: images:tag


def test_the_student_image_has_its_own_tag_and_the_hub_keeps_the_moving_one():
    pillar = site_pillar("example", ("hub",))
    pillar["images"]["singleuser_tag"] = "week5"
    result = deploy.build(HUB, pillar, DEFAULTS)
    assert result["images"]["names"] == {
        "hub": "10.0.0.10:5000/jupyterhub-deploy/hub:current",
        "proxy": "10.0.0.10:5000/jupyterhub-deploy/proxy:current",
        "singleuser": "10.0.0.10:5000/jupyterhub-deploy/singleuser:week5",
    }
    assert result["images"]["singleuser_tag"] == "week5"


@pytest.mark.parametrize("key", ["singleuser_tag", "tag"])
@pytest.mark.parametrize("tag", ["week 5", "-week5", ".x", "a" * 129, "week5\n", "w:5", "", 5])
def test_a_bad_image_tag_is_refused_naming_the_key(key, tag):
    pillar = site_pillar("example", ("hub",))
    pillar["images"][key] = tag
    message = errors_of(HUB, pillar)
    if isinstance(tag, str):
        pattern = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
        assert f"'images:{key}' must be a Docker tag ({pattern}), got {tag!r}" in message
    else:
        assert f"'images:{key}' must be a str, got int 5" in message


@pytest.mark.parametrize("tag", ["week5", "2026-w05", "_x", "A.b-c_d", "a" * 128])
def test_good_image_tags_pass(tag):
    pillar = site_pillar("example", ("hub",))
    pillar["images"]["singleuser_tag"] = tag
    assert deploy.build(HUB, pillar, DEFAULTS)["images"]["names"]["singleuser"].endswith(":" + tag)


@pytest.mark.parametrize("version", ["6.1", "v6.1.2", "6.1.2; rm -rf /", "6.1.2 ", "latest"])
def test_a_jupyterhub_release_that_is_not_one_is_refused_naming_the_key(version):
    """It becomes a build argument and `pip install jupyterhub==VERSION`: a release only."""
    pillar = site_pillar("example", ("hub",))
    pillar["hub"]["jupyterhub_version"] = version
    assert "'hub:jupyterhub_version' must be a release such as 6.1.2" in errors_of(HUB, pillar)


@pytest.mark.parametrize("version", ["5.5.4", "6.1.2", "7.0.0rc1", None])
def test_a_jupyterhub_release_passes(version):
    pillar = site_pillar("example", ("hub",))
    pillar["hub"]["jupyterhub_version"] = version
    assert deploy.build(HUB, pillar, DEFAULTS)["hub"]["jupyterhub_version"] == version


def concern(tmp_path, defaults, rules):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo/defaults.yaml").write_text(defaults)
    (tmp_path / "demo/rules.yaml").write_text(rules)
    return tmp_path


def test_each_concern_s_rules_sit_beside_its_defaults(tmp_path):
    folder = concern(tmp_path, "demo: {port: 1, name: x}\n", "demo:port: {kind: int, min: 1}\n")
    rules = deploy.load_defaults(str(folder)).rules
    assert rules == {"demo:port": {"kind": "int", "min": 1}}
    assert DEFAULTS.rules["images:tag"]["what"] == "a Docker tag"


def test_a_rule_for_a_key_its_defaults_lack_names_the_file(tmp_path):
    folder = concern(tmp_path, "demo: {port: 1}\n", "demo:prot: {kind: int}\n")
    with pytest.raises(deploy.PillarError, match=r"demo/rules.yaml: 'demo:prot' is not a key"):
        deploy.load_defaults(str(folder))


@pytest.mark.parametrize(
    "rule", ["{kind: integer}", "{kind: str, pattern: nope}", "{kind: int, nullable: true, x: 1}"]
)
def test_a_malformed_rule_names_the_file_and_key(tmp_path, rule):
    folder = concern(tmp_path, "demo: {port: 1}\n", f"demo:port: {rule}\n")
    with pytest.raises(ValueError, match=r"demo/rules.yaml: bad rule for 'demo:port'"):
        deploy.load_defaults(str(folder))


def test_the_hub_s_overlay_address_lies_outside_what_swarm_hands_out():
    swarm = deploy.build("hub.example.edu", site_pillar(), DEFAULTS)["swarm"]
    assert swarm["overlay_subnet"] == "10.213.0.0/16"
    assert swarm["overlay_ip_range"] == "10.213.128.0/17"
    assert swarm["hub_overlay_address"] == "10.213.0.2"


def test_the_proxy_api_addresses_follow_its_gateway():
    hub = deploy.build("hub.example.edu", site_pillar(), DEFAULTS)["hub"]
    assert hub["proxy_api_subnet"] == "10.214.0.0/29"
    assert hub["proxy_api_gateway"] == "10.214.0.1"
    assert (hub["proxy_api_address"], hub["proxy_api_hub_address"]) == ("10.214.0.2", "10.214.0.3")
