"""The site pillar validator (_pillar/jupyterhub_deploy.py): defaults, bad input, roles.

Why over 400 lines: one test per refused key, sharing the example site; one file per
validator.
"""

import copy

import pytest

from tests.common.sites import DEFAULTS, deploy, read
from tests.common.sites import sls_pillar as site_pillar

HUB = "hub.example.edu"


def errors_of(minion_id, pillar):
    with pytest.raises(deploy.PillarError) as info:
        deploy.build(minion_id, pillar, DEFAULTS)
    return str(info.value)


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


# --- bad input: each refused with a message naming the key ------------------------


def test_typo_in_a_key_is_refused_with_a_suggestion():
    pillar = site_pillar()
    pillar["cull"] = {"timout": "1h"}
    message = errors_of(HUB, pillar)
    assert "'cull:timout' is not a known key (did you mean 'cull:timeout'?)" in message


def test_typo_in_a_section_name_is_refused():
    pillar = site_pillar()
    pillar["backups"] = {"keep_full": 3}
    assert "'backups' is not a known key (did you mean 'backup'?)" in errors_of(HUB, pillar)


def test_wrong_type_is_refused():
    pillar = site_pillar()
    pillar["backup"]["keep_full"] = "two"
    assert "'backup:keep_full' must be a int, got str 'two'" in errors_of(HUB, pillar)


def test_a_negative_start_limit_is_refused_and_null_means_auto():
    pillar = site_pillar()
    pillar["spawner"]["concurrent_starts"] = -1
    assert "'spawner:concurrent_starts' must be at least 0, got -1" in errors_of(HUB, pillar)
    pillar["spawner"]["concurrent_starts"] = None
    assert deploy.build(HUB, pillar, DEFAULTS)["spawner"]["concurrent_starts"] is None


def test_a_cull_timeout_shorter_than_the_activity_records_is_refused():
    pillar = site_pillar()
    pillar["hub"]["activity_interval"] = "5m"
    pillar["cull"] = {"timeout": "8m"}
    problem = errors_of(HUB, pillar)
    assert "'cull:timeout' (8m) must be at least twice 'hub:activity_interval' (5m)" in problem
    pillar["cull"] = {"timeout": "8m", "enabled": False}  # no culling: nothing to protect
    deploy.build(HUB, pillar, DEFAULTS)
    pillar["cull"] = {"timeout": "10m"}
    deploy.build(HUB, pillar, DEFAULTS)


@pytest.mark.parametrize(
    "target, words",
    [
        ("/srv/backup", "must be a duplicity URL"),
        ("ftp://host/backup", "must be a duplicity URL"),
        ("file://srv/backup", "an absolute path (file:///srv/backup"),
        ("sftp:///backup", "needs a host and a path"),
        ("sftp://jhd-backup@10.0.0.3", "needs a host and a path"),
    ],
)
def test_a_bad_backup_url_is_refused(target, words):
    pillar = site_pillar()
    pillar["backup"]["target"] = target
    assert "'backup:target'" in errors_of(HUB, pillar) and words in errors_of(HUB, pillar)


def test_a_password_in_a_bad_backup_url_is_not_repeated():
    pillar = site_pillar()
    pillar["backup"]["target"] = "ftp://me:hunter2@host/x"
    assert "hunter2" not in errors_of(HUB, pillar)


def test_good_backup_urls_pass():
    for target in ("file:///srv/backup", "sftp://u@10.0.0.3//srv/backup", "s3://bucket/home"):
        pillar = site_pillar()
        pillar["backup"]["target"] = target
        deploy.build(HUB, pillar, DEFAULTS)


def test_a_student_range_into_systemds_dynamic_uids_is_refused():
    pillar = site_pillar()
    pillar["users"]["student_uid_max"] = 65000
    assert "'users:student_uid_max' 65000 reaches 61184-65535" in errors_of(HUB, pillar)


def test_boolean_is_not_taken_for_a_number():
    pillar = site_pillar()
    pillar["registry"] = {"port": True}
    assert "'registry:port' must be a int" in errors_of(HUB, pillar)


@pytest.mark.parametrize(
    "key,value",
    [("timeout", "24 hours"), ("timeout", "1y"), ("interval", "-5m")],
)
def test_wrong_duration_unit_is_refused(key, value):
    pillar = site_pillar()
    pillar["cull"] = {key: value}
    assert f"'cull:{key}' must be a duration" in errors_of(HUB, pillar)


def test_wrong_size_unit_is_refused():
    pillar = site_pillar()
    pillar["spawner"]["mem_limit"] = "1 GB"
    assert "'spawner:mem_limit' must be a size like 512M or 1G, got '1 GB'" in errors_of(
        HUB, pillar
    )


@pytest.mark.parametrize(
    "name", ["Grace.Hopper", "root", "sudo", "a;rm -rf", "x" * 33, "1abc", "alice\n"]
)
def test_unsafe_student_name_is_refused(name):
    pillar = site_pillar()
    pillar["users"]["students"] = ["alan", name]
    message = errors_of(HUB, pillar)
    assert "'users:students': unsafe user name" in message
    assert repr(name) in message


def test_unsafe_staff_name_is_refused():
    pillar = site_pillar()
    pillar["users"]["staff"] = {"Ada": {"uid": 2001}}
    assert "'users:staff:Ada': unsafe user name 'Ada'" in errors_of(HUB, pillar)


def test_duplicate_uid_is_refused():
    pillar = site_pillar()
    pillar["users"]["staff"] = {"ada": {"uid": 2001}, "brian": {"uid": 2001}}
    assert "'users:staff:brian:uid' 2001 is also the uid of 'ada'" in errors_of(HUB, pillar)


def test_staff_uid_inside_the_student_range_is_refused():
    pillar = site_pillar()
    pillar["users"]["staff"] = {"ada": {"uid": 10001}}
    assert "'users:staff:ada:uid' 10001 lies in the student uid range" in errors_of(HUB, pillar)


def test_student_listed_twice_is_refused():
    pillar = site_pillar()
    pillar["users"]["students"] = ["alan", "alan"]
    assert "'users:students': 'alan' is listed twice" in errors_of(HUB, pillar)


def test_missing_oauth_secret_is_refused_on_the_hub():
    pillar = site_pillar()
    del pillar["auth"]["google"]["client_secret"]
    message = errors_of(HUB, pillar)
    assert "'auth:google:client_secret' is missing: put it in secrets/hub.sls" in message


def test_shared_password_authenticator_needs_its_password():
    pillar = site_pillar()
    pillar["auth"]["type"] = "shared_password"
    del pillar["auth"]["google"]["client_secret"]
    message = errors_of(HUB, pillar)
    assert "'auth:shared_password:password' is missing" in message


def test_missing_backup_passphrase_is_refused_when_backups_are_on():
    pillar = site_pillar()
    del pillar["backup"]["passphrase"]
    assert "'backup:passphrase' is missing" in errors_of(HUB, pillar)


def test_missing_tls_key_is_refused_on_the_proxy():
    pillar = site_pillar(secrets=())
    assert "'proxy:tls:key' is missing: put it in secrets/proxy.sls" in errors_of(
        "proxy.example.edu", pillar
    )


def test_secret_that_reached_a_node_is_refused():
    # A secret written in site.sls instead of secrets/hub.sls would reach every minion.
    pillar = site_pillar(secrets=())
    pillar["backup"]["passphrase"] = "oops"
    message = errors_of("node1.example.edu", pillar)
    assert "'backup:passphrase' is a secret of the hub but reached 'node1.example.edu'" in message


def test_node_not_in_the_host_list_is_refused():
    pillar = site_pillar()
    pillar["roles"]["nodes"].append("node3.example.edu")
    assert "'roles:nodes' names 'node3.example.edu', which is not in 'hosts'" in errors_of(
        HUB, pillar
    )


def test_hub_not_in_the_host_list_is_refused():
    pillar = site_pillar()
    pillar["roles"]["hub"] = "hub2.example.edu"
    assert "'roles:hub' names 'hub2.example.edu', which is not in 'hosts'" in errors_of(
        "hub2.example.edu", pillar
    )


def test_host_address_must_be_an_ip():
    pillar = site_pillar()
    pillar["hosts"]["node1.example.edu"] = "node-one"
    assert "'hosts:node1.example.edu' must be an IP address" in errors_of(HUB, pillar)


def test_missing_roles_section_is_refused():
    pillar = site_pillar()
    del pillar["roles"]
    assert "'roles' is missing" in errors_of(HUB, pillar)


def test_choice_outside_the_allowed_values_is_refused():
    pillar = site_pillar()
    pillar["auth"]["type"] = "github"
    assert "'auth:type' must be one of google, shared_password" in errors_of(HUB, pillar)


def test_live_restore_on_swarm_members_is_refused():
    pillar = site_pillar()
    pillar["docker"] = {"live_restore": True}
    assert "'docker:live_restore'" in errors_of(HUB, pillar)


def test_computed_key_cannot_be_set_by_the_site():
    pillar = site_pillar()
    pillar["minion_roles"] = ["hub", "proxy"]
    assert "'minion_roles' is computed by the master" in errors_of(HUB, pillar)


def test_every_problem_is_reported_at_once():
    pillar = site_pillar()
    pillar["cull"] = {"timout": 1, "enabled": "yes"}
    message = errors_of(HUB, pillar)
    assert "'cull:timout'" in message and "'cull:enabled' must be a bool" in message


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
        "singleuser": "10.0.0.10:5000/jupyterhub-deploy/singleuser:current",
    }
    assert result["images"]["singleuser_tag"] == "current"  # null: images:tag


def test_the_student_image_has_its_own_tag_and_the_hub_keeps_the_moving_one():
    pillar = site_pillar("example", ("hub",))
    pillar["images"]["singleuser_tag"] = "week5"
    result = deploy.build(HUB, pillar, DEFAULTS)
    assert result["images"]["names"] == {
        "hub": "10.0.0.10:5000/jupyterhub-deploy/hub:current",
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


# --- backup target host ------------------------------------------------------------


def with_backup_host(secrets, host="node2.example.edu"):
    pillar = site_pillar("example", secrets)
    pillar["backup"].update(target=None, target_host=host)
    return pillar


def test_backup_target_host_gets_its_role_and_the_hub_its_sftp_target():
    hub = deploy.build(HUB, with_backup_host(("hub",)), DEFAULTS)
    assert hub["backup"]["target"] == "sftp://jhd-backup@10.0.0.12//srv/backup/home"
    assert hub["minion_roles"] == ["hub"]
    target = deploy.build("node2.example.edu", with_backup_host(()), DEFAULTS)
    assert target["minion_roles"] == ["node", "backup_target"]
    assert target["mine_functions"] == {"backup_host_keys": [{"mine_function": "backup.host_keys"}]}
    node1 = deploy.build("node1.example.edu", with_backup_host(()), DEFAULTS)
    assert node1["minion_roles"] == ["node"] and "mine_functions" not in node1


def test_an_ipv6_backup_target_host_is_bracketed_in_the_url():
    pillar = with_backup_host(("hub",))
    pillar["hosts"]["node2.example.edu"] = "fd00::12"
    hub = deploy.build(HUB, pillar, DEFAULTS)
    assert hub["backup"]["target"] == "sftp://jhd-backup@[fd00::12]//srv/backup/home"


def test_an_explicit_backup_target_wins_over_the_target_host():
    pillar = site_pillar("example", ("hub",))
    pillar["backup"]["target_host"] = "node2.example.edu"
    url = pillar["backup"]["target"]
    assert deploy.build(HUB, pillar, DEFAULTS)["backup"]["target"] == url


def test_backup_target_host_must_be_a_host_and_not_the_hub():
    pillar = site_pillar()
    pillar["backup"]["target_host"] = "nas.example.edu"
    assert "'backup:target_host' names 'nas.example.edu', which is not in 'hosts'" in errors_of(
        HUB, pillar
    )
    pillar["backup"]["target_host"] = HUB
    assert "'backup:target_host' is the hub itself" in errors_of(HUB, pillar)


def test_enabled_backups_need_a_target_or_a_target_host():
    pillar = site_pillar()
    pillar["backup"]["target"] = None
    message = errors_of(HUB, pillar)
    assert (
        "'backup:target' is missing: put it in secrets/hub.sls, or set 'backup:target_host' "
        "in site.sls"
    ) in message


def test_the_backup_target_is_a_hub_secret():
    """Issue #18 item 7: a URL may carry the target's credentials (b2://id:key@...)."""
    node = read("pillar/example/site.sls")["roles"]["nodes"][0]
    pillar = site_pillar(secrets=())
    pillar["backup"]["target"] = "b2://keyid:applicationkey@bucket/home"
    message = errors_of(node, pillar)
    assert f"'backup:target' is a secret of the hub but reached '{node}'" in message
    assert "move it to secrets/hub.sls" in message
    # Derived from backup:target_host (no credentials), the hub alone gets it too.
    lab = read("pillar/lab/site.sls")
    built = {
        minion: deploy.build(minion, site_pillar("lab", roles), DEFAULTS)["backup"]["target"]
        for minion, roles in ((lab["roles"]["hub"], ("hub",)), (lab["roles"]["proxy"], ("proxy",)))
    }
    assert built[lab["roles"]["hub"]].startswith("sftp://jhd-backup@")
    assert built[lab["roles"]["proxy"]] is None


def test_backup_paths_must_be_absolute():
    pillar = site_pillar()
    pillar["backup"]["work_dir"] = "var/lib/backup"
    assert "'backup:work_dir' must be an absolute path" in errors_of(HUB, pillar)


# --- backup:gpg_key --------------------------------------------------------------------

PUBLIC_KEY_BLOCK = (
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEaUtQ2BYJKwYBBAHaRw8BAQdA\n=abcd\n"
    "-----END PGP PUBLIC KEY BLOCK-----\n"
)
PRIVATE_KEY_BLOCK = PUBLIC_KEY_BLOCK.replace("PUBLIC", "PRIVATE")


@pytest.mark.parametrize("block", [PUBLIC_KEY_BLOCK, PRIVATE_KEY_BLOCK])
def test_a_gpg_key_stands_in_for_the_backup_passphrase(block):
    pillar = site_pillar()
    del pillar["backup"]["passphrase"]
    pillar["backup"]["gpg_key"] = block
    hub = deploy.build(HUB, pillar, DEFAULTS)
    assert hub["backup"]["gpg_key"] == block and hub["backup"]["passphrase"] is None


def test_without_passphrase_and_gpg_key_the_error_names_both():
    pillar = site_pillar()
    del pillar["backup"]["passphrase"]
    assert (
        "'backup:passphrase' is missing: put it (or 'backup:gpg_key') in secrets/hub.sls"
        in errors_of(HUB, pillar)
    )


def test_disabled_backups_need_neither():
    pillar = site_pillar()
    del pillar["backup"]["passphrase"]
    pillar["backup"]["enabled"] = False
    assert deploy.build(HUB, pillar, DEFAULTS)["backup"]["gpg_key"] is None


def test_a_gpg_key_is_a_secret_of_the_hub():
    pillar = site_pillar(secrets=())
    pillar["backup"]["gpg_key"] = PRIVATE_KEY_BLOCK
    message = errors_of("node1.example.edu", pillar)
    assert "'backup:gpg_key' is a secret of the hub but reached 'node1.example.edu'" in message
    assert "mDMEaUtQ" not in message


@pytest.mark.parametrize(
    "value",
    [
        "6B3E296D875236EE4E056ADD7014EBA0F79553CF",  # a fingerprint, not a key
        "-----BEGIN PGP MESSAGE-----\nhQEMA\n-----END PGP MESSAGE-----\n",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlFgEaUtQ\n",  # cut short
        PUBLIC_KEY_BLOCK.replace("END PGP PUBLIC", "END PGP PRIVATE"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\n-----END OPENSSH PRIVATE KEY-----\n",
    ],
)
def test_a_gpg_key_that_is_no_armored_key_block_is_refused_without_showing_it(value):
    pillar = site_pillar()
    pillar["backup"]["gpg_key"] = value
    message = errors_of(HUB, pillar)
    assert "'backup:gpg_key' must be an ASCII-armored OpenPGP key block" in message
    assert value.strip().splitlines()[-1] not in message


def test_a_gpg_key_must_be_text():
    pillar = site_pillar()
    pillar["backup"]["gpg_key"] = ["-----BEGIN PGP PUBLIC KEY BLOCK-----"]
    assert "'backup:gpg_key' must be a str, got list" in errors_of(HUB, pillar)


def test_dashboard_staff_uid_port_and_refresh_are_checked_by_name():
    pillar = site_pillar()
    pillar["dashboard"] = {"staff": ["ada", "nobody1"], "uid": 2500, "port": 8081}
    errors = errors_of(HUB, pillar)
    assert "'dashboard:staff' names 'nobody1', who is not in 'users:staff'" in errors
    assert "'dashboard:staff' names 'ada'" not in errors
    assert "'dashboard:uid' 2500 must be a system uid (100-999)" in errors
    assert "'dashboard:port' 8081 is also 'hub:api_port'" in errors
    pillar["dashboard"] = {"refresh": "often"}
    assert "'dashboard:refresh'" in errors_of(HUB, pillar)
    pillar["dashboard"] = {"refresh": "2m", "staff": ["ada"]}
    result = deploy.build(HUB, pillar, DEFAULTS)
    assert result["dashboard"]["refresh"] == 120 and result["dashboard"]["port"] == 8010


@pytest.mark.parametrize(
    "section,key,value,message",
    [
        ("images", "base", "debian:bookworm; touch /tmp/x", "'images:base' must be an image"),
        ("images", "repository", "Jupyter Deploy", "'images:repository' must be a repository"),
        ("images", "extra_ca_certs", ["/etc/ssl/$(id).crt"], "'images:extra_ca_certs[0]'"),
        ("backup", "work_dir", "/var/lib/jhd backup", "'backup:work_dir' must be a plain path"),
    ],
)
def test_values_that_reach_a_command_line_must_be_plain(section, key, value, message):
    """Issue #18 item 8: these reach cmd.run unquoted (salt/hub/image.sls, backup)."""
    pillar = site_pillar()
    pillar.setdefault(section, {})[key] = value
    assert message in errors_of(HUB, pillar)


def test_plain_values_for_the_command_line_pass():
    pillar = site_pillar("example", ("hub",))
    pillar["images"] = {
        "base": "registry.example.edu:5000/debian:trixie@sha256:" + "a" * 64,
        "repository": "course/jupyter-deploy",
        "extra_ca_certs": ["/usr/local/share/ca-certificates/corp.crt"],
    }
    deploy.build(HUB, pillar, DEFAULTS)
