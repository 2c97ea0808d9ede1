"""
Deploy: `script/lab up` cold (no images), on fresh hosts (images cached, new host
containers: every host's first highstate) and warm (everything up), and the idempotent
re-apply of the whole lab (`salt '*' state.apply`), with its changes counted, for 1, 2 and
3 nodes.

Each `lab up` is timed from outside and its phases are read from .lab/timings.json; each
highstate's per-host time is the sum of its states' durations and the slowest states are
listed (the profile of a re-apply).
"""

import json
import subprocess
import time

from benchmarks.common import LAB, REPO, Record, arguments, ensure_lab, lab_hosts, plot

LAB_STATE = REPO / ".lab"


def lab_up(*args):
    """Seconds one `script/lab up ARGS` took, and the phases it recorded."""
    began = time.monotonic()
    subprocess.run([str(LAB), "up", *args], check=True, stdout=subprocess.DEVNULL)
    took = round(time.monotonic() - began, 1)
    runs = json.loads((LAB_STATE / "timings.json").read_text())["runs"]
    return {"wall_s": took, "phases_s": runs[-1]["phases"]}


def newest_highstate():
    """Per-host summary of the highstate the last `lab up` ran."""
    path = max(LAB_STATE.glob("highstate-*.json"), key=lambda p: p.stat().st_mtime)
    return per_host(json.loads(path.read_text()))


def per_host(result):
    hosts = {}
    for minion, states in sorted(result.items()):
        if not isinstance(states, dict):
            hosts[minion] = {"error": str(states)[:300]}
            continue
        durations = sorted(
            ((s.get("duration", 0) / 1000, f"{s.get('__sls__')}: {s.get('__id__')}")
             for s in states.values()), reverse=True,
        )  # fmt: skip
        hosts[minion] = {
            "states": len(states),
            "changed": sum(1 for s in states.values() if s.get("changes")),
            "failed": sum(1 for s in states.values() if s.get("result") is False),
            "states_s": round(sum(d for d, _ in durations), 2),
            "slowest": [[name, round(d, 2)] for d, name in durations[:5]],
        }
    return hosts


def reapply(lab, repeats):
    """`salt '*' state.apply` on the whole lab, ``repeats`` times: wall time and per host."""
    runs = []
    for _ in range(repeats):
        began = time.monotonic()
        result = lab.salt("*", "state.apply")
        wall = round(time.monotonic() - began, 2)
        hosts = per_host(result)
        runs.append({
            "wall_s": wall,
            "changed": sum(h.get("changed", 0) for h in hosts.values()),
            "failed": sum(h.get("failed", 0) for h in hosts.values()),
            "hosts": hosts,
        })  # fmt: skip
    return runs


def print_reapply(label, runs):
    walls = [r["wall_s"] for r in runs]
    changed = [r["changed"] for r in runs]
    print(f"{label}: re-apply wall {walls} s, changes {changed}")
    last = runs[-1]["hosts"]
    for host, h in last.items():
        print(f"    {host}: {h.get('states')} states in {h.get('states_s')} s; "
              f"slowest {h.get('slowest', [])[:3]}")  # fmt: skip


def remove_lab_images():
    """Every image the lab made (its base and host images), so the next up is cold."""
    subprocess.run([str(LAB), "down", "--volumes"], check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run(["docker", "images", "-q", "jupyterhub-deploy/*"], capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    if out:
        subprocess.run(["docker", "rmi", "-f", *sorted(set(out))], check=False,
                       stdout=subprocess.DEVNULL)  # fmt: skip


def main(argv=None):
    parser = arguments("deploy", __doc__)
    cold = "first remove the lab and its images (a cold up: 7+ minutes)"
    parser.add_argument("--cold", action="store_true", help=cold)
    fresh = "first remove the lab's containers and volumes (every host's first highstate)"
    parser.add_argument("--fresh", action="store_true", help=fresh)
    nodes = "node counts for the re-apply curve ('': the lab as it is)"
    parser.add_argument("--nodes", default="1,2,3", help=nodes)
    parser.add_argument("--warm-ups", type=int, default=2, help="warm `lab up` runs to time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default="deploy")
    args = parser.parse_args(argv)
    record = Record(args.name, vars(args))

    if args.cold:
        remove_lab_images()
        record["cold_up"] = lab_up()
        record["cold_first_highstate"] = newest_highstate()
        print(f"cold lab up: {record['cold_up']}")
    elif args.fresh:
        subprocess.run([str(LAB), "down", "--volumes"], check=True, stdout=subprocess.DEVNULL)
        record["fresh_up"] = lab_up()
        record["fresh_first_highstate"] = newest_highstate()
        print(f"lab up on fresh hosts: {record['fresh_up']}")
    lab = ensure_lab()
    if args.warm_ups:
        record["warm_up"] = [lab_up() for _ in range(args.warm_ups)]
        record["warm_up_highstate"] = newest_highstate()
        changes = sum(h.get("changed", 0) for h in record["warm_up_highstate"].values())
        print(f"warm lab up: {[r['wall_s'] for r in record['warm_up']]} s (changes: {changes})")

    curve = {}
    counts = [int(n) for n in args.nodes.split(",") if n.strip()]
    for nodes in counts:
        lab_up("--nodes", str(nodes))
        curve[str(nodes)] = reapply(lab, args.repeats)
        print_reapply(f"{nodes} node(s)", curve[str(nodes)])
    if counts:
        lab_up()  # back to the default lab
    else:
        nodes = sum(1 for host in lab_hosts() if host.startswith("node"))
        curve[str(nodes)] = reapply(lab, args.repeats)
        print_reapply(f"{nodes} node(s), the lab as it is", curve[str(nodes)])
    record["reapply"] = curve
    record.save()
    xs = sorted(int(n) for n in curve)

    def median_wall(runs):
        return sorted(r["wall_s"] for r in runs)[len(runs) // 2]

    def hub_states(runs):
        return runs[-1]["hosts"].get("hub", {}).get("states_s")

    plot(
        record.path(".png"),
        "Idempotent re-apply of the whole lab (salt '*' state.apply)",
        "nodes",
        "seconds",
        {
            "wall time (median)": [(x, median_wall(curve[str(x)])) for x in xs],
            "hub's states (sum of durations)": [(x, hub_states(curve[str(x)])) for x in xs],
            "goal: 8 s": [(x, 8) for x in xs],
        },
        notes=f"{record['machine']['cores']} cores, commit {record['machine']['commit']}",
    )
    return record
