"""
The hub restarted during class: while N students have servers and B of them keep a kernel
websocket busy (an execute every second), three events happen in turn, and for each the
benchmark counts dropped websockets and failed executes, the seconds during which
`/hub/login` did not answer 200, and the time until a student who was not logged in yet
has a ready server.

The events: (a) a hub settings change applied with `state.apply hub` (the hub container
is recreated), (b) the hub container removed and applied again, as a new hub image swaps
it, (b') a JupyterHub release change through the pillar (hub:jupyterhub_version: the image
rebuilt, the database checked, the hub recreated; --release, by default one with the
pinned release's schema, as a security release is), (c) `systemctl reload nginx` on the
proxy. Everything goes through nginx's TLS as a browser's
requests do (tests/common/hubclient.py). Issue #21's goals: 0 dropped websockets for (a)
and (c), 0 failed executes, /hub/login down at most 10 s, a new spawn within 15 s.
"""

import datetime
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks.burst import BurstStudent, lab_students, stop_all, write_ca
from benchmarks.common import Record, arguments, ensure_lab, plot
from tests.common.hubclient import BASE, run_on

EVENTS = ("settings", "hub_recreated", "jupyterhub_release", "nginx_reload")


class Worker(threading.Thread):
    """One student at work: an execute every second on an open kernel websocket; a
    dropped websocket is counted and opened again."""

    def __init__(self, person):
        super().__init__(daemon=True)
        self.person, self.stop = person, threading.Event()
        self.executes, self.failed, self.dropped = 0, [], 0
        self.person.start_kernel()

    def run(self):
        while not self.stop.is_set():
            try:
                if run_on(self.person.ws, "print(6 * 7)", timeout=30).strip() != "42":
                    self.failed.append("wrong answer")
                self.executes += 1
            except Exception as exc:  # noqa: BLE001 - a failure is a figure
                self.failed.append(f"{type(exc).__name__}: {exc}"[:200])
                self.dropped += 1
                self._reconnect()
            self.stop.wait(1)

    def _reconnect(self):
        while not self.stop.is_set():
            try:
                self.person.ws.close()
                self.person.ws = self.person.websocket(
                    f"/api/kernels/{self.person.kernel_id}/channels"
                )
                return
            except Exception:  # noqa: BLE001 - the hub or proxy still away: try again
                self.stop.wait(1)

    def counts(self):
        return self.executes, len(self.failed), self.dropped


class LoginProbe(threading.Thread):
    """GET /hub/login every 0.25 s; the seconds during which it did not answer 200."""

    def __init__(self, ca_file):
        super().__init__(daemon=True)
        self.person = BurstStudent("probe", ca_file)
        self.stop, self.down_s, self.longest_s = threading.Event(), 0.0, 0.0

    def run(self):
        down_since = None
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                ok = self.person.http.get(f"{BASE}/hub/login", timeout=5).status_code == 200
            except Exception:  # noqa: BLE001
                ok = False
            now = time.monotonic()
            if not ok and down_since is None:
                down_since = began
            if ok and down_since is not None:
                self.down_s += now - down_since
                self.longest_s = max(self.longest_s, now - down_since)
                down_since = None
            self.stop.wait(max(0.0, 0.25 - (now - began)))
        if down_since is not None:
            self.down_s += time.monotonic() - down_since


def first_spawn(name, ca_file, began, timeout=300):
    """Seconds from ``began`` until student ``name`` (not logged in before) has a ready
    server, trying again every second while the hub is away; None if never."""
    while time.monotonic() - began < timeout:
        person = BurstStudent(name, ca_file)
        try:
            person.login()
            person.request_server()
            person.wait_ready(timeout)
            took = time.monotonic() - began
            person.stop_server()
            return round(took, 2)
        except Exception:  # noqa: BLE001 - the hub not back yet
            time.sleep(1)
    return None


def trigger(lab, event, limit, release):
    """Run one event; the seconds it took."""
    began = time.monotonic()
    if event == "jupyterhub_release":
        override = f'pillar={{"hub": {{"jupyterhub_version": "{release}"}}}}'
        result = lab.salt("hub", "state.apply", "hub", override, timeout=1800)["hub"]
        assert all(s["result"] for s in result.values()), "state.apply hub failed"
    elif event == "settings":
        override = f'pillar={{"hub": {{"concurrent_spawn_limit": {limit}}}}}'
        result = lab.salt("hub", "state.apply", "hub", override)["hub"]
        assert all(s["result"] for s in result.values()), "state.apply hub failed"
    elif event == "hub_recreated":
        lab.exec("hub", "docker", "rm", "-f", "jupyterhub")
        result = lab.salt("hub", "state.apply", "hub")["hub"]
        assert all(s["result"] for s in result.values()), "state.apply hub failed"
    else:
        lab.exec("proxy", "systemctl", "reload", "nginx")
    return round(time.monotonic() - began, 2)


LOG_TIME = r"\[\w (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) "


def hub_start(lab):
    """From the hub container's own log: how many servers it verified at start and how
    long that took (JupyterHub's "Initialized N spawners"), and the seconds from the
    container's start to "JupyterHub is now running" (grows with servers: jupyterhub#2928).
    """
    log = lab.exec("hub", "sh", "-c", "docker logs jupyterhub 2>&1").stdout
    started = lab.exec("hub", "docker", "inspect", "-f", "{{.State.StartedAt}}", "jupyterhub")
    began = datetime.datetime.fromisoformat(started.stdout.strip()[:26].rstrip("Z"))
    figures = {}
    spawners = re.findall(r"Initialized (\d+) spawners in ([\d.]+) seconds", log)
    if spawners:
        figures["servers_verified"] = int(spawners[-1][0])
        figures["init_spawners_s"] = round(float(spawners[-1][1]), 2)
    running = re.findall(LOG_TIME + r".*JupyterHub is now running", log)
    if running:
        at = datetime.datetime.fromisoformat(running[-1])
        figures["container_to_running_s"] = round((at - began).total_seconds(), 2)
    return figures


def measure(lab, event, workers, ca_file, newcomer, settle_s, release):
    before = [w.counts() for w in workers]
    probe = LoginProbe(ca_file)
    probe.start()
    time.sleep(1)
    began = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        spawn = pool.submit(first_spawn, newcomer, ca_file, began)
        took = trigger(lab, event, limit=99, release=release)
        lab.wait_for_hub()
        time.sleep(settle_s)
        new_spawn_s = spawn.result()
    probe.stop.set()
    probe.join()
    after = [w.counts() for w in workers]
    figures = {
        "event_s": took,
        "executes": sum(a[0] - b[0] for a, b in zip(after, before, strict=True)),
        "failed_executes": sum(a[1] - b[1] for a, b in zip(after, before, strict=True)),
        "dropped_websockets": sum(a[2] - b[2] for a, b in zip(after, before, strict=True)),
        "login_not_200_s": round(probe.down_s, 2),
        "login_longest_gap_s": round(probe.longest_s, 2),
        "new_spawn_ready_s": new_spawn_s,
        "hub_start": hub_start(lab) if event != "nginx_reload" else None,
    }
    print(f"  {event:<14} took {took} s: {figures}")
    return figures


def main(argv=None):
    parser = arguments("restart", __doc__)
    parser.add_argument("--students", type=int, default=40, help="students with servers")
    parser.add_argument("--busy", type=int, default=10, help="of them, executing every second")
    parser.add_argument("--events", default=",".join(EVENTS))
    parser.add_argument("--settle", type=float, default=10.0, help="seconds watched after each")
    parser.add_argument(
        "--release", default="6.1.0", help="JupyterHub release of the jupyterhub_release event"
    )
    parser.add_argument("--name", default="restart", help="record name (results/<name>.json)")
    args = parser.parse_args(argv)
    events = [e for e in args.events.split(",") if e]
    if not set(events) <= set(EVENTS):
        parser.error(f"--events: choose from {', '.join(EVENTS)}")

    lab = ensure_lab()
    names = lab_students(lab, args.students + len(events))
    present, newcomers = names[: args.students], names[args.students :]
    ca_file = write_ca(lab)
    record = Record(args.name, vars(args))
    people = [BurstStudent(name, ca_file) for name in present]

    def arrive(person):
        person.login()
        person.request_server()
        person.wait_ready(600)
        person.open_lab()

    print(f"starting {len(people)} servers ...")
    with ThreadPoolExecutor(min(20, len(people))) as pool:
        list(pool.map(arrive, people))
    workers = [Worker(p) for p in people[: args.busy]]
    for worker in workers:
        worker.start()
    try:
        time.sleep(3)
        record["events"] = {
            event: measure(lab, event, workers, ca_file, newcomer, args.settle, args.release)
            for event, newcomer in zip(events, newcomers, strict=False)
        }
    finally:
        for worker in workers:
            worker.stop.set()
        for worker in workers:
            worker.join(40)
            worker.person.close_kernel()
        # The settings change and the release are put back (the pillar as it is).
        lab.salt("hub", "state.apply", "hub")
        lab.wait_for_hub()
        record["stop_errors"] = stop_all(people)
    record.save()
    plot_events(record)
    return record


def plot_events(record):
    events = list(record["events"].values())

    def series(key):
        return [(i, event[key]) for i, event in enumerate(events)]

    plot(
        record.path(".png"),
        "Hub restarts during class: what students notice",
        " / ".join(f"{i}: {name}" for i, name in enumerate(record["events"])),
        "seconds (or count)",
        {
            "/hub/login not 200 (s)": series("login_not_200_s"),
            "new student's server ready (s)": series("new_spawn_ready_s"),
            "dropped websockets": series("dropped_websockets"),
            "goal: login down 10 s": [(i, 10) for i in range(len(events))],
            "goal: new spawn 15 s": [(i, 15) for i in range(len(events))],
        },
        notes=f"{record['params']['students']} servers, {record['params']['busy']} busy; "
        f"commit {record['machine']['commit']}",
    )
