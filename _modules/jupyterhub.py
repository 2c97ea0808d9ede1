"""
The hub's REST API, for salt: the one client that culling, stats and status use.

The hub publishes its API (the container's port 8081) on the hub host's loopback only
(salt/hub/init.sls), so this module runs on the hub minion. It authenticates with the
`salt` service token from pillar ``hub:api_tokens:salt``, whose role allows listing users
and reading and stopping servers, nothing more (jupyterhub_deploy.config.SERVICE_SCOPES).

``student_image`` reads the hub's settings file instead: which image it spawns.

Minion options: ``jupyterhub.api_url`` overrides the API's URL (default
``http://127.0.0.1:<hub:api_port>/hub/api``).

Why about 400 lines: one client with one function per question salt asks the hub, each
with its operator's docstring; the cull's coalescing belongs with the cull.
"""

import concurrent.futures
import datetime
import fcntl
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from salt.exceptions import CommandExecutionError

__virtualname__ = "jupyterhub"

TIMEOUT = 30
PAGE_SIZE = 200
PAGINATION = "application/jupyterhub-pagination+json"
# What the last cull did, for the status runner (written by cull()).
CULL_RECORD = "/var/lib/jupyterhub-deploy/last-cull.json"


def __virtual__():
    return __virtualname__


def _api():
    """``(API URL, token)`` from the minion's options and pillar.

    Read in the calling thread: salt's dunders are context variables that worker threads
    (stop_servers) do not see.
    """
    url = __opts__.get("jupyterhub.api_url")
    if not url:
        port = __pillar__.get("hub", {}).get("api_port", 8081)
        url = f"http://127.0.0.1:{port}/hub/api"
    token = __pillar__.get("hub", {}).get("api_tokens", {}).get("salt")
    if not token:
        raise CommandExecutionError(
            "pillar 'hub:api_tokens:salt' is not set: the hub API needs the salt service "
            "token (secrets/hub.sls)"
        )
    return url.rstrip("/"), token


def _request(method, path, query=None, accept="application/json", api=None):
    """``(status, decoded JSON or None)``; the hub being down or refusing the token raises."""
    base, token = api or _api()
    url = base + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(url, method=method)
    request.add_header("Authorization", f"token {token}")
    request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
        if status in (401, 403):
            raise CommandExecutionError(
                f"the hub refused {method} {path} ({status}): check pillar "
                "'hub:api_tokens:salt' matches the hub's settings (state.apply hub)"
            ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CommandExecutionError(
            f"the hub API at {base} does not answer ({reason}): is the `jupyterhub` "
            "container running? See `docker logs jupyterhub` on the hub"
        ) from None
    if not raw:
        return status, None
    try:
        return status, json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CommandExecutionError(
            f"the hub answered {method} {path} with {status} and a body that is not JSON: "
            f"{raw[:200]!r}"
        ) from None


def _user_path(name):
    return "/users/" + urllib.parse.quote(str(name), safe="")


def _parse_time(value):
    """An aware UTC datetime from the hub's ISO 8601 timestamps (None stays None)."""
    if not value:
        return None
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed


def info():
    """
    The hub's version and whether it answers with our token: ``{"version", "url"}``.

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub.info
    """
    status, data = _request("GET", "/")
    if status != 200:
        raise CommandExecutionError(f"the hub answered GET / with {status}: {data}")
    # The root answers without a token: prove the token too.
    _request("GET", "/users", query={"limit": 1}, accept=PAGINATION)
    return {"version": data.get("version"), "url": _api()[0]}


def list_users(state=None):
    """
    Every user of the hub as the REST API's user models (``name``, ``admin``,
    ``last_activity``, ``servers`` ...), following the API's pagination. ``state=ready``
    returns only users with a running server (``active``, ``inactive`` as the API).

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub.list_users state=ready
    """
    users, offset = [], 0
    while True:
        query = {"offset": offset, "limit": PAGE_SIZE}
        if state:
            query["state"] = state
        status, data = _request("GET", "/users", query=query, accept=PAGINATION)
        if status != 200:
            raise CommandExecutionError(f"the hub answered GET /users with {status}: {data}")
        # A hub without pagination support answers with a plain list.
        if isinstance(data, list):
            return users + data
        users.extend(data["items"])
        following = (data.get("_pagination") or {}).get("next")
        if not following or not data["items"]:
            return users
        offset = following["offset"]


def get_user(name, api=None):
    """
    The hub's model of user ``name``, or None if the hub does not know them.

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub.get_user alice
    """
    status, data = _request("GET", _user_path(name), api=api)
    if status == 404:
        return None
    if status != 200:
        raise CommandExecutionError(f"the hub answered GET {_user_path(name)} with {status}")
    return data


def proxy_routes():
    """
    The users whose server the hub's proxy routes to, sorted. The proxy (its own container,
    salt/hub/proxy.sls) keeps routes in memory: after its own restart it has none until
    the hub puts them back (at the hub's start, or its next activity check). Its API is on
    the hub host's private Docker network, which the host reaches.

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub.proxy_routes
    """
    hub = __pillar__.get("hub", {})
    url = f"http://{hub.get('proxy_api_address')}:8001/api/routes"
    request = urllib.request.Request(url)
    request.add_header("Authorization", f"token {hub.get('proxy_auth_token')}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            routes = json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CommandExecutionError(
            f"the hub's proxy API at {url} does not answer ({getattr(exc, 'reason', exc)}): "
            "is the `jupyterhub-proxy` container running? See `docker logs jupyterhub-proxy`"
        ) from None
    return sorted({data["user"] for data in routes.values() if data.get("user")})


def running_servers():
    """
    ``{user: server model}`` of every running (ready) default server.

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub.running_servers
    """
    running = {}
    for user in list_users(state="ready"):
        server = (user.get("servers") or {}).get("")
        if server and server.get("ready"):
            running[user["name"]] = dict(server, admin=bool(user.get("admin")))
    return running


def idle_reason(server, timeout, max_age=0, now=None):
    """
    Why a running server should be culled, or None: idle longer than ``timeout`` seconds
    (by its last activity, else its start), or older than ``max_age`` seconds (0: never).
    Pending or not-ready servers are never culled.
    """
    if server.get("pending") or not server.get("ready"):
        return None
    now = now or datetime.datetime.now(datetime.UTC)
    started = _parse_time(server.get("started"))
    last_activity = _parse_time(server.get("last_activity")) or started
    if last_activity is not None:
        idle = (now - last_activity).total_seconds()
        if idle > timeout:
            return f"idle for {int(idle)}s (timeout {int(timeout)}s)"
    if max_age and started is not None:
        age = (now - started).total_seconds()
        if age > max_age:
            return f"running for {int(age)}s (max age {int(max_age)}s)"
    return None


def idle_servers(timeout=None, max_age=None, exempt_admins=None):
    """
    ``{user: reason}`` of the running servers to cull, by pillar ``cull:`` unless given.

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub.idle_servers timeout=3600
    """
    cull = __pillar__.get("cull", {})
    timeout = int(cull.get("timeout", 86400) if timeout is None else timeout)
    max_age = int(cull.get("max_age", 0) if max_age is None else max_age)
    exempt_admins = cull.get("exempt_admins", True) if exempt_admins is None else exempt_admins
    now = datetime.datetime.now(datetime.UTC)
    idle = {}
    for name, server in running_servers().items():
        if exempt_admins and server["admin"]:
            continue
        reason = idle_reason(server, timeout, max_age, now)
        if reason:
            idle[name] = reason
    return idle


def stop_server(name, wait=60, api=None):
    """
    Stop ``name``'s server and wait up to ``wait`` seconds for it to be gone. True when
    it stopped, False when it was not running.

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub.stop_server alice
    """
    api = api or _api()
    path = _user_path(name) + "/server"
    status, data = _request("DELETE", path, api=api)
    if status == 404:
        # No such user, or a user who never had a server.
        if get_user(name, api) is None:
            raise CommandExecutionError(f"the hub has no user {name}")
        return False
    if status == 400:
        # The hub refuses while a start is pending.
        message = (data or {}).get("message", data)
        raise CommandExecutionError(f"the hub would not stop {name}'s server now: {message}")
    if status not in (202, 204):
        raise CommandExecutionError(f"the hub answered DELETE {path} with {status}: {data}")
    deadline = time.monotonic() + wait
    while status == 202:
        user = get_user(name, api) or {}
        if not (user.get("servers") or {}).get(""):
            break
        if time.monotonic() > deadline:
            raise CommandExecutionError(f"{name}'s server was still stopping after {wait}s")
        time.sleep(1)
    return True


def stop_servers(names, concurrency=10, wait=60):
    """
    Stop several users' servers, at most ``concurrency`` at a time (a class's worth of
    deletes at once would make the hub and swarm queue them anyway). Returns
    ``{name: "stopped" | "not running" | error message}``.

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub.stop_servers '[alice, bob]'
    """
    results, api = {}, _api()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(concurrency))) as pool:
        futures = {pool.submit(stop_server, name, wait, api): name for name in names}
        for future in concurrent.futures.as_completed(futures):
            name = futures[future]
            try:
                results[name] = "stopped" if future.result() else "not running"
            except CommandExecutionError as exc:
                results[name] = f"failed: {exc}"
    return results


def cull(timeout=None, max_age=None, exempt_admins=None, test=False, concurrency=10, coalesce=0):
    """
    Stop the servers :func:`idle_servers` finds (asking the hub itself, never trusting a
    caller's list) and record the run for the status runner. Returns
    ``{"culled": {user: reason}, "results": {user: outcome}, "time": ISO UTC}``;
    ``test=True`` only reports.

    ``coalesce`` (seconds, the reactor's): skip, returning ``{"skipped": why}``, while
    another cull runs or when the last one was fewer seconds ago. Any minion can fire the
    idle event the reactor answers, so a flood of them runs one cull at a time; and it is
    this function, not ``state.apply``, so it never holds the state lock that an admin's
    ``state.apply`` on the hub needs.

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub.cull test=True
    """
    if not coalesce:
        return _cull(timeout, max_age, exempt_admins, test, concurrency)
    path = __opts__.get("jupyterhub.cull_record", CULL_RECORD)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".lock", "w", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return {"skipped": "another cull is running"}
        last = last_cull()
        if last and last.get("time"):
            age = time.time() - _parse_time(last["time"]).timestamp()
            if 0 <= age < float(coalesce):
                return {"skipped": f"the last cull was {age:.0f}s ago (coalesce {coalesce}s)"}
        return _cull(timeout, max_age, exempt_admins, test, concurrency)


def _cull(timeout, max_age, exempt_admins, test, concurrency):
    idle = idle_servers(timeout, max_age, exempt_admins)
    when = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    if test:
        return {"culled": idle, "results": {}, "time": when}
    results = stop_servers(sorted(idle), concurrency=concurrency) if idle else {}
    record = {"culled": idle, "results": results, "time": when}
    _write_record(record)
    return record


def _write_record(record):
    path = __opts__.get("jupyterhub.cull_record", CULL_RECORD)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    os.replace(tmp, path)


def last_cull():
    """
    What the last cull did (``{"culled", "results", "time"}``), or None before the first.

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub.last_cull
    """
    path = __opts__.get("jupyterhub.cull_record", CULL_RECORD)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def student_image():
    """
    The student image the hub spawns (``images:names:singleuser``), from the settings file
    the hub's container reads at its start (``<hub:data_dir>/settings.json``, which salt
    restarts it for whenever that file changes), pinned to the digest imagectl recorded
    beside it (``singleuser-image.json``) as the hub's config pins it:
    ``host:port/jupyterhub-deploy/singleuser:week5@sha256:...``; the bare name while no
    digest of it is recorded. Not the hub's API: it does not say. The nodes read it from
    the mine (``student_image``) to pre-pull exactly that digest.

    CLI Example:

    .. code-block:: bash

        salt hub jupyterhub.student_image
    """
    data_dir = __pillar__.get("hub", {}).get("data_dir", "/srv/jupyterhub")
    path = os.path.join(data_dir, "settings.json")
    try:
        with open(path, encoding="utf-8") as handle:
            name = json.load(handle)["images"]["names"]["singleuser"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CommandExecutionError(f"no student image in {path}: {exc!r}") from exc
    try:
        with open(os.path.join(data_dir, "singleuser-image.json"), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return name
    if isinstance(record, dict) and record.get("image") == name and record.get("digest"):
        return f"{name}@{record['digest']}"
    return name
