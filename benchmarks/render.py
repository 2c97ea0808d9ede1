"""
Render cost: how long salt takes to render each role's highstate, and the site pillar's
validation alone, for sites of 50 to 2,000 students.

Each size is a copy of pillar/example with that many students. Rendering is masterless
(`salt-call --local`, this checkout's state tree, pillar top and ext_pillar: what the
master does for a minion, in one process), timed as whole commands against a bare
`salt-call --local test.true` started the same way. Validation is the ext_pillar's
``build`` called in-process.
"""

import importlib.util
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.common import REPO, Record, arguments, plot

SALT_CALL = REPO / ".venv" / "bin" / "salt-call"
EXAMPLE = REPO / "pillar" / "example"
ROLES = {"proxy": "proxy.example.edu", "hub": "hub.example.edu", "node": "node1.example.edu"}


def make_site(root, students):
    """A copy of the example site with ``students`` students."""
    site = root / "site"
    shutil.copytree(EXAMPLE, site)
    data = yaml.safe_load((site / "site.sls").read_text())
    data["users"]["students"] = [f"student{i:04d}" for i in range(students)]
    (site / "site.sls").write_text(yaml.safe_dump(data, sort_keys=False))
    return site, data


def make_config(root, site):
    """A masterless minion config: this checkout's roots and ext_pillar, state under root."""
    conf = root / "conf"
    conf.mkdir()
    master_d = {}
    for path in sorted((REPO / "master.d").glob("*.conf")):
        text = path.read_text().replace("/srv/jupyterhub-deploy", str(REPO))
        master_d.update(yaml.safe_load(text.replace("/srv/jupyterhub-site", str(site))))
    config = {
        **master_d,
        "file_client": "local",
        "root_dir": str(root / "salt"),
        "log_level": "warning",
        "log_file": str(root / "minion.log"),
        # The same custom modules the minions sync (salt/_modules links to _modules).
        "module_dirs": [str(REPO / "_modules")],
        "states_dirs": [str(REPO / "_states")],
        "cachedir": str(root / "cache"),
        "pki_dir": str(root / "pki"),
    }
    (conf / "minion").write_text(yaml.safe_dump(config))
    return conf


def salt_call(conf, minion_id, *args):
    """Seconds one `salt-call --local` took."""
    began = time.monotonic()
    proc = subprocess.run(
        [str(SALT_CALL), "-c", str(conf), "--local", "--id", minion_id, "--out=quiet", *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    took = time.monotonic() - began
    if proc.returncode != 0:
        raise SystemExit(f"salt-call {args} as {minion_id} failed:\n{proc.stdout}\n{proc.stderr}")
    return took


def median_of(repeats, fn):
    return round(statistics.median(fn() for _ in range(repeats)), 3)


def validation_time(data, repeats):
    """Seconds of the ext_pillar's merge and validation of the site, for the hub's id."""
    spec = importlib.util.spec_from_file_location(
        "jhd_pillar", REPO / "_pillar/jupyterhub_deploy.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    defaults = module.load_defaults(str(REPO / "salt"))

    # The hub's pillar: the site and the secrets the pillar top gives it.
    pillar = merge(data, yaml.safe_load((EXAMPLE / "secrets/hub.sls").read_text()))

    def once():
        began = time.perf_counter()
        module.build(ROLES["hub"], pillar, defaults)
        return time.perf_counter() - began

    return round(statistics.median(once() for _ in range(repeats)) * 1000, 2)


def merge(base, extra):
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and key in out else value
    return out


def measure(students, repeats):
    with tempfile.TemporaryDirectory(prefix="jhd-render-") as tmp:
        root = Path(tmp)
        site, data = make_site(root, students)
        conf = make_config(root, site)
        salt_call(conf, ROLES["hub"], "test.true")  # warm the caches once
        figures = {
            "students": students,
            "bare_salt_call_s": median_of(
                repeats, lambda: salt_call(conf, ROLES["hub"], "test.true")
            ),
            "validation_ms": validation_time(data, repeats),
            "pillar_s": {},
            "highstate_render_s": {},
        }
        for role, minion_id in ROLES.items():
            figures["pillar_s"][role] = median_of(
                repeats, lambda m=minion_id: salt_call(conf, m, "pillar.items")
            )
            figures["highstate_render_s"][role] = median_of(
                repeats, lambda m=minion_id: salt_call(conf, m, "state.show_highstate")
            )
    return figures


def main(argv=None):
    parser = arguments("render", __doc__)
    parser.add_argument("--students", default="50,500,2000", help="site sizes for the curve")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default="render")
    args = parser.parse_args(argv)
    record = Record(args.name, vars(args))
    sizes = [int(s) for s in args.students.split(",")]
    results = {}
    for size in sizes:
        fig = measure(size, args.repeats)
        results[str(size)] = fig
        per_role = ", ".join(f"{r} {s} s" for r, s in fig["highstate_render_s"].items())
        print(f"{size:>5} students: highstate render {per_role} "
              f"(bare salt-call {fig['bare_salt_call_s']} s); "
              f"validation {fig['validation_ms']} ms")  # fmt: skip
    record["sizes"] = results
    record.save()
    series = {
        f"highstate render: {role}": [
            (s, results[str(s)]["highstate_render_s"][role]) for s in sizes
        ]
        for role in ROLES
    }
    series["bare salt-call --local"] = [(s, results[str(s)]["bare_salt_call_s"]) for s in sizes]
    series["goal: 2 s"] = [(s, 2.0) for s in sizes]
    notes = f"{record['machine']['cores']} cores, commit {record['machine']['commit']}"
    plot(record.path(".png"), "Highstate render per minion (salt-call --local)",
         "students in the site pillar", "seconds", series, notes=notes)  # fmt: skip
    return record
