"""
JupyterHub's configuration from the settings file salt renders from the site pillar.

``jupyterhub_config.py`` calls :func:`configure` with the parsed settings
(``/srv/jupyterhub/settings.json``, mode 0600: it holds the secrets). The settings are the
pillar sections the hub needs, already validated and with durations in seconds by the
master's ext_pillar; everything derived from them is computed here, where it is tested,
rather than in Jinja.
"""

import json
import os
import secrets

SETTINGS_PATH = "/srv/jupyterhub/settings.json"
# Where the hub container mounts things (salt/hub/init.sls).
DATA_DIR = "/srv/jupyterhub"
# Beside the settings: the student image's digest, written by imagectl (salt/images/build.sls).
IMAGE_RECORD = "singleuser-image.json"
RESTUSER_SOCKET = "/run/restuser/restuser.sock"
EXCHANGE_IN_CONTAINER = "/srv/nbgrader/exchange"
# The hub container's name (salt/hub/init.sls).
HUB_CONTAINER = "jupyterhub"
SINGLEUSER_PORT = 8888
# Our versions of JupyterHub's pages (each extends JupyterHub's own).
TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
# The staff dashboard's directory (salt/dashboard): its snapshot and the token made here.
DASHBOARD_DIR = f"{DATA_DIR}/dashboard"
DASHBOARD = "dashboard"

AUTHENTICATORS = {
    "google": "jupyterhub_deploy.authenticator.RestuserGoogleOAuthenticator",
    "shared_password": "jupyterhub_deploy.authenticator.RestuserSharedPasswordAuthenticator",
}

# Least-privilege scopes of our own services' API tokens (pillar hub:api_tokens), by name.
SERVICE_SCOPES = {
    # salt (_modules/jupyterhub.py: culling, stats, status) and the end-to-end tests:
    # see users and servers, stop servers.
    "salt": ["list:users", "read:users", "read:users:activity", "read:servers", "delete:servers"],
}


def load_settings(path=None):
    """
    The parsed settings file (``JUPYTERHUB_DEPLOY_SETTINGS`` overrides the path), with
    ``images:recorded``: the student image's digest as imagectl recorded it beside the
    settings when it built and pushed it (salt/images/build.sls), or None.
    """
    path = path or os.environ.get("JUPYTERHUB_DEPLOY_SETTINGS", SETTINGS_PATH)
    with open(path, encoding="utf-8") as handle:
        settings = json.load(handle)
    try:
        with open(os.path.join(os.path.dirname(path), IMAGE_RECORD), encoding="utf-8") as handle:
            settings["images"]["recorded"] = json.load(handle)
    except (OSError, ValueError):
        settings["images"]["recorded"] = None
    return settings


def public_url(settings):
    """The URL people open: https://<proxy:server_name>[:<proxy:public_port or https_port>]."""
    proxy = settings["proxy"]
    port = int(proxy.get("public_port") or proxy.get("https_port", 443))
    suffix = "" if port == 443 else f":{port}"
    return f"https://{proxy['server_name']}{suffix}"


def student_image(settings):
    """
    The student image the hub spawns: its name pinned to the digest recorded at build time
    (``name:tag@sha256:...``), so a tag re-pushed to the registry is never what students
    run (issue #18).
    """
    name = image_name(settings, "singleuser")
    record = settings["images"].get("recorded") or {}
    digest = str(record.get("digest") or "")
    if record.get("image") != name or not digest.startswith("sha256:"):
        raise ValueError(
            f"no digest of {name} recorded in {DATA_DIR}/{IMAGE_RECORD} (it holds "
            f"{record or 'nothing'}): run `salt -N hub state.apply images.build`"
        )
    return f"{name}@{digest}"


def single_host(settings):
    """True when the hub is also a node: servers may then run on the swarm manager."""
    return settings["roles"]["hub"] in settings["roles"]["nodes"]


def image_name(settings, which):
    """The full name of one of our images (hub, singleuser), as the master's ext_pillar named it."""
    return settings["images"]["names"][which]


def staff_accounts(settings):
    """Staff: ``{name: {"uid", "gid"}}`` (salt's user.present makes a same-numbered group)."""
    return {
        name: {"uid": int(account["uid"]), "gid": int(account.get("gid", account["uid"]))}
        for name, account in settings["users"]["staff"].items()
    }


def services(settings):
    """``(services, roles)`` for our API tokens.

    Idle servers are culled from salt (_beacons/jupyterhub_idle.py, salt/cull) with the
    `salt` token, not by a culler inside the hub.
    """
    service_list, roles = [], []
    for name, token in sorted(settings["hub"].get("api_tokens", {}).items()):
        service_list.append({"name": name, "api_token": token})
        scopes = SERVICE_SCOPES.get(name)
        if scopes:
            roles.append({"name": f"{name}-service", "scopes": scopes, "services": [name]})
    return service_list, roles


def dashboard_token(directory=None, gid=0):
    """
    The staff dashboard's API token, made here on the hub's first start and kept in
    ``<directory>/api_token`` (0640, group ``gid``: the dashboard's, which reads it). It is
    no pillar secret: it never leaves the hub host, and a new one is made if it is deleted.
    """
    directory = directory or os.environ.get("JUPYTERHUB_DEPLOY_DASHBOARD_DIR", DASHBOARD_DIR)
    path = os.path.join(directory, "api_token")
    # salt/dashboard keeps the directory's group and mode; the hub may start first.
    os.makedirs(directory, mode=0o750, exist_ok=True)
    try:
        with open(path, encoding="ascii") as handle:
            token = handle.read().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_hex(32)
    fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    os.chown(path + ".new", 0, int(gid))
    os.chmod(path + ".new", 0o640)
    os.replace(path + ".new", path)
    return token


def dashboard(settings, token):
    """
    ``(service, role)`` of the staff dashboard (jupyterhub_deploy.dashboard). Its token may
    read users and servers; people reach it through nginx, not the hub's proxy (no ``url``),
    and sign in with the hub's OAuth. Admins may open it (their role has every
    ``access:services``); ``dashboard:staff`` get the role below. Its OAuth tokens may stop
    servers, which the hub allows only to those who may: the admins.
    """
    prefix = f"/services/{DASHBOARD}/"
    service = {
        "name": DASHBOARD,
        "api_token": token,
        "oauth_client_id": f"service-{DASHBOARD}",
        "oauth_redirect_uri": f"{prefix}oauth_callback",
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": ["delete:servers"],
        "info": {"url": prefix},
    }
    role = {
        "name": f"{DASHBOARD}-service",
        "scopes": ["list:users", "read:users", "read:servers"],
        "services": [DASHBOARD],
    }
    viewers = {
        "name": f"{DASHBOARD}-viewers",
        "scopes": [f"access:services!service={DASHBOARD}"],
        "users": sorted(settings[DASHBOARD]["staff"]),
    }
    return service, [role, viewers]


def configure(c, settings):
    """Set JupyterHub, authenticator and spawner traits on config ``c`` from settings."""
    hub, auth, spawner = settings["hub"], settings["auth"], settings["spawner"]
    users = settings["users"]
    staff = users["staff"]

    # --- the hub and its proxy ---------------------------------------------------------
    c.JupyterHub.bind_url = f"http://0.0.0.0:{int(hub['port'])}"
    # The hub API listens on every interface of the container: the overlay network, and
    # the hub host's loopback where salt/hub/init.sls publishes it for salt's client
    # (_modules/jupyterhub.py). Servers find it by its fixed overlay address, not by its
    # name, which any container a node starts on the overlay could take as an alias and
    # so collect the tokens servers send (issue #18).
    c.JupyterHub.hub_ip = "0.0.0.0"
    c.JupyterHub.hub_port = 8081
    c.JupyterHub.hub_connect_ip = settings["swarm"]["hub_overlay_address"]
    # The hub is reached only through nginx's HTTPS, but the requests reach it over http
    # (nginx, then the hub's proxy): without its public URL it set the _xsrf and OAuth
    # state cookies without Secure (issue #18). Its own cookies take Secure from the URL,
    # the _xsrf cookie from its kwargs.
    c.JupyterHub.public_url = public_url(settings) + "/"
    c.JupyterHub.tornado_settings = {"xsrf_cookie_kwargs": {"secure": True}}
    c.JupyterHub.db_url = f"sqlite:///{DATA_DIR}/jupyterhub.sqlite"
    c.JupyterHub.cookie_secret_file = f"{DATA_DIR}/jupyterhub_cookie_secret"
    if hub.get("cookie_secret"):
        c.JupyterHub.cookie_secret = bytes.fromhex(hub["cookie_secret"])
    # The proxy runs in its own container (salt/hub/proxy.sls), so students' connections
    # outlive a hub restart; its API listens only on the network the two share.
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = f"http://{hub['proxy_api_address']}:8001"
    c.ConfigurableHTTPProxy.auth_token = hub["proxy_auth_token"]
    # Servers outlive a hub restart; the hub finds them again from its database
    # (jupyterhub#1156, #5107).
    c.JupyterHub.cleanup_servers = False
    # Class start is a burst of logins (jupyterhub#3396, datahub#2650).
    c.JupyterHub.concurrent_spawn_limit = int(hub["concurrent_spawn_limit"])
    # How fresh last_activity is (the proxy's routes are polled this often), which the
    # idle culler relies on.
    c.JupyterHub.last_activity_interval = int(hub["activity_interval"])
    # JupyterHub's pages, one of them extended (templates/spawn_pending.html: a start the
    # hub lost in a restart is asked for again).
    c.JupyterHub.template_paths = [TEMPLATES]

    service_list, roles = services(settings)
    board = settings.get(DASHBOARD) or {}
    if board.get("enabled"):
        service, board_roles = dashboard(settings, dashboard_token(gid=board["uid"]))
        service_list.append(service)
        roles.extend(board_roles)
    c.JupyterHub.services = service_list
    c.JupyterHub.load_roles = roles

    # --- who logs in -------------------------------------------------------------------
    c.JupyterHub.authenticator_class = AUTHENTICATORS[auth["type"]]
    c.Authenticator.allowed_users = set(users["students"]) | set(staff)
    c.Authenticator.admin_users = {name for name, account in staff.items() if account.get("admin")}
    # The pillar is the list: users removed from it lose access at the next restart.
    c.Authenticator.allow_existing_users = False
    c.LocalAuthenticator.create_system_users = True
    c.RestuserMixin.restuser_socket = RESTUSER_SOCKET
    c.RestuserMixin.fixed_accounts = staff_accounts(settings)
    c.RestuserMixin.reserved_names = set(users["reserved_names"])
    if auth["type"] == "google":
        google = auth["google"]
        c.GoogleOAuthenticator.client_id = google["client_id"]
        c.GoogleOAuthenticator.client_secret = google["client_secret"]
        c.GoogleOAuthenticator.oauth_callback_url = f"{public_url(settings)}/hub/oauth_callback"
        c.GoogleOAuthenticator.authorize_url = google["authorize_url"]
        c.GoogleOAuthenticator.token_url = google["token_url"]
        c.GoogleOAuthenticator.userdata_url = google["userdata_url"]
        if google.get("hosted_domain"):
            # One domain: the @domain is stripped, so usernames are the address's local part.
            c.GoogleOAuthenticator.hosted_domain = [google["hosted_domain"]]
    else:
        shared = auth["shared_password"]
        c.SharedPasswordAuthenticator.user_password = shared["password"]
        if shared.get("admin_password"):
            c.SharedPasswordAuthenticator.admin_password = shared["admin_password"]

    # --- the servers -------------------------------------------------------------------
    c.JupyterHub.spawner_class = "jupyterhub_deploy.spawner.SwarmSystemUserSpawner"
    s = c.SwarmSystemUserSpawner
    s.image = student_image(settings)
    s.network_name = settings["swarm"]["network"]
    s.use_internal_ip = True
    s.port = SINGLEUSER_PORT
    s.mem_limit = str(spawner["mem_limit"])
    if spawner.get("cpu_limit"):
        s.cpu_limit = float(spawner["cpu_limit"])
    s.concurrent_starts = spawner["concurrent_starts"]
    s.pids_limit = spawner["pids_limit"]
    s.start_timeout = int(spawner["start_timeout"])
    s.http_timeout = int(spawner["http_timeout"])
    s.uid_min = int(users["student_uid_min"])
    s.uid_max = int(users["student_uid_max"])
    s.fixed_accounts = staff_accounts(settings)
    s.reserved_names = set(settings["users"]["reserved_names"])
    s.restuser_socket = RESTUSER_SOCKET
    s.single_host = single_host(settings)
    # The nodes pre-pull the image (salt/images/prepull.sls: dockerspawner#293); swarm pulls
    # by digest anyway when it must.
    s.pull_policy = "skip"
    if spawner.get("nbgrader_exchange", True):
        # nbgrader's shared exchange (the hub's NFS export, mounted on every node).
        exchange = settings["nfs"]["exchange_dir"]
        s.volumes = {exchange: {"bind": EXCHANGE_IN_CONTAINER, "mode": "rw"}}
    s.disable_user_config = bool(spawner["disable_user_config"])
    # Students start in JupyterLab; /tree is Notebook 7's classic interface.
    s.default_url = "/lab"
    # Servers report their own activity (kernels, terminals) to the hub this often.
    s.environment = {"JUPYTERHUB_ACTIVITY_INTERVAL": str(int(hub["activity_interval"]))}
    return c
