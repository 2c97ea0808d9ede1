#!/usr/bin/env python3
"""The local lab: jupyterhub-deploy's hosts (proxy, hub, node1..N) as systemd containers.

Run through script/lab (see `script/lab --help` and lab/README.md). Standard library only:
it runs on a bare Debian machine with root, and installs docker.io and debootstrap itself.
"""

import argparse
import concurrent.futures
import datetime
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = REPO / ".lab"  # git-ignored by its own .gitignore
LAB_PILLAR = REPO / "pillar" / "lab"

BASE_IMAGE = "jupyterhub-deploy/debian:bookworm"
HOST_IMAGE = "jupyterhub-deploy/host"
SUITE = "bookworm"
MIRROR = os.environ.get("LAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")

# On the lab's containers, network and volumes. Containers inherit their image's labels, so
# the host image has its own key, and the base image (which other builds use) none.
LABEL = "org.jupyterhub-deploy.lab"
IMAGE_LABEL = "org.jupyterhub-deploy.lab-image"
NETWORK = "jhd-lab"
CONTAINER_PREFIX = "jhd-"
HOME_VOLUME = "jhd-lab-home"
EXCHANGE_VOLUME = "jhd-lab-exchange"
EXCHANGE_DIR = "/srv/nbgrader/exchange"
STANDIN = "jhd-google-standin"
STANDIN_PORT = 8088
DEPLOY_DIR = "/srv/jupyterhub-deploy"
SITE_DIR = "/srv/jupyterhub-site"
IMAGE_BOOTSTRAP = "/opt/jupyterhub-deploy/src/script/bootstrap"

# systemd as PID 1 and a Docker engine inside, without --privileged (the machine's engine
# cannot grant CAP_SYS_RESOURCE): see shared PLATFORM.md.
SYSTEMD_RUN_FLAGS = (
    "--cap-add ALL --cap-drop SYS_RESOURCE"
    " --security-opt seccomp=unconfined --security-opt apparmor=unconfined"
    " --security-opt systempaths=unconfined"
    " -v /sys/fs/cgroup:/sys/fs/cgroup --cgroupns=host --tmpfs /run --tmpfs /run/lock"
).split()

STARTED = time.monotonic()


class LabError(Exception):
    pass


# --- output and timings -----------------------------------------------------------------


def log(msg, step=None):
    now = datetime.datetime.now().strftime("%H:%M:%S")
    elapsed = time.monotonic() - STARTED
    prefix = f"[{now} +{elapsed:5.0f}s]"
    print(f"{prefix} {step + ': ' if step else ''}{msg}", flush=True)


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


def ensure_state_dir():
    STATE_DIR.mkdir(exist_ok=True)
    ignore = STATE_DIR / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# script/lab's state: never committed.\n*\n")


# --- running commands -------------------------------------------------------------------


def run(args, check=True, capture=True, input=None, timeout=None):
    """Run a command; return its CompletedProcess (text). Raise LabError when check fails."""
    try:
        proc = subprocess.run(
            args,
            input=input,
            timeout=timeout,
            text=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {' '.join(args)}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip() if capture else ""
        raise LabError(f"failed ({proc.returncode}): {' '.join(args)}\n{detail}")
    return proc


def pipe(producer, consumer):
    """`producer | consumer` without a shell; None when both succeed, else the consumer's stderr."""
    source = subprocess.Popen(producer, stdout=subprocess.PIPE)
    sink = subprocess.run(consumer, stdin=source.stdout, capture_output=True, text=True)
    source.stdout.close()
    if source.wait() != 0 or sink.returncode != 0:
        return sink.stderr or f"{producer[0]} exited with {source.returncode}"
    return None


def docker(*args, **kwargs):
    return run(["docker", *args], **kwargs)


def docker_ok(*args):
    return docker(*args, check=False).returncode == 0


def dexec(container, *cmd, check=True, timeout=None, input=None, workdir=None):
    args = ["exec", "-i"] if input is not None else ["exec"]
    if workdir:
        args += ["-w", workdir]
    return docker(*args, container, *cmd, check=check, timeout=timeout, input=input)


def salt_json(master, *args, timeout=None):
    """Run `salt ... --out json --static` on the lab master; return the parsed output."""
    cmd = ["salt", "--out", "json", "--static", *args]
    proc = dexec(master, *cmd, check=False, timeout=timeout, workdir=DEPLOY_DIR)
    try:
        return json.loads(proc.stdout or "{}")
    except ValueError:
        raise LabError(
            f"salt {' '.join(args)}: no JSON output:\n{proc.stdout}\n{proc.stderr}"
        ) from None


def wait_for(what, predicate, timeout, interval=2.0, step=None):
    """Poll predicate() until it returns a true value; log every 20 s while waiting."""
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 20
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout}s waiting for {what}")
        if time.monotonic() > next_note:
            log(f"still waiting for {what}", step)
            next_note += 20
        time.sleep(interval)


def parallel(fn, items):
    """fn(item) for every item in threads; re-raise the first error after all finished."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        futures = [pool.submit(fn, item) for item in items]
        errors = [f.exception() for f in futures if f.exception()]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


# --- the machine: packages and the Docker engine ----------------------------------------


def ensure_machine_packages(need_debootstrap):
    wanted = {"dockerd": "docker.io", "docker": "docker.io"}
    if need_debootstrap:
        wanted["debootstrap"] = "debootstrap"
    missing = sorted(
        {
            pkg
            for cmd, pkg in wanted.items()
            if not shutil.which(cmd) and not Path("/usr/sbin", cmd).exists()
        }
    )
    if not missing:
        return
    log(f"installing {' '.join(missing)} with apt", "machine")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], check=True, env=env
    )


def ensure_engine():
    if docker_ok("info"):
        return
    log("the Docker engine is not running: starting dockerd (log: /var/log/dockerd.log)", "machine")
    with open("/var/log/dockerd.log", "ab") as out:
        subprocess.Popen(
            ["dockerd"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    wait_for("dockerd", lambda: docker_ok("info"), timeout=90, interval=1, step="machine")


# --- images ------------------------------------------------------------------------------


def image_label(image, key):
    proc = docker(
        "image", "inspect", "-f", f'{{{{index .Config.Labels "{key}"}}}}', image, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def image_id(image):
    return docker("image", "inspect", "-f", "{{.Id}}", image).stdout.strip()


def build_base_image(timings, rebuild=False):
    """Debian minbase from debootstrap, imported as an image: nothing can be pulled here."""
    if not rebuild and docker_ok("image", "inspect", BASE_IMAGE):
        log(f"{BASE_IMAGE} exists", "base image")
        return False
    with timings.phase("build base image"):
        ensure_machine_packages(need_debootstrap=True)
        with tempfile.TemporaryDirectory(prefix="jhd-lab-rootfs-", dir="/var/tmp") as tmp:
            root = Path(tmp) / "root"
            log(f"debootstrap --variant=minbase {SUITE} ({MIRROR})", "base image")
            proc = run(["debootstrap", "--variant=minbase", SUITE, str(root), MIRROR], check=False)
            if proc.returncode != 0:
                raise LabError("debootstrap failed:\n" + (proc.stdout + proc.stderr)[-3000:])
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for path in (root / junk).glob("*"):
                    if path.is_file():
                        path.unlink()
            (root / "etc/apt/sources.list").write_text(
                f"deb {MIRROR} {SUITE} main\n"
                f"deb {MIRROR} {SUITE}-updates main\n"
                f"deb {MIRROR}-security {SUITE}-security main\n"
            )
            log(f"docker import -> {BASE_IMAGE}", "base image")
            problem = pipe(
                ["tar", "-C", str(root), "-c", "."],
                ["docker", "import", "-c", 'CMD ["/bin/bash"]', "-", BASE_IMAGE],
            )
            if problem is not None:
                raise LabError(f"docker import failed: {problem}")
    return True


def host_build_context(ctx):
    """Copy exactly what the host image needs into ctx; return a hash of it all."""
    shutil.copy(REPO / "lab/host/Dockerfile", ctx / "Dockerfile")
    shutil.copytree(REPO / "lab/host/rootfs", ctx / "rootfs")
    (ctx / "ca").mkdir()
    if EXTRA_CA_DIR.is_dir():
        for crt in sorted(EXTRA_CA_DIR.rglob("*.crt")):
            shutil.copy(crt, ctx / "ca" / crt.name)
    (ctx / "bootstrap/script").mkdir(parents=True)
    (ctx / "bootstrap/requirements").mkdir()
    shutil.copy(REPO / "script/bootstrap", ctx / "bootstrap/script/bootstrap")
    os.chmod(ctx / "bootstrap/script/bootstrap", 0o755)
    shutil.copy(REPO / "requirements/host.txt", ctx / "bootstrap/requirements/host.txt")
    digest = hashlib.sha256(image_id(BASE_IMAGE).encode())
    for path in sorted(p for p in ctx.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(ctx)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_host_image(timings, rebuild=False):
    """Build the host image unless one built from the same inputs exists."""
    with tempfile.TemporaryDirectory(prefix="jhd-lab-ctx-") as tmp:
        ctx = Path(tmp)
        inputs = host_build_context(ctx)
        if not rebuild and image_label(HOST_IMAGE, f"{IMAGE_LABEL}.inputs") == inputs:
            log(f"{HOST_IMAGE} is up to date (inputs {inputs})", "host image")
            return False
        with timings.phase("build host image"):
            ensure_state_dir()
            build_log = STATE_DIR / "build-host.log"
            log(
                f"docker build {HOST_IMAGE} (inputs {inputs}; log: "
                f"{build_log.relative_to(REPO)}; salt's pip install takes minutes)",
                "host image",
            )
            with open(build_log, "w") as out:
                labels = [
                    "--label",
                    f"{IMAGE_LABEL}.inputs={inputs}",
                    "--label",
                    f"{IMAGE_LABEL}=host",
                ]
                build_arg = ["--build-arg", f"BASE_IMAGE={BASE_IMAGE}"]
                if rebuild:
                    build_arg.append("--no-cache")
                proc = subprocess.Popen(
                    ["docker", "build", *build_arg, *labels, "-t", HOST_IMAGE, str(ctx)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                for line in proc.stdout:
                    out.write(line)
                    if line.startswith("Step ") or " bootstrap: " in line:
                        log(line.strip()[:150], "host image")
                if proc.wait() != 0:
                    tail = build_log.read_text().splitlines()[-25:]
                    raise LabError("docker build failed:\n" + "\n".join(tail))
    # The image this one replaced, if no container uses it any more.
    docker("image", "prune", "-f", "--filter", f"label={IMAGE_LABEL}=host", check=False)
    return True


# --- topology ------------------------------------------------------------------------------


class Host:
    def __init__(self, minion_id, address, roles):
        self.id = minion_id
        self.address = address
        self.roles = roles
        self.container = CONTAINER_PREFIX + minion_id

    @property
    def master(self):
        return "hub" in self.roles

    @property
    def runs_docker(self):
        return "hub" in self.roles or "node" in self.roles


class Topology:
    def __init__(self, args):
        self.network = ipaddress.ip_network(args.subnet)
        hosts = list(self.network.hosts())
        addr = lambda n: str(hosts[n - 1])  # noqa: E731  (.n of the subnet)
        self.gateway = addr(1)
        self.standin_address = addr(5)
        self.https_port, self.http_port = args.https_port, args.http_port
        if args.single:
            self.name = "single"
            self.hosts = [Host("allinone", addr(10), ["proxy", "hub", "node"])]
        else:
            self.name = f"nodes{args.nodes}"
            self.hosts = [Host("proxy", addr(2), ["proxy"]), Host("hub", addr(10), ["hub"])] + [
                Host(f"node{i}", addr(10 + i), ["node"]) for i in range(1, args.nodes + 1)
            ]
        self.master = next(h for h in self.hosts if h.master)
        self.site_dir = self.prepare_site_pillar()

    def by_role(self, role):
        return [h.id for h in self.hosts if role in h.roles]

    def site_blocks(self):
        """The site pillar's `hosts:` and `roles:` blocks (and `backup:` on one host)."""
        hosts = "".join(f"  {h.id}: {h.address}\n" for h in self.hosts)
        roles = (
            f"  proxy: {self.by_role('proxy')[0]}\n"
            f"  hub: {self.by_role('hub')[0]}\n"
            f"  nodes: [{', '.join(self.by_role('node'))}]\n"
        )
        blocks = {"hosts": "hosts:\n" + hosts, "roles": "roles:\n" + roles}
        if len(self.hosts) == 1:
            # Backups go to another host (backup:target_host); one host has none.
            blocks["backup"] = (
                "backup:\n  # The one-host lab has no other host to back up to.\n  enabled: false\n"
            )
        return blocks

    def prepare_site_pillar(self):
        """
        A copy of pillar/lab under .lab/site/<lab> for this topology, refreshed at every
        `up`: what the master mounts as the site pillar. Being a copy, it can be edited on
        a running lab (the e2e tests shorten the cull timeout this way) and the next `up`
        puts it back.
        """
        blocks = self.site_blocks()
        # The HTTPS port browsers use (redirects, OAuth callback) is the published one.
        port_line = f"  public_port: {self.https_port}\n"
        site_sls = LAB_PILLAR / "site.sls"
        if not site_sls.exists():
            raise LabError(f"{site_sls} not found: the lab needs the lab site pillar")
        text = site_sls.read_text()
        ensure_state_dir()
        name = self.name if self.https_port == 8443 else f"{self.name}-{self.https_port}"
        target = STATE_DIR / "site" / name
        target.mkdir(parents=True, exist_ok=True)
        # Refill in place: the hub bind-mounts this directory.
        for child in target.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        shutil.copytree(LAB_PILLAR, target, dirs_exist_ok=True)
        for key, block in blocks.items():
            text, count = re.subn(
                rf"(?m)^{key}:\n(?:[ \t#].*\n|\n)*?(?=^\S|\Z)",
                lambda _m, b=block: b + "\n",
                text,
                count=1,
            )
            if count != 1:
                raise LabError(f"{site_sls}: no top-level `{key}:` block to replace")
        text, count = re.subn(r"(?m)^  public_port: .*\n", port_line, text, count=1)
        if count != 1:
            log(f"{site_sls} has no proxy public_port: redirects may miss the port", "site")
        (target / "site.sls").write_text(
            f"# Generated by script/lab from pillar/lab/site.sls for the {name} lab: only\n"
            f"# {', '.join(f'`{k}:`' for k in blocks)} and proxy `public_port` differ.\n"
            "# Edit pillar/lab: the next `script/lab up` overwrites this copy.\n" + text
        )
        return target


# --- containers ----------------------------------------------------------------------------


def lab_containers():
    """{name: {...}} of every container the lab made, running or not."""
    proc = docker("ps", "-a", "--filter", f"label={LABEL}.id", "--format", "{{.Names}}")
    names = [n for n in proc.stdout.split() if n.startswith(CONTAINER_PREFIX)]
    if not names:
        return {}
    return {c["Name"].lstrip("/"): c for c in json.loads(docker("inspect", *names).stdout)}


def ensure_network(topo):
    proc = docker("network", "inspect", NETWORK, check=False)
    if proc.returncode == 0:
        net = json.loads(proc.stdout)[0]
        subnets = [c.get("Subnet") for c in net["IPAM"]["Config"] or []]
        if subnets == [str(topo.network)]:
            return net["Id"]
        log(f"{NETWORK} has subnet {subnets}, not {topo.network}: recreating it", "network")
        for name in net.get("Containers", {}).values():
            docker("rm", "-f", name["Name"], check=False)
        docker("network", "rm", NETWORK)
    log(f"creating {NETWORK} ({topo.network})", "network")
    subnet = ["--subnet", str(topo.network), "--gateway", topo.gateway]
    proc = docker("network", "create", "--label", LABEL, *subnet, NETWORK, check=False)
    if proc.returncode != 0:
        raise LabError(
            f"cannot create network {NETWORK} ({topo.network}): {proc.stderr.strip()}"
            "\nChoose another one with --subnet."
        )
    return proc.stdout.strip()


def ensure_volume(name):
    if not docker_ok("volume", "inspect", name):
        docker("volume", "create", "--label", LABEL, name)


def run_args(host, topo, image, network_id):
    """`docker run` arguments for host, and a hash of them (a container label)."""
    args = [
        *("--name", host.container, "--hostname", host.id),
        *("--network", NETWORK, "--ip", host.address, "--network-alias", host.id),
        *("--label", LABEL, "--label", f"{LABEL}.id={host.id}"),
        *("--label", f"{LABEL}.roles={','.join(host.roles)}"),
        *SYSTEMD_RUN_FLAGS,
        # systemd's machine-id: else every host takes the machine's (its DMI product uuid).
        *("-e", f"container_uuid={uuid.uuid5(uuid.NAMESPACE_URL, f'jhd-lab:{host.id}')}"),
        # The inner engine needs a real filesystem for overlay2, not the container's overlay.
        *("-v", f"jhd-lab-docker-{host.id}:/var/lib/docker"),
    ]
    if host.runs_docker:
        # No kernel NFS here: hub and nodes share /home and nbgrader's exchange through
        # volumes instead.
        args += ["-v", f"{HOME_VOLUME}:/home", "-v", f"{EXCHANGE_VOLUME}:{EXCHANGE_DIR}"]
    if host.master:
        args += ["-v", f"{REPO}:{DEPLOY_DIR}:ro", "-v", f"{topo.site_dir}:{SITE_DIR}:ro"]
    if "proxy" in host.roles:
        args += ["-p", f"127.0.0.1:{topo.https_port}:443", "-p", f"127.0.0.1:{topo.http_port}:80"]
    config = hashlib.sha256("\0".join([image, network_id, *args]).encode()).hexdigest()[:16]
    return args + ["--label", f"{LABEL}.config={config}", image], config


def ensure_containers(topo, network_id):
    """Create, start or keep each host's container; return the hosts (re)created."""
    image = image_id(HOST_IMAGE)
    existing = lab_containers()
    stale = sorted(set(existing) - {h.container for h in topo.hosts} - {STANDIN})
    if stale:
        log(f"removing {', '.join(stale)} (not part of this lab)", "containers")
        docker("rm", "-f", *stale)
    plans = {}
    for host in topo.hosts:
        args, config = run_args(host, topo, image, network_id)
        current = existing.get(host.container)
        if current and current["Config"]["Labels"].get(f"{LABEL}.config") == config:
            plans[host] = ("start" if not current["State"]["Running"] else "keep", args)
        elif current:
            plans[host] = ("recreate", args)
        elif docker_ok("container", "inspect", host.container):
            raise LabError(f"a container named {host.container} exists and is not the lab's")
        else:
            plans[host] = ("create", args)
    created = []
    for host, (plan, args) in plans.items():
        if plan == "keep":
            log(f"{host.container} is up to date and running", "containers")
            continue
        if plan == "start":
            log(f"starting {host.container}", "containers")
            docker("start", host.container)
            continue
        if plan == "recreate":
            log(f"recreating {host.container} (image or settings changed)", "containers")
            docker("rm", "-f", host.container)
        ensure_volume(f"jhd-lab-docker-{host.id}")
        if host.runs_docker:
            ensure_volume(HOME_VOLUME)
            ensure_volume(EXCHANGE_VOLUME)
        roles = "+".join(host.roles)
        log(f"creating {host.container} ({host.id}, {host.address}, {roles})", "containers")
        docker("run", "-d", *args)
        created.append(host)
    return created


def lab_pillar_value(relpath, key):
    """A scalar `key: value` from the lab's pillar files (stdlib only: no YAML parser)."""
    text = (LAB_PILLAR / relpath).read_text()
    match = re.search(rf"(?m)^\s*{key}:\s*(\S+)\s*$", text)
    if not match:
        raise LabError(f"pillar/lab/{relpath}: no `{key}:` for the Google stand-in")
    return match.group(1)


def ensure_google_standin(topo):
    """The lab-only stand-in for Google's OAuth endpoints (lab/google_standin.py).

    The browser reaches it on loopback, the hub at .5 of the lab network; the lab's site
    pillar points auth:google's URLs there.
    """
    args = [
        *("--name", STANDIN, "--network", NETWORK, "--ip", topo.standin_address),
        *("--label", LABEL, "-p", f"127.0.0.1:{STANDIN_PORT}:{STANDIN_PORT}"),
        *("-v", f"{REPO / 'lab' / 'google_standin.py'}:/opt/google_standin.py:ro"),
        *("--restart", "unless-stopped", "--entrypoint", "python3", HOST_IMAGE),
        "/opt/google_standin.py", "--port", str(STANDIN_PORT),
        "--client-id", lab_pillar_value("site.sls", "client_id"),
        "--client-secret", lab_pillar_value("secrets/hub.sls", "client_secret"),
        "--domain", lab_pillar_value("site.sls", "hosted_domain"),
    ]  # fmt: skip
    config = hashlib.sha256("\0".join(args).encode()).hexdigest()[:16]
    current = docker("ps", "-a", "--filter", f"name=^{STANDIN}$", "--format",
                     f'{{{{.Label "{LABEL}.config"}}}} {{{{.State}}}}').stdout.split()  # fmt: skip
    if current == [config, "running"]:
        return
    docker("rm", "-f", STANDIN, check=False)
    log(f"starting the Google stand-in (lab only) at {topo.standin_address}", "containers")
    docker("run", "-d", "--label", f"{LABEL}.config={config}", *args)


def wait_for_systemd(host):
    def booted():
        proc = dexec(host.container, "systemctl", "is-system-running", check=False, timeout=30)
        state = proc.stdout.strip()
        return state if state in ("running", "degraded") else None

    state = wait_for(f"systemd on {host.id}", booted, timeout=180, step=host.id)
    if state == "degraded":
        failed = dexec(host.container, "systemctl", "--failed", "--no-legend", check=False)
        log(f"systemd is degraded: {failed.stdout.strip()}", host.id)


# --- salt ------------------------------------------------------------------------------------


def bootstrap_host(host, topo):
    """script/bootstrap in the host: the hub runs the mounted checkout's, the others the image's."""
    script = f"{DEPLOY_DIR}/script/bootstrap" if host.master else IMAGE_BOOTSTRAP
    cmd = [script, "--id", host.id, "--master-address", topo.master.address]
    if host.master:
        cmd.insert(1, "--master")
    proc = dexec(host.container, *cmd, check=False, timeout=1200)
    if proc.returncode != 0:
        raise LabError(f"bootstrap failed on {host.id}:\n{proc.stdout}{proc.stderr}")
    log("salt configured", host.id)


def salt_keys(master):
    proc = dexec(master.container, "salt-key", "-L", "--out", "json", workdir=DEPLOY_DIR)
    return json.loads(proc.stdout)


def forget_keys(topo, hosts):
    """A recreated host has a new key: drop its old one (and those of removed hosts)."""
    keys = salt_keys(topo.master)
    known = {h.id for h in topo.hosts}
    recreated = {h.id for h in hosts}
    for kind in ("minions", "minions_pre", "minions_denied", "minions_rejected"):
        for minion in keys.get(kind, []):
            if minion not in known or minion in recreated:
                log(f"deleting the old key of {minion} ({kind})", "keys")
                dexec(topo.master.container, "salt-key", "-y", "-d", minion, workdir=DEPLOY_DIR)


def forget_master_key(host):
    """A kept minion of a new master: it must drop the old master's key to trust the new one."""
    log("new master: forgetting the old master key and restarting salt-minion", host.id)
    dexec(host.container, "rm", "-f", "/etc/salt/pki/minion/minion_master.pub")
    dexec(host.container, "systemctl", "restart", "salt-minion")


def minion_public_key(host):
    return dexec(host.container, "cat", "/etc/salt/pki/minion/minion.pub").stdout


def accept_keys(topo):
    """Accept exactly the lab's minion ids, each after checking its key against the minion."""
    master = topo.master
    keys = salt_keys(master)
    pending = [h for h in topo.hosts if h.id not in keys.get("minions", [])]
    if not pending:
        log("all minion keys already accepted", "keys")
        return
    wait_for(
        "minion keys " + ", ".join(h.id for h in pending),
        lambda: {h.id for h in pending} <= set(salt_keys(master).get("minions_pre", [])),
        timeout=120,
        step="keys",
    )
    # The whole public keys are compared, not fingerprints: salt 3008.4's salt-key -f and
    # salt-call key.finger hash different things (saltstack/salt#69970).
    ids = ",".join(h.id for h in pending)
    shown = json.loads(
        dexec(master.container, "salt-key", "-p", ids, "--out", "json", workdir=DEPLOY_DIR).stdout
    ).get("minions_pre", {})
    own = dict(zip(pending, parallel(minion_public_key, pending), strict=True))
    for host in pending:
        if shown.get(host.id, "").split() != own[host].split():
            raise LabError(
                f"the key the master has for {host.id} is not the minion's own: not accepting it"
            )
    # A comma-separated list: exactly these ids (none has a glob character).
    dexec(master.container, "salt-key", "-y", "-a", ids, workdir=DEPLOY_DIR)
    log(f"accepted {ids.replace(',', ', ')} (each key checked against the minion's own)", "keys")
    # No restart to hurry them: a minion retries every 10 s, and salt-minion takes 9 s to stop.


def wait_for_ping(topo):
    waiting = {h.id for h in topo.hosts}

    def all_answered():
        # Only the minions yet to answer: one that does not holds a poll for -t + 10 s.
        out = salt_json(
            topo.master.container,
            "-t",
            "3",
            "-L",
            ",".join(sorted(waiting)),
            "test.ping",
            timeout=60,
        )
        waiting.difference_update(i for i, ret in out.items() if ret is True)
        return not waiting

    wait_for("test.ping from every minion", all_answered, timeout=180, interval=1, step="ping")
    log("all minions answer", "ping")


def load_base_image(host):
    """The hosts' engines cannot pull either: give them the lab's Debian base image."""
    if dexec(host.container, "docker", "image", "inspect", BASE_IMAGE, check=False).returncode == 0:
        return
    wait_for(
        f"dockerd on {host.id}",
        lambda: dexec(host.container, "docker", "info", check=False).returncode == 0,
        timeout=60,
        step=host.id,
    )
    problem = pipe(
        ["docker", "save", BASE_IMAGE], ["docker", "exec", "-i", host.container, "docker", "load"]
    )
    if problem is not None:
        raise LabError(f"loading {BASE_IMAGE} into {host.id} failed: {problem}")
    log(f"loaded {BASE_IMAGE} into its engine", host.id)


class Heartbeat:
    """Log 'still running' every interval seconds while a long command runs."""

    def __init__(self, what, step, interval=30):
        self.what, self.step, self.interval = what, step, interval
        self.stop = threading.Event()

    def __enter__(self):
        def beat():
            t0 = time.monotonic()
            while not self.stop.wait(self.interval):
                log(f"{self.what}: still running ({time.monotonic() - t0:.0f}s)", self.step)

        threading.Thread(target=beat, daemon=True).start()

    def __exit__(self, *_):
        self.stop.set()


def summarize_highstate(result, expected):
    """Print a per-minion summary and every failed state; return the number of failures."""
    ensure_state_dir()
    failures = 0
    for minion in expected:
        ret = result.get(minion)
        if ret is None:
            print(f"  {minion}: NO RETURN (minion did not answer in time)")
            failures += 1
            continue
        if not isinstance(ret, dict):  # render or compile errors come back as a list
            lines = ret if isinstance(ret, list) else [ret]
            print(f"  {minion}: ERROR\n" + "\n".join(f"      {line}" for line in lines))
            failures += 1
            continue
        states = sorted(ret.values(), key=lambda s: s.get("__run_num__", 0))
        failed = [s for s in states if s.get("result") is False]
        changed = sum(1 for s in states if s.get("changes"))
        seconds = sum(s.get("duration", 0) for s in states) / 1000
        print(
            f"  {minion}: {len(states)} states, {len(states) - len(failed)} succeeded, "
            f"{changed} changed, {len(failed)} failed ({seconds:.1f}s)"
        )
        for state in failed:
            comment = str(state.get("comment", "")).strip().replace("\n", "\n        ")
            print(
                f"    FAILED {state.get('__sls__', '?')}: {state.get('__id__', '?')} "
                f"({state.get('name', '')})\n        {comment}"
            )
        failures += len(failed)
    return failures


def highstate(topo, label):
    """
    saltutil.sync_all, then state.apply through the master: the hub first (it publishes
    what the others read from the mine: the swarm token, its backup key), then the rest.
    """
    master = topo.master.container
    ids = [h.id for h in topo.hosts]
    sync = salt_json(master, "-t", "120", "-L", ",".join(ids), "saltutil.sync_all", timeout=300)
    missing = [i for i in ids if i not in sync]
    if missing:
        raise LabError(f"saltutil.sync_all: no answer from {', '.join(missing)}")
    log("custom modules synced", "salt")
    hub = topo.by_role("hub")[0]
    others = [i for i in ids if i != hub]
    with Heartbeat("state.apply", "salt"):
        result = salt_json(master, "-t", "3600", hub, "state.apply", timeout=4000)
        if others:
            result.update(
                salt_json(
                    master, "-t", "3600", "-L", ",".join(others), "state.apply", timeout=4000
                )  # fmt: skip
            )
    path = STATE_DIR / f"highstate-{label}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nstate.apply ({label}; full result: {path.relative_to(REPO)}):")
    return summarize_highstate(result, ids)


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
    built_base = build_base_image(timings, args.rebuild)
    if build_host_image(timings, args.rebuild) or built_base:
        outcome["kind"] = "cold"
    with timings.phase("containers"):
        topo = Topology(args)
        outcome["topology"] = topo.name
        log(f"site pillar: {topo.site_dir.relative_to(REPO)} (from pillar/lab)", "containers")
        network_id = ensure_network(topo)
        created = ensure_containers(topo, network_id)
        outcome["created"] = [h.id for h in created]
        ensure_google_standin(topo)
        parallel(wait_for_systemd, topo.hosts)
    with timings.phase("salt bootstrap"):
        bootstrap_host(topo.master, topo)
        forget_keys(topo, created)
        parallel(lambda h: bootstrap_host(h, topo), [h for h in topo.hosts if not h.master])
        if topo.master in created:
            parallel(forget_master_key, [h for h in topo.hosts if h not in created])
        accept_keys(topo)
        wait_for_ping(topo)
    with timings.phase("load base image into hosts"):
        parallel(load_base_image, [h for h in topo.hosts if h.runs_docker])
    failures = 0
    if not args.no_apply:
        with timings.phase("highstate"):
            label = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            failures = highstate(topo, label)
        outcome["failed_states"] = failures
        forget_swarm_nodes(topo)
    print_access(topo)
    return failures


def forget_swarm_nodes(topo):
    """Swarm keeps a node that left the lab (up --nodes 3, then 2) as Down: remove it."""
    master = topo.master.container
    listing = dexec(master, "docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}}",
                    check=False)  # fmt: skip
    ids = {h.id for h in topo.hosts}
    for line in (listing.stdout or "").splitlines():
        name, _, status = line.partition(" ")
        if name not in ids and status == "Down":
            log(f"removing {name} from the swarm (not part of this lab)", "swarm")
            dexec(master, "docker", "node", "rm", name, check=False)


def print_access(topo):
    proxy = topo.by_role("proxy")[0]
    print(f"""
Lab {topo.name}: {", ".join(f"{h.id} {h.address}" for h in topo.hosts)}
  JupyterHub:   https://localhost:{topo.https_port}/
                (http://localhost:{topo.http_port}/ redirects), served by {proxy}'s nginx
                with the lab's own CA (on {proxy}: /etc/nginx/tls/ca.crt).
  Log in:       "Sign in with Google" leads to the lab's stand-in for Google
                (http://localhost:{STANDIN_PORT}, lab only): enter a student of
                pillar/lab/site.sls, e.g. alice@lab.example (labadmin@lab.example is admin).
  /home:        one Docker volume ({HOME_VOLUME}) mounted on the hub and the nodes; the kernel
                here has no NFS, so nfs is disabled in the lab's site pillar.
  Salt:         script/lab salt '*' test.ping        script/lab exec {topo.master.id} bash
""")


def master_container():
    for name, info in lab_containers().items():
        roles = info["Config"]["Labels"].get(f"{LABEL}.roles", "").split(",")
        if "hub" in roles and info["State"]["Running"]:
            return name
    raise LabError("the lab is not running (no hub container): script/lab up")


def cmd_engine(args):
    """The machine's engine running, with the base image other builds start FROM."""
    timings = Timings("engine")
    try:
        with timings.phase("machine"):
            ensure_machine_packages(need_debootstrap=False)
            ensure_engine()
        build_base_image(timings)
    finally:
        timings.save()
    return 0


def cmd_down(args):
    containers = sorted(lab_containers())
    if docker_ok("container", "inspect", STANDIN):
        containers.append(STANDIN)
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
    current = image_id(HOST_IMAGE) if docker_ok("image", "inspect", HOST_IMAGE) else None
    print(f"{'CONTAINER':<14} {'HOST':<10} {'STATE':<9} {'ADDRESS':<15} {'ROLES':<16} IMAGE")
    for name, info in sorted(containers.items()):
        labels = info["Config"]["Labels"]
        net = info["NetworkSettings"]["Networks"].get(NETWORK, {})
        print(
            f"{name:<14} {info['Config']['Hostname']:<10} {info['State']['Status']:<9} "
            f"{net.get('IPAddress', '-'):<15} {labels.get(f'{LABEL}.roles', ''):<16} "
            f"{'current' if info['Image'] == current else 'OLD (script/lab up recreates)'}"
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
        "--rebuild",
        action="store_true",
        help="rebuild both images from scratch (fresh Debian packages, salt from PyPI)",
    )
    up.add_argument(
        "--no-apply", action="store_true", help="stop after salt answers: no state.apply"
    )
    up.set_defaults(func=cmd_up)

    engine = sub.add_parser(
        "engine", help=f"dockerd running (installed if missing) and {BASE_IMAGE} built"
    )
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
