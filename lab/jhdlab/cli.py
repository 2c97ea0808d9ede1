"""
script/lab's commands: argparse, up, engine, down, status, salt and exec, and the timing
summary each run appends to .lab/timings.json and prints.
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time

from .acme import DNS, PEBBLE, ensure_pebble
from .common import (
    CONTAINER_PREFIX,
    DEPLOY_DIR,
    HOME_VOLUME,
    LABEL,
    NETWORK,
    REPO,
    STANDIN,
    STANDIN_PORT,
    STARTED,
    STATE_DIR,
    LabError,
    dexec,
    docker,
    docker_ok,
    ensure_state_dir,
    log,
    parallel,
    salt_json,
)
from .hosts import (
    Topology,
    ensure_containers,
    ensure_google_standin,
    ensure_network,
    lab_containers,
    master_container,
    wait_for_systemd,
)
from .images import (
    RELEASES,
    base_image,
    build_base_image,
    build_host_image,
    ensure_engine,
    ensure_machine_packages,
    host_image,
    image_id,
    load_base_image,
)
from .minions import (
    accept_keys,
    bootstrap_host,
    forget_keys,
    forget_master_key,
    forget_swarm_nodes,
    highstate,
    master_finger,
    wait_for_ping,
)


class Timings:
    """Seconds per phase of one run, appended to .lab/timings.json."""

    def __init__(self, command):
        self.record = {
            "command": command,
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "phases": {},
        }

    def phase(self, name):
        timings = self

        class _Phase:
            def __enter__(self):
                log("...", name)
                self.t0 = time.monotonic()

            def __exit__(self, exc_type, *_):
                seconds = round(time.monotonic() - self.t0, 1)
                timings.record["phases"][name] = seconds
                log(f"{'failed' if exc_type else 'done'} in {seconds}s", name)

        return _Phase()

    def save(self, **extra):
        self.record.update(extra)
        self.record["total"] = round(time.monotonic() - STARTED, 1)
        path = STATE_DIR / "timings.json"
        try:
            runs = json.loads(path.read_text())["runs"]
        except (OSError, ValueError, KeyError):
            runs = []
        runs = (runs + [self.record])[-50:]
        ensure_state_dir()
        path.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
        print(f"\nTimings ({path.relative_to(REPO)}):")
        for name, seconds in self.record["phases"].items():
            print(f"  {name:<28} {seconds:8.1f}s")
        print(f"  {'total':<28} {self.record['total']:8.1f}s")


# --- commands --------------------------------------------------------------------------------


def cmd_up(args):
    if args.nodes < 1:
        raise LabError("--nodes must be at least 1")
    timings = Timings(" ".join(["up", *sys.argv[2:]]))
    outcome = {"kind": "warm"}
    try:
        failures = up(args, timings, outcome)
    finally:
        timings.save(**outcome)
    if failures:
        print(
            f"\n{failures} state(s) failed: see above. Fix and run `script/lab up` again "
            "(or `script/lab salt '*' state.apply`).",
            file=sys.stderr,
        )
        return 1
    return 0


def up(args, timings, outcome):
    """The steps of `up`; outcome collects what the timings record should say."""
    with timings.phase("machine"):
        ensure_machine_packages(need_debootstrap=False)
        ensure_engine()
    built_base = build_base_image(timings, args.release, args.rebuild)
    if build_host_image(timings, args.release, args.rebuild) or built_base:
        outcome["kind"] = "cold"
    with timings.phase("containers"):
        topo = Topology(args)
        outcome["topology"] = topo.name
        outcome["release"] = topo.release
        log(f"site pillar: {topo.site_dir.relative_to(REPO)} (from pillar/lab)", "containers")
        network_id = ensure_network(topo)
        created = ensure_containers(topo, network_id)
        outcome["created"] = [h.id for h in created]
        ensure_google_standin(topo)
        parallel(wait_for_systemd, topo.hosts)
        ensure_pebble(topo)
    with timings.phase("salt bootstrap"):
        bootstrap_host(topo.master, topo)
        forget_keys(topo, created)
        finger = master_finger(topo.master)
        others = [h for h in topo.hosts if not h.master]
        parallel(lambda h: bootstrap_host(h, topo, finger), others)
        if topo.master in created:
            parallel(forget_master_key, [h for h in topo.hosts if h not in created])
        accept_keys(topo)
        wait_for_ping(topo)
    with timings.phase("load base image into hosts"):
        parallel(
            lambda h: load_base_image(h, topo.release), [h for h in topo.hosts if h.runs_docker]
        )
    failures = 0
    if not args.no_apply:
        with timings.phase("highstate"):
            label = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            failures = highstate(topo, label)
        outcome["failed_states"] = failures
        forget_swarm_nodes(topo)
    print_access(topo)
    return failures


def print_access(topo):
    proxy = topo.by_role("proxy")[0]
    print(f"""
Lab {topo.name} on Debian {topo.release}: {", ".join(f"{h.id} {h.address}" for h in topo.hosts)}
  JupyterHub:   https://localhost:{topo.https_port}/
                (http://localhost:{topo.http_port}/ redirects), served by {proxy}'s nginx
                with a certificate from the lab's ACME server (Pebble, in {proxy}'s network
                namespace; its root: on {proxy}, curl --cacert
                /etc/letsencrypt/jupyterhub-deploy/directory-ca.pem https://localhost:15000/roots/0).
  Log in:       "Sign in with Google" leads to the lab's stand-in for Google
                (http://localhost:{STANDIN_PORT}, lab only): enter a student of
                pillar/lab/site.sls, e.g. alice@lab.example (labadmin@lab.example is admin).
  /home:        one Docker volume ({HOME_VOLUME}) mounted on the hub and the nodes; the kernel
                here has no NFS, so nfs is disabled in the lab's site pillar.
  Salt:         script/lab salt '*' test.ping        script/lab exec {topo.master.id} bash
""")


def cmd_engine(args):
    """The machine's engine running, with the base image other builds start FROM."""
    timings = Timings("engine")
    try:
        with timings.phase("machine"):
            ensure_machine_packages(need_debootstrap=False)
            ensure_engine()
        build_base_image(timings, args.release)
    finally:
        timings.save()
    return 0


def cmd_down(args):
    containers = sorted(lab_containers())
    for extra in (STANDIN, PEBBLE, DNS):
        if docker_ok("container", "inspect", extra):
            containers.append(extra)
    if containers:
        log(f"removing {', '.join(containers)}", "down")
        docker("rm", "-f", *containers)
    if docker_ok("network", "inspect", NETWORK):
        log(f"removing network {NETWORK}", "down")
        docker("network", "rm", NETWORK)
    if args.volumes:
        names = docker("volume", "ls", "-q", "--filter", f"label={LABEL}").stdout.split()
        for name in names:
            log(f"removing volume {name}", "down")
            docker("volume", "rm", name)
    else:
        log("volumes kept (inner engines' images, /home): `down --volumes` removes them", "down")
    return 0


def cmd_status(args):
    if not docker_ok("info"):
        print("the Docker engine is not running")
        return 1
    containers = lab_containers()
    if not containers:
        print("no lab containers (script/lab up)")
        return 1
    current = {
        image_id(host_image(r)): r for r in RELEASES if docker_ok("image", "inspect", host_image(r))
    }
    print(f"{'CONTAINER':<14} {'HOST':<10} {'STATE':<9} {'ADDRESS':<15} {'ROLES':<16} IMAGE")
    for name, info in sorted(containers.items()):
        labels = info["Config"]["Labels"]
        net = info["NetworkSettings"]["Networks"].get(NETWORK, {})
        release = current.get(info["Image"])
        print(
            f"{name:<14} {info['Config']['Hostname']:<10} {info['State']['Status']:<9} "
            f"{net.get('IPAddress', '-'):<15} {labels.get(f'{LABEL}.roles', ''):<16} "
            f"{f'current {release}' if release else 'OLD (script/lab up recreates)'}"
        )
    try:
        master = master_container()
    except LabError as exc:
        print(exc)
        return 1
    print("\nMinion keys:")
    keys = json.loads(dexec(master, "salt-key", "-L", "--out", "json", workdir=DEPLOY_DIR).stdout)
    for kind in ("minions", "minions_pre", "minions_denied", "minions_rejected"):
        print(f"  {kind:<18} {' '.join(sorted(keys.get(kind, []))) or '-'}")
    print("\ntest.ping:")
    pings = salt_json(master, "-t", "5", "*", "test.ping", timeout=60)
    for minion in sorted(set(keys.get("minions", [])) | set(pings)):
        print(f"  {minion:<18} {'True' if pings.get(minion) is True else 'no answer'}")
    return 0


def cmd_salt(salt_args):
    tty = ["-t"] if sys.stdin.isatty() and sys.stdout.isatty() else []
    return subprocess.call(
        ["docker", "exec", "-i", *tty, "-w", DEPLOY_DIR, master_container(), "salt", *salt_args]
    )


def cmd_exec(exec_args):
    if not exec_args or exec_args[0].startswith("-"):
        raise LabError("usage: script/lab exec HOST [CMD...]")
    host, command = exec_args[0], exec_args[1:] or ["bash"]
    tty = ["-t"] if sys.stdin.isatty() and sys.stdout.isatty() else []
    return subprocess.call(["docker", "exec", "-i", *tty, CONTAINER_PREFIX + host, *command])


def release(text):
    if not re.fullmatch(r"\d+\.\d+\.\d+", text):
        raise argparse.ArgumentTypeError(f"{text!r}: a release such as 6.1.2")
    return text


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="script/lab", description="The local lab: jupyterhub-deploy's hosts as containers."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="build images if needed, start the hosts, apply the states")
    up.add_argument("--nodes", type=int, default=2, help="number of nodes (default 2)")
    up.add_argument("--single", action="store_true", help="one host, allinone, with every role")
    up.add_argument(
        "--https-port",
        type=int,
        default=8443,
        help="loopback port for the proxy's 443 (default 8443)",
    )
    up.add_argument(
        "--http-port",
        type=int,
        default=8080,
        help="loopback port for the proxy's 80 (default 8080)",
    )
    up.add_argument(
        "--subnet",
        default="172.30.77.0/24",
        help="the lab network (default 172.30.77.0/24: hub .10, proxy .2, nodes .11-)",
    )
    up.add_argument(
        "--release",
        choices=RELEASES,
        default=RELEASES[0],
        help=f"Debian release of the hosts and images (default {RELEASES[0]})",
    )
    up.add_argument(
        "--rebuild",
        action="store_true",
        help="rebuild both images from scratch (fresh Debian packages, salt from PyPI)",
    )
    up.add_argument(
        "--no-apply", action="store_true", help="stop after salt answers: no state.apply"
    )
    up.add_argument(
        "--jupyterhub-version",
        type=release,
        help="the hub on this JupyterHub release (hub:jupyterhub_version), e.g. 5.5.4",
    )
    up.set_defaults(func=cmd_up)

    engine = sub.add_parser(
        "engine", help=f"dockerd running (installed if missing) and {base_image('RELEASE')} built"
    )
    engine.add_argument("--release", choices=RELEASES, default=RELEASES[0])
    engine.set_defaults(func=cmd_engine)

    down = sub.add_parser("down", help="remove the lab's containers and network (images kept)")
    down.add_argument(
        "--volumes",
        action="store_true",
        help="also remove the volumes (inner engines' data, /home)",
    )
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", help="containers, addresses, minion keys, ping")
    status.set_defaults(func=cmd_status)

    # Parsed by hand in main(): their arguments go through untouched.
    sub.add_parser("salt", help="salt ARGS... on the lab master, from the checkout")
    sub.add_parser("exec", help="exec HOST [CMD...]: run CMD (default bash) in a lab host")
    return parser.parse_args(argv)


def main(argv):
    passthrough = {"salt": cmd_salt, "exec": cmd_exec}
    if argv and argv[0] in passthrough:
        func, arg = passthrough[argv[0]], argv[1:]
    else:
        args = parse_args(argv)
        func, arg = args.func, args
    if os.geteuid() != 0:
        print("script/lab: run as root (it drives the machine's Docker engine)", file=sys.stderr)
        return 1
    try:
        return func(arg)
    except LabError as exc:
        print(f"\nscript/lab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head or less, closed early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
