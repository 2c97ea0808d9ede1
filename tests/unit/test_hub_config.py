"""jupyterhub_deploy.config: the hub's settings, from the example and lab site pillars.

The pillar is what the master's ext_pillar makes of the site (defaults merged, validated,
durations in seconds); the settings are what salt/hub/init.sls serialises from it.

The hub's sls files themselves are tested in test_hub_sls.py.
"""

import json

import pytest
from jupyterhub_deploy import config
from traitlets.config import Config

from tests.common.hub_objects import LOG
from tests.common.paths import REPO
from tests.common.sites import minion_pillar, pillar_with_tag
from tests.common.sls_render import DIGEST, settings_for


@pytest.fixture(scope="module")
def example():
    return settings_for(minion_pillar("example"))


@pytest.fixture(scope="module")
def lab():
    return settings_for(minion_pillar("lab"))


@pytest.fixture(autouse=True)
def dashboard_dir(tmp_path, monkeypatch):
    """Where configure() keeps the dashboard's token (the hub's /srv/jupyterhub/dashboard)."""
    monkeypatch.setenv("JUPYTERHUB_DEPLOY_DASHBOARD_DIR", str(tmp_path / "dashboard"))
    return tmp_path / "dashboard"


def configured(settings):
    return config.configure(Config(), settings)


def test_the_hub_refuses_at_login_every_name_restuser_refuses(example):
    """Issue #19: the hub's own copy of the reserved names lacked staff, sudo, ...: a login
    as `staff` passed the authenticator and failed later at restuser with a 403 the student
    could not read. Both now take the pillar's users:reserved_names."""
    from jupyterhub_deploy.authenticator import RestuserSharedPasswordAuthenticator
    from tornado import web

    c = configured(example)
    reserved = set(example["users"]["reserved_names"])
    assert {"root", "staff", "sudo", "users", "disk"} <= reserved
    authenticator = RestuserSharedPasswordAuthenticator(config=c)
    assert authenticator.reserved_names == c.SwarmSystemUserSpawner.reserved_names == reserved
    for name in ("staff", "sudo", "root"):
        with pytest.raises(web.HTTPError) as info:
            authenticator.check_system_name(name)
        assert info.value.status_code == 403
    authenticator.check_system_name("alice")


def test_the_hub_knows_it_is_behind_https_and_servers_ignore_user_config(example, lab):
    """Issue #18 item 3: the hub set _xsrf and the OAuth state cookie without Secure; a
    student's own ~/.jupyter config or server extension could serve script on the hub's
    origin."""
    assert configured(example).JupyterHub.public_url == "https://hub.example.edu/"
    c = configured(lab)
    assert c.JupyterHub.public_url == "https://localhost:8443/"
    assert c.JupyterHub.tornado_settings["xsrf_cookie_kwargs"] == {"secure": True}
    assert c.SwarmSystemUserSpawner.disable_user_config is True


def test_settings_are_plain_json_with_secrets(example):
    text = json.dumps(example)
    assert json.loads(text) == example
    assert example["hub"]["cookie_secret"]
    assert "backup" not in example
    assert not example["proxy"]["tls"]["key"]


def test_the_spawner_runs_the_recorded_digest_never_the_bare_tag(example, tmp_path):
    """Issue #18: a tag re-pushed to the registry must not be what the next spawn runs."""
    (tmp_path / "settings.json").write_text(json.dumps({**example, "images": {
        k: v for k, v in example["images"].items() if k != "recorded"}}))  # fmt: skip
    name = example["images"]["names"]["singleuser"]
    settings = config.load_settings(str(tmp_path / "settings.json"))
    assert settings["images"]["recorded"] is None
    with pytest.raises(ValueError, match="no digest of .*singleuser:current recorded in"):
        configured(settings)
    (tmp_path / config.IMAGE_RECORD).write_text(json.dumps({"image": name, "digest": DIGEST}))
    settings = config.load_settings(str(tmp_path / "settings.json"))
    assert configured(settings).SwarmSystemUserSpawner.image == f"{name}@{DIGEST}"
    # A record of another tag (a build of the new one failed) is not used either.
    old = name.replace(":current", ":week4")
    (tmp_path / config.IMAGE_RECORD).write_text(json.dumps({"image": old, "digest": DIGEST}))
    with pytest.raises(ValueError, match="week4"):
        configured(config.load_settings(str(tmp_path / "settings.json")))


def test_hub_and_proxy(example):
    c = configured(example)
    assert c.JupyterHub.bind_url == "http://0.0.0.0:8000"
    assert c.JupyterHub.hub_ip == "0.0.0.0"
    # Issue #18 item 6: not the name `jupyterhub`, which a node's container could take.
    assert c.JupyterHub.hub_connect_ip == "10.213.0.2"
    assert c.JupyterHub.db_url == "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
    assert c.JupyterHub.cookie_secret == bytes.fromhex(example["hub"]["cookie_secret"])
    assert c.JupyterHub.cleanup_servers is False
    assert c.JupyterHub.concurrent_spawn_limit == 100
    # Issue #21: the proxy is its own container; its API on the network only these share.
    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.ConfigurableHTTPProxy.api_url == "http://10.214.0.2:8001"
    assert c.ConfigurableHTTPProxy.auth_token == example["hub"]["proxy_auth_token"]


def test_google_login(example):
    c = configured(example)
    assert c.JupyterHub.authenticator_class.endswith("RestuserGoogleOAuthenticator")
    google = c.GoogleOAuthenticator
    assert google.client_id == "1234-example.apps.googleusercontent.com"
    assert google.client_secret == "replace-with-the-oauth-client-secret"
    assert google.oauth_callback_url == "https://hub.example.edu/hub/oauth_callback"
    assert google.hosted_domain == ["example.edu"]
    assert google.authorize_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert c.Authenticator.allowed_users == {"alan", "grace", "ada"}
    assert c.Authenticator.admin_users == {"ada"}
    assert c.RestuserMixin.fixed_accounts == {"ada": {"uid": 2001, "gid": 2001}}


def test_callback_url_follows_the_public_port(example):
    settings = json.loads(json.dumps(example))
    settings["proxy"]["https_port"] = 8443
    assert config.public_url(settings) == "https://hub.example.edu:8443"
    settings["proxy"].update(server_name="localhost", https_port=443, public_port=8443)
    c = configured(settings)
    assert c.GoogleOAuthenticator.oauth_callback_url == "https://localhost:8443/hub/oauth_callback"


def test_shared_password_login(example):
    settings = json.loads(json.dumps(example))
    settings["auth"]["type"] = "shared_password"
    settings["auth"]["shared_password"]["password"] = "workshop-password"
    c = configured(settings)
    assert c.JupyterHub.authenticator_class.endswith("RestuserSharedPasswordAuthenticator")
    assert c.SharedPasswordAuthenticator.user_password == "workshop-password"
    assert "GoogleOAuthenticator" not in c


def test_spawner(example):
    s = configured(example).SwarmSystemUserSpawner
    assert s.image == f"10.0.0.10:5000/jupyterhub-deploy/singleuser:current@{DIGEST}"
    assert s.network_name == "jupyterhub"
    assert s.mem_limit == "1G"
    assert "cpu_limit" not in s
    assert (s.start_timeout, s.http_timeout) == (300, 120)
    assert (s.uid_min, s.uid_max) == (10000, 59999)
    assert s.single_host is False
    assert s.volumes == {"/srv/nbgrader/exchange": {"bind": "/srv/nbgrader/exchange", "mode": "rw"}}


def test_single_host_site(example):
    settings = json.loads(json.dumps(example))
    settings["roles"]["nodes"] = [settings["roles"]["hub"]]
    assert configured(settings).SwarmSystemUserSpawner.single_host is True


def test_services_have_least_privilege(example):
    c = configured(example)
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert services["salt"]["api_token"] == "replace-with-openssl-rand-hex-32"
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["salt-service"]["services"] == ["salt"]
    assert "admin:users" not in roles["salt-service"]["scopes"]
    # Culling is salt's (salt/cull), with the salt token: no culler inside the hub.
    assert set(services) == {"salt", "dashboard"}
    assert "delete:servers" in roles["salt-service"]["scopes"]


def test_the_dashboard_token_is_made_once_readable_by_its_group_only(example, dashboard_dir):
    c = configured(example)
    token_file = dashboard_dir / "api_token"
    token = token_file.read_text().strip()
    assert len(token) == 64 and int(token, 16) >= 0
    assert token_file.stat().st_mode & 0o777 == 0o640
    assert token_file.stat().st_gid == example["dashboard"]["uid"]
    # A restart keeps it (the running dashboard holds it).
    assert configured(example).JupyterHub.services[-1]["api_token"] == token
    assert {s["name"]: s for s in c.JupyterHub.services}["dashboard"]["api_token"] == token


def test_the_dashboard_reads_only_and_lets_admins_and_its_staff_in(example):
    settings = json.loads(json.dumps(example))
    settings["dashboard"]["staff"] = ["ta1"]
    c = configured(settings)
    service = {s["name"]: s for s in c.JupyterHub.services}["dashboard"]
    # Signed in through the hub; no route in the hub's proxy (nginx reaches it).
    assert "url" not in service
    assert service["oauth_redirect_uri"] == "/services/dashboard/oauth_callback"
    # Its people's tokens may stop servers only where they may: admins.
    assert service["oauth_client_allowed_scopes"] == ["delete:servers"]
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["dashboard-service"]["scopes"] == ["list:users", "read:users", "read:servers"]
    assert roles["dashboard-viewers"] == {
        "name": "dashboard-viewers",
        "scopes": ["access:services!service=dashboard"],
        "users": ["ta1"],
    }


def test_no_dashboard_when_disabled(example):
    settings = json.loads(json.dumps(example))
    settings["dashboard"]["enabled"] = False
    c = configured(settings)
    assert [s["name"] for s in c.JupyterHub.services] == ["salt"]
    assert not any(r["name"].startswith("dashboard") for r in c.JupyterHub.load_roles)


def test_activity_interval_reaches_hub_and_servers(example):
    settings = json.loads(json.dumps(example))
    settings["hub"]["activity_interval"] = 30
    c = configured(settings)
    assert c.JupyterHub.last_activity_interval == 30
    assert c.SwarmSystemUserSpawner.environment == {"JUPYTERHUB_ACTIVITY_INTERVAL": "30"}


def test_every_setting_is_a_real_trait(example):
    """A typo in a trait name would be silently ignored by traitlets: check each one."""
    from jupyterhub.app import JupyterHub
    from jupyterhub.auth import Authenticator, LocalAuthenticator
    from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
    from jupyterhub.proxy import ConfigurableHTTPProxy
    from jupyterhub_deploy.authenticator import RestuserMixin
    from jupyterhub_deploy.spawner import SwarmSystemUserSpawner
    from oauthenticator.google import GoogleOAuthenticator

    classes = {
        cls.__name__: cls
        for cls in (
            JupyterHub,
            Authenticator,
            LocalAuthenticator,
            GoogleOAuthenticator,
            SharedPasswordAuthenticator,
            ConfigurableHTTPProxy,
            RestuserMixin,
            SwarmSystemUserSpawner,
        )
    }
    shared = json.loads(json.dumps(example))
    shared["auth"]["type"] = "shared_password"
    for settings in (example, shared):
        c = configured(settings)
        for section, values in c.items():
            traits = classes[section].class_trait_names(config=True)
            assert set(values) <= set(traits), (section, set(values) - set(traits))


def test_jupyterhub_loads_the_config_file(example, tmp_path, monkeypatch):
    """jupyterhub_config.py loads the settings file; our authenticator takes its config."""
    from jupyterhub.app import JupyterHub

    settings = json.loads(json.dumps(example))
    record = settings["images"].pop("recorded")
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    (tmp_path / config.IMAGE_RECORD).write_text(json.dumps(record))
    monkeypatch.setenv("JUPYTERHUB_DEPLOY_SETTINGS", str(path))
    app = JupyterHub(log=LOG)
    app.load_config_file(str(REPO / "hub/jupyterhub_config.py"))
    authenticator = app.authenticator_class(parent=app, config=app.config, log=LOG)
    assert authenticator.restuser_socket == "/run/restuser/restuser.sock"
    assert authenticator.allowed_users == {"alan", "grace", "ada"}
    assert app.spawner_class.__name__ == "SwarmSystemUserSpawner"
    assert app.cleanup_servers is False


def test_lab_site(lab):
    c = configured(lab)
    image = f"172.30.77.10:5000/jupyterhub-deploy/singleuser:current@{DIGEST}"
    assert c.SwarmSystemUserSpawner.image == image
    burst = {f"student{n:02d}" for n in range(1, 45)}  # benchmarks' classes
    assert c.Authenticator.allowed_users == {"alice", "bob", "carol", "labadmin"} | burst
    assert c.GoogleOAuthenticator.oauth_callback_url == "https://localhost:8443/hub/oauth_callback"


# --- the student image's own tag (images:singleuser_tag) -----------------------------------


STUDENT = "10.0.0.10:5000/jupyterhub-deploy/singleuser"


def test_the_hub_spawns_the_student_tag():
    settings = settings_for(pillar_with_tag("week5"))
    assert config.image_name(settings, "singleuser") == f"{STUDENT}:week5"
    assert config.image_name(settings, "hub").endswith("/hub:current")
