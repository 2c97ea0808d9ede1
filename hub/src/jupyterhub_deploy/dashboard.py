"""
The staff dashboard: the JupyterHub service ``dashboard`` at ``/services/dashboard/``.

Run as ``python3 -m jupyterhub_deploy.dashboard`` in its own container on the hub
(salt/dashboard), as an unprivileged uid, on the hub's private address; nginx routes
``/services/dashboard/`` to it directly, so it still answers (in words) when the hub is
down. People sign in with the hub's OAuth (``HubOAuth``): only users holding
``access:services!service=dashboard`` get in (admins, and ``dashboard:staff``); the hub
refuses everyone else with 403.

What it shows comes from the snapshot salt writes (dashboard_data.py says how); it holds no
salt key and no pillar secret. Its only token is the one the hub generated for it
(jupyterhub_deploy.config.dashboard_token). Its one action, stopping a student's server,
is done with the signed-in person's own OAuth token, so the hub decides (admins only),
behind tornado's XSRF check and a confirm in the page.
"""

import json
import logging
import os
import pathlib
import time
import urllib.parse

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import httpclient, ioloop, web

from jupyterhub_deploy import dashboard_data
from jupyterhub_deploy.restuser import SAFE_NAME_RE

log = logging.getLogger("jupyterhub_deploy.dashboard")

PREFIX = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/dashboard/")
DATA_DIR = pathlib.Path(os.environ.get("DASHBOARD_DATA_DIR", "/srv/dashboard"))
SNAPSHOT = DATA_DIR / "snapshot.json"
TOKEN_FILE = DATA_DIR / "api_token"
PAGE = pathlib.Path(__file__).with_name("dashboard.html")
# The hub API's liveness is asked at most this often, and waited for this long.
PROBE_EVERY, PROBE_TIMEOUT = 5, 3
HUB_DOWN = (
    "The hub's API does not answer (the hub is down or restarting; on the hub: "
    "docker logs jupyterhub). Below is the last snapshot salt wrote."
)
STOP_SCOPE = "delete:servers"


class HubProbe:
    """Whether the hub's API answers, asked without authentication (``GET /hub/api/``)."""

    def __init__(self, api_url):
        self.api_url = api_url
        self.checked, self.problem = 0.0, None

    async def check(self):
        """None when the hub answers, else the sentence the page shows."""
        if time.monotonic() - self.checked < PROBE_EVERY:
            return self.problem
        try:
            await httpclient.AsyncHTTPClient().fetch(
                url_path_join(self.api_url, "/"), request_timeout=PROBE_TIMEOUT,
                connect_timeout=PROBE_TIMEOUT,
            )  # fmt: skip
            self.problem = None
        except Exception as error:  # noqa: BLE001 - any failure means: not answering
            log.warning("hub API probe: %s", error)
            self.problem = HUB_DOWN
        self.checked = time.monotonic()
        return self.problem


class Handler(HubOAuthenticated, web.RequestHandler):
    """Every page: signed in through the hub; errors as sentences, never a traceback."""

    def can_stop(self):
        scopes = set((self.current_user or {}).get("scopes") or [])
        return STOP_SCOPE in scopes or "admin:servers" in scopes

    def write_error(self, status_code, **kwargs):
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = error_text(status_code, error)
        if "/api/" in self.request.path:
            self.finish({"error": message})
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            "<!doctype html><meta charset=utf-8><title>Staff dashboard</title>"
            f"<h1>Staff dashboard: {status_code}</h1>"
            f"<p id=error>{web.escape.xhtml_escape(message)}</p>"
        )


def error_text(status_code, error):
    """The sentence for an error; HubOAuth's own failures mean the hub did not answer."""
    reason = getattr(error, "log_message", None) or ""
    if status_code in (500, 502) and ("Hub API" in reason or "authorization" in reason):
        return (
            "The hub's API does not answer, so this page cannot check who you are (the hub "
            "is down or restarting; on the hub: docker logs jupyterhub). Try again shortly."
        )
    if status_code == 403:
        return (
            f"{reason or 'You may not open this page.'} The staff dashboard is for hub "
            "admins and the staff listed in the pillar's dashboard:staff."
        )
    if isinstance(error, web.HTTPError) and reason:
        return reason
    if error is not None and not isinstance(error, web.HTTPError):
        return (
            f"The dashboard failed ({type(error).__name__}); on the hub: "
            "docker logs jupyterhub-dashboard."
        )
    return f"HTTP {status_code}."


class HealthHandler(web.RequestHandler):
    """The container's health check (no sign-in, no data)."""

    def get(self):
        self.finish({"ok": True})


class PageHandler(Handler):
    @web.authenticated
    def get(self):
        page = PAGE.read_text(encoding="utf-8")
        values = {
            "xsrf": web.escape.to_unicode(self.xsrf_token),
            "user": self.current_user["name"],
            "can_stop": "true" if self.can_stop() else "false",
            "prefix": PREFIX,
        }
        for key, value in values.items():
            page = page.replace("{{" + key + "}}", web.escape.xhtml_escape(value))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.write(page)


class StatusHandler(Handler):
    @web.authenticated
    async def get(self):
        hub_problem = await self.settings["probe"].check()
        self.set_header("Cache-Control", "no-store")
        try:
            snapshot = dashboard_data.read_snapshot(self.settings["snapshot"])
        except dashboard_data.DataError as error:
            self.finish({"error": str(error), "notices": [hub_problem] if hub_problem else []})
            return
        result = dashboard_data.view(snapshot, dashboard_data.parse_time(now_iso()), hub_problem)
        result["can_stop"] = self.can_stop()
        self.finish(result)


class ActivityHandler(Handler):
    @web.authenticated
    def get(self):
        name = self.get_argument("range", "7d")
        self.set_header("Cache-Control", "no-store")
        try:
            snapshot = dashboard_data.read_snapshot(self.settings["snapshot"])
            self.finish(dashboard_data.activity_view(snapshot, name))
        except dashboard_data.DataError as error:
            self.set_status(400 if name not in dashboard_data.RANGES else 503)
            self.finish({"error": str(error)})


class StopHandler(Handler):
    """``POST api/stop/<user>``: stop one student's server, as the signed-in admin."""

    @web.authenticated
    async def post(self, name):
        # Tornado has decoded the path argument once already: decoding it again turned
        # %252F into "/", and quote() kept it, so the DELETE could reach another API path.
        if not self.can_stop():
            raise web.HTTPError(403, "Only hub admins may stop servers.")
        if not SAFE_NAME_RE.match(name):
            raise web.HTTPError(400, f"{name!r} is not a user name.")
        token = self.hub_auth.get_token(self)
        url = url_path_join(self.hub_auth.api_url, "users", urllib.parse.quote(name, safe=""),
                            "server")  # fmt: skip
        try:
            response = await httpclient.AsyncHTTPClient().fetch(
                url, method="DELETE", headers={"Authorization": f"token {token}"},
                request_timeout=30, raise_error=False,
            )  # fmt: skip
        except Exception as error:  # noqa: BLE001 - the hub is down
            raise web.HTTPError(
                502, "The hub's API does not answer: the server was not stopped."
            ) from error
        if response.code in (202, 204):
            log.info("%s stopped %s's server", self.current_user["name"], name)
            self.finish(
                {"result": f"{name}'s server is stopping; the page shows it at the next snapshot."}
            )
        elif response.code == 400:
            self.set_status(409)
            self.finish({"error": f"{name} has no running server."})
        else:
            self.set_status(502)
            why = f"({response.code}): {hub_message(response)}"
            self.finish({"error": f"The hub refused to stop {name}'s server {why}"})


def hub_message(response):
    try:
        return json.loads(response.body).get("message", "")
    except (ValueError, AttributeError):
        return ""


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def read_token(path=TOKEN_FILE, wait=300):
    """The API token the hub generated for this service (it writes it at its start)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            token = path.read_text(encoding="ascii").strip()
            if token:
                return token
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"dashboard: no API token at {path}: has the hub started?")
        time.sleep(2)


def make_app(snapshot=SNAPSHOT, api_token=None):
    """The tornado application (the hub's OAuth client ``service-dashboard``)."""
    auth = HubOAuth.instance(api_token=api_token or read_token(), cache_max_age=60)
    return web.Application(
        [
            (PREFIX, PageHandler),
            (PREFIX.rstrip("/"), web.RedirectHandler, {"url": PREFIX}),
            (url_path_join(PREFIX, "api/status"), StatusHandler),
            (url_path_join(PREFIX, "api/activity"), ActivityHandler),
            (url_path_join(PREFIX, r"api/stop/([^/]+)"), StopHandler),
            (url_path_join(PREFIX, "oauth_callback"), HubOAuthCallbackHandler),
            (url_path_join(PREFIX, "health"), HealthHandler),
        ],
        snapshot=str(snapshot),
        probe=HubProbe(auth.api_url),
        hub_auth=auth,
        cookie_secret=os.urandom(32),
        xsrf_cookies=True,
    )


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    address = os.environ.get("DASHBOARD_BIND", "127.0.0.1")
    port = int(os.environ.get("DASHBOARD_PORT", "8010"))
    app = make_app()
    app.listen(port, address=address, xheaders=True)
    log.info("staff dashboard on http://%s:%s%s", address, port, PREFIX)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
