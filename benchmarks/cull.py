"""
Culling at scale: one beacon poll and one cull cycle against a hub with 100 to 5,000 users
of whom about 50 have running servers, and how many hub API requests each makes.

The hub is real (our hub image and sqlite database, run as a second container
`jhd-bench-hub` on the lab's hub host, in the network namespace of a second proxy from our
proxy image, `jhd-bench-proxy`), and so is the client: salt's
`_modules/jupyterhub.py`, the code the beacon and `state.apply cull` run. The servers are
a stand-in, in this benchmark only: a spawner whose "server" is one shared HTTP endpoint
that answers 200, so 50 running servers cost nothing and the figures are the hub's and the
client's alone. Users are created through the hub's API.
"""

import collections
import concurrent.futures
import json
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from benchmarks.common import Record, arguments, ensure_lab, plot
from tests.common.loaders import load

CONTAINER = "jhd-bench-hub"
PROXY_CONTAINER = "jhd-bench-proxy"
PROXY_TOKEN = "bench-only-proxy-token-0123456789abcdef"
HOST_DIR = "/srv/jhd-bench"
PORT = 18081  # published on the hub host's lab address
SALT_TOKEN = "bench-only-salt-token-0123456789abcdef"
ADMIN_TOKEN = "bench-only-admin-token-0123456789abcdef"

BENCH_CONFIG = f'''
# Benchmark only (benchmarks/cull.py): a hub with a stand-in spawner.
import http.server, threading
from jupyterhub.spawner import Spawner
from jupyterhub_deploy.config import SERVICE_SCOPES

class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass

_server = http.server.ThreadingHTTPServer(("127.0.0.1", 9999), _Ok)
threading.Thread(target=_server.serve_forever, daemon=True).start()

class StandInSpawner(Spawner):
    """Every server is the one endpoint above: starts and stops at once."""
    running = False
    async def start(self):
        self.running = True
        return ("127.0.0.1", 9999)
    async def poll(self):
        return None if self.running else 0
    async def stop(self, now=False):
        self.running = False

c = get_config()
c.JupyterHub.spawner_class = StandInSpawner
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.hub_ip = "0.0.0.0"
# The proxy runs in its own container, as the site's does; the hub shares its namespace.
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8001"
c.ConfigurableHTTPProxy.auth_token = "{PROXY_TOKEN}"
c.JupyterHub.hub_port = 8081
c.JupyterHub.db_url = "sqlite:////tmp/bench.sqlite"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.concurrent_spawn_limit = 0
c.JupyterHub.services = [
    {{"name": "salt", "api_token": "{SALT_TOKEN}"}},
    {{"name": "bench", "api_token": "{ADMIN_TOKEN}"}},
]
c.JupyterHub.load_roles = [
    {{"name": "salt-service", "scopes": SERVICE_SCOPES["salt"], "services": ["salt"]}},
    {{"name": "bench-admin", "scopes": ["admin:users", "admin:servers"], "services": ["bench"]}},
]
'''


def hub_exec(lab, *cmd, input=None):
    return lab.exec("hub", *cmd, input=input)


def start_bench_hub(lab):
    def image_of(container):
        out = hub_exec(lab, "docker", "inspect", "--format", "{{.Config.Image}}", container)
        return out.stdout.strip()

    address = lab_address(lab)
    hub_exec(lab, "docker", "rm", "-f", CONTAINER, PROXY_CONTAINER)
    hub_exec(lab, "mkdir", "-p", HOST_DIR)
    hub_exec(lab, "sh", "-c", f"cat > {HOST_DIR}/config.py", input=BENCH_CONFIG)
    hub_exec(lab, "sh", "-c", f"cat > {HOST_DIR}/proxy_token", input=PROXY_TOKEN)
    hub_exec(lab, "docker", "run", "-d", "--name", PROXY_CONTAINER,
             "-p", f"{address}:{PORT}:8081", "-v", f"{HOST_DIR}:/bench:ro",
             "-e", "PROXY_TOKEN_FILE=/bench/proxy_token", image_of("jupyterhub-proxy"),
             "--api-ip", "127.0.0.1", "--default-target", "http://127.0.0.1:8081")  # fmt: skip
    hub_exec(lab, "docker", "run", "-d", "--name", CONTAINER,
             "--network", f"container:{PROXY_CONTAINER}", "-v", f"{HOST_DIR}:/bench:ro",
             image_of("jupyterhub"), "jupyterhub", "--config", "/bench/config.py")  # fmt: skip
    url = f"http://{address}:{PORT}/hub/api"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/", timeout=2):
                return url
        except OSError:
            if time.monotonic() > deadline:
                log = hub_exec(lab, "docker", "logs", "--tail", "30", CONTAINER).stderr
                raise SystemExit(f"the benchmark hub did not start:\n{log}") from None
            time.sleep(0.5)


def stop_bench_hub(lab):
    lab.exec("hub", "docker", "rm", "-f", CONTAINER, PROXY_CONTAINER, check=False)


def lab_address(lab):
    from tests.common.lab import SITE

    return SITE["hosts"]["hub"]


def admin(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"token {ADMIN_TOKEN}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status


def grow_users(api, have, want):
    """Create users user<have>..user<want-1> through the API, 500 per request."""
    for start in range(have, want, 500):
        names = [f"user{i:05d}" for i in range(start, min(want, start + 500))]
        admin("POST", f"{api}/users", {"usernames": names})


def start_servers(api, names):
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda n: admin("POST", f"{api}/users/{n}/server"), names))


def load_client(api):
    """salt's jupyterhub execution module, with the options and pillar it would get."""
    module = load(
        "_modules/jupyterhub.py",
        {
            "__opts__": {"jupyterhub.api_url": api},
            "__pillar__": {"hub": {"api_tokens": {"salt": SALT_TOKEN}}, "cull": {}},
        },
    )  # with __utils__, as salt's loader gives it
    module.CULL_RECORD = str(Path(tempfile.mkdtemp(prefix="jhd-cull-")) / "last-cull.json")
    return module


def request_kind(method, url):
    """``GET /users``, ``DELETE /users/<name>/server``...: a request with the name elided."""
    parts = urllib.parse.urlsplit(url).path.split("/hub/api", 1)[-1].strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "users":
        parts[1] = "<name>"
    return f"{method} /" + "/".join(parts)


class CountingOpener:
    """Counts the client's HTTP requests by kind, by wrapping urlopen."""

    def __init__(self):
        self.counts = collections.Counter()
        self._urlopen = urllib.request.urlopen

    def __enter__(self):
        def counting(request, *args, **kwargs):
            if isinstance(request, urllib.request.Request):
                self.counts[request_kind(request.get_method(), request.full_url)] += 1
            return self._urlopen(request, *args, **kwargs)

        urllib.request.urlopen = counting
        return self

    def __exit__(self, *exc):
        urllib.request.urlopen = self._urlopen

    @property
    def total(self):
        return sum(self.counts.values())


def measure(client, api, size, running, repeats):
    names = [f"user{i:05d}" for i in range(running)]
    start_servers(api, names)
    time.sleep(1.5)  # idle for longer than the timeout below
    polls, poll_requests = [], None
    for _ in range(repeats):
        with CountingOpener() as counter:
            began = time.perf_counter()
            idle = client.idle_servers(timeout=1, exempt_admins=False)
            polls.append(time.perf_counter() - began)
        poll_requests = dict(counter.counts)
    with CountingOpener() as counter:
        began = time.perf_counter()
        outcome = client.cull(timeout=1, exempt_admins=False, concurrency=10)
        cull_s = time.perf_counter() - began
    stopped = sum(1 for r in outcome["results"].values() if r == "stopped")
    return {
        "users": size,
        "running": running,
        "idle_found": len(idle),
        "poll_s": round(statistics.median(polls), 3),
        "poll_requests": sum(poll_requests.values()),
        "poll_requests_by_kind": poll_requests,
        "cull_s": round(cull_s, 2),
        "cull_stopped": stopped,
        "cull_requests": counter.total,
        "cull_requests_by_kind": dict(counter.counts),
    }


def main(argv=None):
    parser = arguments("cull", __doc__)
    parser.add_argument("--users", default="100,1000,5000", help="hub sizes for the curve")
    parser.add_argument("--running", type=int, default=50, help="servers running at each size")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--name", default="cull")
    args = parser.parse_args(argv)
    record = Record(args.name, vars(args))
    lab = ensure_lab()
    api = start_bench_hub(lab)
    try:
        client = load_client(api)
        have, results = 0, {}
        for size in [int(s) for s in args.users.split(",")]:
            grow_users(api, have, size)
            have = size
            fig = measure(client, api, size, min(args.running, size), args.repeats)
            results[str(size)] = fig
            print(f"{size:>5} users, {fig['running']} running: poll {fig['poll_s']} s "
                  f"({fig['poll_requests']} requests, {fig['idle_found']} idle); cull of "
                  f"{fig['cull_stopped']} in {fig['cull_s']} s "
                  f"({fig['cull_requests']} requests)")  # fmt: skip
    finally:
        stop_bench_hub(lab)
    record["sizes"] = results
    record.save()
    xs = sorted(int(k) for k in results)
    plot(
        record.path(".png"),
        f"Culling: one beacon poll and one cull cycle ({args.running} running servers)",
        "users on the hub",
        "seconds",
        {
            "beacon poll (idle_servers)": [(x, results[str(x)]["poll_s"]) for x in xs],
            "cull cycle (stops every idle server)": [(x, results[str(x)]["cull_s"]) for x in xs],
            "goal: poll within 2 s": [(x, 2) for x in xs],
        },
        notes=f"{record['machine']['cores']} cores, commit {record['machine']['commit']}; "
        "stand-in servers (see benchmarks/cull.py)",
    )
    return record
