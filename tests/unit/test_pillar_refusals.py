"""The site pillar validator (_pillar/jupyterhub_deploy.py) refusing bad input, each with a
message naming the key: one test per refused key, on the example site."""

import pytest

from tests.common.sites import DEFAULTS, deploy, errors_of
from tests.common.sites import sls_pillar as site_pillar

HUB = "hub.example.edu"


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
        ("gs://bucket/home", "duplicity 3 (Debian 13) has no gs:// backend"),
        ("s3+http://bucket/home", "has no s3+http:// backend; use s3:// (boto3)"),
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
    """Issue #18 item 8: these reach cmd.run unquoted (salt/images/build.sls, backup)."""
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


def test_a_site_adds_reserved_names_and_cannot_drop_the_defaults():
    pillar = site_pillar()
    pillar["users"]["reserved_names"] = ["licence"]
    merged = deploy.build(HUB, pillar, DEFAULTS)["users"]["reserved_names"]
    assert merged[-1] == "licence" and {"root", "staff", "sudo"} <= set(merged)
    pillar["users"]["students"] = ["alan", "licence"]
    assert "'users:students': unsafe user name 'licence'" in errors_of(HUB, pillar)


def test_a_reserved_name_that_is_no_user_name_is_refused():
    pillar = site_pillar()
    pillar["users"]["reserved_names"] = ["Bad Name"]
    assert "'users:reserved_names': 'Bad Name' is not a user name" in errors_of(HUB, pillar)


def test_a_containment_allow_entry_that_is_no_network_is_refused():
    pillar = site_pillar()
    pillar["swarm"] = {"containment_allow": ["10.20.0.5", "campus-licence.example.edu"]}
    message = errors_of(HUB, pillar)
    assert "'swarm:containment_allow': 'campus-licence.example.edu' is not an address" in message


@pytest.mark.parametrize(
    "subnet, words",
    [
        ("10.0.0.0/16", "10.0.0.0/16 contains host hub.example.edu (10.0.0.10)"),
        ("10.213.0.0/24", "needs at least a /22"),
        ("10.213.0.1/16", "must be an IPv4 network"),
    ],
)
def test_an_overlay_subnet_that_holds_a_host_or_is_too_small_is_refused(subnet, words):
    pillar = site_pillar()
    pillar["swarm"] = {"overlay_subnet": subnet}
    assert f"'swarm:overlay_subnet' {words}" in errors_of(HUB, pillar)


def test_missing_proxy_token_is_refused_on_the_hub():
    pillar = site_pillar()
    del pillar["hub"]["proxy_auth_token"]
    message = errors_of(HUB, pillar)
    assert "'hub:proxy_auth_token' is missing: put it in secrets/hub.sls" in message
    pillar["hub"]["proxy_auth_token"] = "short"
    assert "'hub:proxy_auth_token' must be 64 hex characters" in errors_of(HUB, pillar)


@pytest.mark.parametrize(
    "subnet, words",
    [
        ("10.213.5.0/29", "10.213.5.0/29 overlaps 'swarm:overlay_subnet' 10.213.0.0/16"),
        ("10.0.0.8/29", "10.0.0.8/29 contains host hub.example.edu (10.0.0.10)"),
        ("10.214.0.0/30", "needs at least a /29"),
        ("proxy-net", "must be an IPv4 network"),
    ],
)
def test_a_proxy_api_subnet_that_clashes_or_is_too_small_is_refused(subnet, words):
    pillar = site_pillar()
    pillar["hub"]["proxy_api_subnet"] = subnet
    assert f"'hub:proxy_api_subnet' {words}" in errors_of(HUB, pillar)
