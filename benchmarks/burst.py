"""
The 9:00 class-start burst: N students log in within W seconds and each starts a server,
a kernel, runs ``5*4`` over the websocket and checks the answer; then all stop.

A load client in the spirit of hubtraf, through nginx TLS as a browser goes: the Google
stand-in's OAuth redirects (or JupyterHub's login form with ``_xsrf`` for
``--auth shared_password``), ``POST /hub/api/users/<name>/server``, the hub's progress
event stream (what the spawn-pending page listens to), ``/user/<name>/lab`` through the
server's own OAuth, a kernel and its websocket.

Per phase it reports p50, p95, max and failures; the single-spawn floor (one student
alone); and what one spawn costs in CPU-seconds, measured from /proc for the whole
machine (every lab host is a container on it) and broken down by component.
"""

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from benchmarks.common import (
    REPO,
    CpuMeter,
    Record,
    arguments,
    ensure_lab,
    idle_rate,
    lab_hosts,
    plot,
    summary,
)
from tests.common.hubclient import BASE, Student, execute_request

PHASES = ("login", "spawn", "open", "kernel", "execute")
PASSWORD = "lab-only-workshop-password"  # pillar/lab/secrets/hub.sls


class BurstStudent(Student):
    """A student as the burst drives them, with the browser's progress stream."""

    def request_server(self):
        response = self.hub_api("POST", f"/users/{self.name}/server")
        if response.status_code not in (201, 202):
            raise RuntimeError(f"POST server: {response.status_code} {response.text[:200]}")

    def wait_ready(self, timeout):
        """Follow the hub's progress events (as the spawn-pending page does) until ready."""
        url = f"{BASE}/hub/api/users/{self.name}/server/progress"
        with self.http.get(url, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise RuntimeError(f"progress: {response.status_code} {response.text[:200]}")
            for line in response.iter_lines(decode_unicode=True):
                if not line or not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if event.get("ready"):
                    return
                if event.get("failed"):
                    raise RuntimeError(f"spawn failed: {event.get('message')}")
        raise RuntimeError("progress stream ended before the server was ready")

    def start_kernel(self):
        """A new kernel, its websocket open and its kernel_info answered."""
        kernel = self.server_api("POST", "/kernels", json={"name": "python3"})
        if kernel.status_code != 201:
            raise RuntimeError(f"POST kernels: {kernel.status_code} {kernel.text[:200]}")
        self.kernel_id = kernel.json()["id"]
        self.ws = self.websocket(f"/api/kernels/{self.kernel_id}/channels")
        msg_id = uuid.uuid4().hex
        request = execute_request(msg_id, "")
        request["header"]["msg_type"] = "kernel_info_request"
        request["content"] = {}
        self.ws.send(json.dumps(request))
        self._reply(msg_id, "kernel_info_reply")

    def run_code(self, code, expect):
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps(execute_request(msg_id, code)))
        result = self._reply(msg_id, "execute_result")
        text = result["content"]["data"].get("text/plain", "")
        if text != expect:
            raise RuntimeError(f"{code} gave {text!r}, not {expect!r}")

    def _reply(self, msg_id, kind, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == kind:
                return msg
            if msg["msg_type"] == "error":
                raise RuntimeError("\n".join(msg["content"]["traceback"]))
        raise RuntimeError(f"no {kind} within {timeout}s")

    def close_kernel(self):
        if getattr(self, "ws", None):
            self.ws.close()
        if getattr(self, "kernel_id", None):
            self.server_api("DELETE", f"/kernels/{self.kernel_id}")


def run_student(name, auth, ca_file, t0, offset, timeout):
    """One student's whole visit; phase times relative to the burst's start (t0)."""
    result = {"name": name, "arrive": offset, "phases": {}, "error": None}
    time.sleep(max(0.0, t0 + offset - time.monotonic()))
    person = BurstStudent(name, ca_file)
    steps = {
        "login": (lambda: person.login_with_password(PASSWORD))
        if auth == "shared_password"
        else person.login,
        "spawn": lambda: (person.request_server(), person.wait_ready(timeout)),
        "open": person.open_lab,
        "kernel": person.start_kernel,
        "execute": lambda: person.run_code("5*4", "20"),
    }
    phase = None
    try:
        for phase in PHASES:
            began = time.monotonic()
            steps[phase]()
            result["phases"][phase] = round(time.monotonic() - began, 3)
            if phase == "spawn":
                result["ready_at"] = round(time.monotonic() - t0, 3)
        result["done_at"] = round(time.monotonic() - t0, 3)
    except Exception as exc:  # noqa: BLE001 - every failure is a figure, not a crash
        result["error"] = f"{phase}: {type(exc).__name__}: {exc}"[:500]
    finally:
        person.close_kernel()
    return result, person


def stop_all(people):
    def stop(person):
        try:
            person.stop_server()
            return None
        except Exception as exc:  # noqa: BLE001
            return f"{person.name}: {exc}"

    with ThreadPoolExecutor(max(1, min(len(people), 20))) as pool:
        return [e for e in pool.map(stop, people) if e]


def burst(names, window, auth, ca_file, timeout=600):
    """Run one burst of ``names`` arriving evenly over ``window`` seconds; its figures."""
    n = len(names)
    offsets = [window * i / max(1, n - 1) if n > 1 else 0.0 for i in range(n)]
    meter = CpuMeter()
    t0 = time.monotonic() + 0.5
    meter.start()
    with ThreadPoolExecutor(n) as pool:
        futures = [
            pool.submit(run_student, name, auth, ca_file, t0, off, timeout)
            for name, off in zip(names, offsets, strict=True)
        ]
        outcomes = [f.result() for f in futures]
    results = [r for r, _ in outcomes]
    ready = [r["ready_at"] for r in results if "ready_at" in r]
    all_ready = max(ready) if len(ready) == n else None
    meter.stop()
    stop_errors = stop_all([p for _, p in outcomes])
    figures = {
        "students": n,
        "window_s": window,
        "failures": [r["error"] for r in results if r["error"]],
        "all_ready_s": round(all_ready, 2) if all_ready is not None else None,
        "all_done_s": round(max(r.get("done_at", 0) for r in results), 2),
        "phases": {p: summary([r["phases"].get(p) for r in results]) for p in PHASES},
        "cpu": meter.as_dict(),
        "stop_errors": stop_errors,
        "students_detail": results,
    }
    return figures


def print_burst(label, fig):
    print(f"\n== {label}: {fig['students']} students over {fig['window_s']} s ==")
    for phase, s in fig["phases"].items():
        print(f"  {phase:<8} n={s['n']:<3} p50={s['p50']}  p95={s['p95']}  max={s['max']}")
    print(f"  all ready after {fig['all_ready_s']} s, all done after {fig['all_done_s']} s")
    print(f"  failures: {len(fig['failures'])}" + "".join(f"\n    {e}" for e in fig["failures"]))
    cpu = fig["cpu"]
    print(f"  machine CPU: {cpu['busy_cpu_s']} CPU-s over {cpu['elapsed_s']} s")
    top = list(cpu["by_component_cpu_s"].items())[:8]
    print("  by component: " + ", ".join(f"{k} {v}" for k, v in top))


def floor(lab, names, auth, ca_file, background):
    """One student alone, a few times: the spawn floor, and the CPU-seconds the whole
    machine spends on one spawn (POST to ready, less the idle lab's own use meanwhile)."""
    runs = []
    for name in names:
        settle(lab, background)
        person = BurstStudent(name, ca_file)
        person.login_with_password(PASSWORD) if auth == "shared_password" else person.login()
        meter = CpuMeter().start()
        person.request_server()
        person.wait_ready(600)
        meter.stop()
        try:
            person.open_lab()
            person.start_kernel()
            person.run_code("5*4", "20")
        finally:
            person.close_kernel()
            person.stop_server()
        runs.append({
            "spawn_s": round(meter.elapsed, 3),
            "spawn_cpu_s": round(meter.busy - background * meter.elapsed, 2),
            "by_component_cpu_s": meter.by_component,
        })  # fmt: skip
    return runs


def main(argv=None):
    parser = arguments("burst", __doc__)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--window", type=float, default=10.0, help="seconds over which they arrive")
    parser.add_argument("--auth", choices=["google", "shared_password"], default="google")
    parser.add_argument("--curve", default="4,10,20,40",
                        help="burst sizes for the curve ('' for just --students)")  # fmt: skip
    parser.add_argument("--floor-runs", type=int, default=5)
    parser.add_argument("--name", default="burst", help="record name (results/<name>.json)")
    args = parser.parse_args(argv)

    lab = ensure_lab()
    students = lab_students(lab, max([args.students, *sizes(args.curve)]))
    ca_file = write_ca(lab)
    record = Record(args.name, vars(args))
    with auth_mode(lab, args.auth):
        record["login_burst"] = login_burst(lab, students, args.auth, ca_file)
        settle(lab)
        background = idle_rate()
        record["background_cpu_per_s"] = round(background, 3)
        floor_runs = floor(lab, students[: args.floor_runs], args.auth, ca_file, background)
        floor_spawn = sorted(r["spawn_s"] for r in floor_runs)[len(floor_runs) // 2]
        spawn_cpu = sorted(r["spawn_cpu_s"] for r in floor_runs)[len(floor_runs) // 2]
        record["floor"] = {
            "runs": floor_runs,
            "median_spawn_s": floor_spawn,
            "median_spawn_cpu_s": spawn_cpu,
        }
        print(f"\nsingle-spawn floor: spawn {floor_spawn} s, one spawn costs {spawn_cpu} CPU-s "
              f"(idle lab: {background:.2f} CPU-s/s)")  # fmt: skip
        bursts = {}
        for size in sizes(args.curve) or [args.students]:
            settle(lab, background)
            fig = burst(students[:size], args.window if size > 1 else 0, args.auth, ca_file)
            cores = record["machine"]["cores"]
            fig["cpu_bound_s"] = round(size * spawn_cpu / cores, 2)
            if fig["all_ready_s"]:
                fig["ratio_to_cpu_bound"] = round(fig["all_ready_s"] / fig["cpu_bound_s"], 2)
            p95 = fig["phases"]["spawn"]["p95"]
            fig["p95_spawn_to_floor"] = round(p95 / floor_spawn, 2) if p95 else None
            print_burst(f"burst of {size}", fig)
            print(f"  CPU bound {fig['cpu_bound_s']} s -> ratio {fig.get('ratio_to_cpu_bound')};"
                  f" p95 spawn / floor = {fig['p95_spawn_to_floor']}")  # fmt: skip
            bursts[str(size)] = fig
        record["bursts"] = bursts
    record.save()
    plot_bursts(record)
    return record


def plot_bursts(record):
    bursts = record["bursts"]
    xs = sorted(int(k) for k in bursts)
    plot(
        record.path(".png"),
        "Class-start burst: time until every student's server is ready",
        "students arriving within the window",
        "seconds",
        {
            "all ready (measured)": [(x, bursts[str(x)]["all_ready_s"]) for x in xs],
            "p95 spawn to ready": [(x, bursts[str(x)]["phases"]["spawn"]["p95"]) for x in xs],
            "bound: N x CPU-s per spawn / cores": [(x, bursts[str(x)]["cpu_bound_s"]) for x in xs],
            "goal: 1.5 x bound": [(x, 1.5 * bursts[str(x)]["cpu_bound_s"]) for x in xs],
        },
        notes=f"{record['machine']['cores']} cores, commit {record['machine']['commit']}",
    )


def settle(lab, background=None, timeout=120):
    """Until no student container is left on any node and the machine is back near idle:
    swarm removes stopped servers' containers after the hub reports them stopped, and
    that work must not fall into the next measurement."""
    deadline = time.monotonic() + timeout
    nodes = [h for h in lab_hosts() if h.startswith("node")]
    while time.monotonic() < deadline:
        left = [
            n for n in nodes
            if lab.exec(n, "docker", "ps", "-aq", "--filter", "name=jupyter-").stdout.strip()
        ]  # fmt: skip
        if not left and (background is None or idle_rate(2.0) < 2 * background + 0.05):
            return
        time.sleep(1)
    print(f"  (not settled after {timeout} s: measuring anyway)")


def sizes(curve):
    return [int(s) for s in curve.split(",") if s.strip()]


def lab_students(lab, n):
    """The first ``n`` students of the lab's site pillar (student01..., then the rest)."""
    from tests.common.lab import SITE

    names = SITE["users"]["students"]
    ordered = sorted(names, key=lambda s: (not s.startswith("student"), s))
    if len(ordered) < n:
        raise SystemExit(f"the lab's site pillar lists {len(ordered)} students; {n} needed")
    return ordered[:n]


def write_ca(lab):
    """The lab's CA certificate in .lab/ (git-ignored), for the client's TLS checks."""
    return lab.write_ca(REPO / ".lab" / "benchmark-ca.pem")


class auth_mode:
    """The lab switched to ``auth`` for the run (the hub re-applied), and back afterwards."""

    def __init__(self, lab, auth):
        self.lab, self.auth, self.changes = lab, auth, None

    def __enter__(self):
        if self.auth == "shared_password":
            self.changes = self.lab.site_changes({"auth": {"type": "shared_password"}})
            self.changes.__enter__()
            self.lab.apply_hub()

    def __exit__(self, *exc):
        if self.changes:
            self.changes.__exit__(*exc)
            self.lab.apply_hub()


def login_burst(lab, names, auth, ca_file):
    """Everyone logs in at once, before the bursts: on a fresh lab this is the first day
    (restuser creates every account and home); afterwards the accounts exist."""
    existing = set(lab.exec("hub", "getent", "passwd").stdout.split("\n"))
    existing = {line.split(":")[0] for line in existing if line}
    took, errors = {}, []

    def login(name):
        began = time.monotonic()
        try:
            person = BurstStudent(name, ca_file)
            person.login_with_password(PASSWORD) if auth == "shared_password" else person.login()
            took[name] = time.monotonic() - began
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{name}: {exc}")

    threads = [threading.Thread(target=login, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"logins failed: {errors[:3]}")
    fig = {"new_accounts": len(set(names) - existing), **summary(took.values())}
    print(f"login burst of {len(names)} ({fig['new_accounts']} new accounts): "
          f"p50={fig['p50']} p95={fig['p95']} max={fig['max']}")  # fmt: skip
    return fig
