"""
What every benchmark shares: the lab, the JSON record, percentiles, CPU accounting, plots.

Benchmarks print figures and keep them; they never assert a time. Each record is written
to ``benchmarks/results/<name>.json`` (the latest run, which docs/performance.md quotes)
with the machine it ran on.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The smoke tests point this elsewhere, so they never overwrite the recorded run.
RESULTS = Path(os.environ.get("JHD_BENCH_RESULTS", REPO / "benchmarks" / "results"))
LAB = REPO / "script" / "lab"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def arguments(name, doc):
    """The argument parser of `benchmarks/run NAME`, described by the module's first paragraph."""
    return argparse.ArgumentParser(prog=f"benchmarks/run {name}", description=doc.split("\n\n")[0])


def machine():
    """What the figures were measured on."""
    with open("/proc/meminfo", encoding="ascii") as handle:
        mem_kb = int(handle.readline().split()[1])

    def git(*args):
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              check=False).stdout.strip()  # fmt: skip

    commit = git("rev-parse", "--short", "HEAD")
    if git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"):
        commit += "+changes"
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
    }


class Record:
    """One benchmark run's figures, saved as JSON beside its plots."""

    def __init__(self, name, params):
        self.name = name
        self.data = {
            "benchmark": name,
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "params": params,
        }

    def __setitem__(self, key, value):
        self.data[key] = value

    def __getitem__(self, key):
        return self.data[key]

    def path(self, suffix=".json"):
        RESULTS.mkdir(parents=True, exist_ok=True)
        return RESULTS / f"{self.name}{suffix}"

    def save(self):
        path = self.path()
        path.write_text(json.dumps(self.data, indent=2, sort_keys=False) + "\n")
        print(f"record: {path}")
        return path


def summary(values):
    """p50, p95, max (and n) of a list of seconds, rounded for printing."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}

    def pick(q):
        # Nearest-rank percentile: the smallest value with at least q of the data at or below.
        rank = max(1, -(-len(values) * q // 100))
        return round(values[int(rank) - 1], 2)

    return {"n": len(values), "p50": pick(50), "p95": pick(95), "max": round(values[-1], 2)}


def busy_seconds():
    """CPU-seconds the whole machine has spent not idle since boot (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK


# Which component a process belongs to, by its command line (first match wins). The lab's
# host containers share this machine's process table, so every container's processes are
# visible here with their accumulated CPU time.
COMPONENTS = [
    ("student servers", ("jupyterhub-singleuser", "ipykernel_launcher", "jupyter-lab")),
    ("hub (jupyterhub)", ("bin/jupyterhub",)),
    ("hub proxy (CHP)", ("configurable-http-proxy",)),
    ("dockerd", ("dockerd",)),
    ("containerd", ("containerd",)),
    ("nginx", ("nginx",)),
    ("restuser", ("restuser",)),
    ("salt", ("salt-minion", "salt-master", "salt-call")),
    ("registry", ("registry",)),
    ("benchmark client", ("benchmarks",)),
]


def component(cmdline):
    for name, needles in COMPONENTS:
        if any(needle in cmdline for needle in needles):
            return name
    return "other"


def process_cpu():
    """{pid: (component, cpu seconds, command line)} for every process now running."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as h:
                stat = h.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as h:
                cmdline = h.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # utime and stime: the process's own. (Reaped children's time would be counted
        # again at their reaper, e.g. a host container's init.)
        ticks = int(fields[11]) + int(fields[12])
        out[int(entry.name)] = (component(cmdline), ticks / CLK_TCK, cmdline)
    return out


class CpuMeter:
    """Machine CPU-seconds (and a per-component breakdown) between start() and stop()."""

    def start(self):
        self.t0, self.busy0, self.procs0 = time.monotonic(), busy_seconds(), process_cpu()
        return self

    def stop(self):
        self.elapsed = time.monotonic() - self.t0
        self.busy = busy_seconds() - self.busy0
        procs1 = process_cpu()
        by_component, others = {}, {}
        for pid, (name, cpu, cmd) in procs1.items():
            used = cpu - self.procs0.get(pid, (name, 0.0, cmd))[1]
            by_component[name] = by_component.get(name, 0.0) + used
            if name == "other" and used > 0:
                others[cmd[:60]] = others.get(cmd[:60], 0.0) + used
        self.other_top = dict(sorted(((k, round(v, 2)) for k, v in others.items()),
                                     key=lambda kv: -kv[1])[:8])  # fmt: skip
        # Processes that ended inside the window (useradd, runc, shells...) are not in
        # either listing: their CPU is the machine's busy time less what was attributed.
        by_component["ended during the run"] = self.busy - sum(by_component.values())
        self.by_component = {
            k: round(v, 2) for k, v in sorted(by_component.items(), key=lambda kv: -kv[1]) if v
        }
        return self

    def as_dict(self):
        return {
            "elapsed_s": round(self.elapsed, 2),
            "busy_cpu_s": round(self.busy, 2),
            "by_component_cpu_s": self.by_component,
            "other_top_cpu_s": self.other_top,
        }


def idle_rate(seconds=5.0):
    """The lab's background CPU use (CPU-seconds per second) with nobody doing anything."""
    busy0, t0 = busy_seconds(), time.monotonic()
    time.sleep(seconds)
    return (busy_seconds() - busy0) / (time.monotonic() - t0)


def lab_is_up():
    proc = subprocess.run(["docker", "inspect", "--format", "{{.State.Running}}", "jhd-hub"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return proc.stdout.strip() == "true"


def lab_hosts():
    """The minion ids of the running lab."""
    out = subprocess.run(["docker", "ps", "--format", "{{.Names}}", "--filter", "name=jhd-"],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    return [name.removeprefix("jhd-") for name in out]


def ensure_lab():
    """The running lab (brought up with `script/lab up` if it is not running)."""
    from tests.common.lab import Lab

    if not lab_is_up():
        subprocess.run([str(LAB), "up"], check=True)
    lab = Lab()
    lab.wait_for_hub()
    return lab


def plot(path, title, xlabel, ylabel, series, notes=None):
    """A line plot of ``series``: {label: [(x, y), ...]}; written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, points in series.items():
        points = [(x, y) for x, y in points if y is not None]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        style = "--" if label.startswith("goal") or label.startswith("bound") else "-o"
        ax.plot(xs, ys, style, label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if notes:
        fig.text(0.01, 0.01, notes, fontsize=7, alpha=0.7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"plot: {path}")
