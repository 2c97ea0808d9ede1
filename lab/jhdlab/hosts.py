"""
The lab's hosts as containers: the topology (which hosts, their addresses and roles), the
network and volumes, each host's container created, kept, started or recreated when its
image or settings changed, the Google stand-in, and systemd booted in each.
"""

import hashlib
import ipaddress
import json
import uuid

from .common import (
    CONTAINER_PREFIX,
    DEPLOY_DIR,
    EXCHANGE_DIR,
    EXCHANGE_VOLUME,
    HOME_VOLUME,
    LABEL,
    NETWORK,
    REPO,
    SITE_DIR,
    STANDIN,
    STANDIN_PORT,
    LabError,
    dexec,
    docker,
    docker_ok,
    ensure_sidecar,
    log,
    wait_for,
)
from .images import host_image, image_id
from .site_pillar import SitePillar, lab_pillar_value

# systemd as PID 1 and a Docker engine inside, without --privileged (the machine's engine
# cannot grant CAP_SYS_RESOURCE): see shared PLATFORM.md.
SYSTEMD_RUN_FLAGS = (
    "--cap-add ALL --cap-drop SYS_RESOURCE"
    " --security-opt seccomp=unconfined --security-opt apparmor=unconfined"
    " --security-opt systempaths=unconfined"
    " -v /sys/fs/cgroup:/sys/fs/cgroup --cgroupns=host --tmpfs /run --tmpfs /run/lock"
).split()


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


class Topology(SitePillar):
    def __init__(self, args):
        self.network = ipaddress.ip_network(args.subnet)
        hosts = list(self.network.hosts())
        addr = lambda n: str(hosts[n - 1])  # noqa: E731  (.n of the subnet)
        self.gateway = addr(1)
        self.standin_address = addr(5)
        self.https_port, self.http_port = args.https_port, args.http_port
        self.release = args.release
        self.jupyterhub_version = getattr(args, "jupyterhub_version", None)
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


def docker_volume(host, topo):
    """The host's /var/lib/docker: one per release, so images of one never meet the other's."""
    return f"jhd-lab-docker-{topo.release}-{host.id}"


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
        *("-v", f"{docker_volume(host, topo)}:/var/lib/docker"),
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
    image = image_id(host_image(topo.release))
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
        ensure_volume(docker_volume(host, topo))
        if host.runs_docker:
            ensure_volume(HOME_VOLUME)
            ensure_volume(EXCHANGE_VOLUME)
        roles = "+".join(host.roles)
        log(f"creating {host.container} ({host.id}, {host.address}, {roles})", "containers")
        docker("run", "-d", *args)
        created.append(host)
    return created


def ensure_google_standin(topo):
    """The lab-only stand-in for Google's OAuth endpoints (lab/google_standin.py).

    The browser reaches it on loopback, the hub at .5 of the lab network; the lab's site
    pillar points auth:google's URLs there.
    """
    args = [
        *("--name", STANDIN, "--network", NETWORK, "--ip", topo.standin_address),
        *("-p", f"127.0.0.1:{STANDIN_PORT}:{STANDIN_PORT}"),
        *("-v", f"{REPO / 'lab' / 'google_standin.py'}:/opt/google_standin.py:ro"),
        *("--restart", "unless-stopped", "--entrypoint", "python3", host_image(topo.release)),
        "/opt/google_standin.py", "--port", str(STANDIN_PORT),
        "--client-id", lab_pillar_value("site.sls", "client_id"),
        "--client-secret", lab_pillar_value("secrets/hub.sls", "client_secret"),
        "--domain", lab_pillar_value("site.sls", "hosted_domain"),
    ]  # fmt: skip
    if ensure_sidecar(STANDIN, args):
        log(f"started the Google stand-in (lab only) at {topo.standin_address}", "containers")


def wait_for_systemd(host):
    def booted():
        proc = dexec(host.container, "systemctl", "is-system-running", check=False, timeout=30)
        state = proc.stdout.strip()
        return state if state in ("running", "degraded") else None

    state = wait_for(f"systemd on {host.id}", booted, timeout=180, step=host.id)
    if state == "degraded":
        failed = dexec(host.container, "systemctl", "--failed", "--no-legend", check=False)
        log(f"systemd is degraded: {failed.stdout.strip()}", host.id)


def master_container():
    for name, info in lab_containers().items():
        roles = info["Config"]["Labels"].get(f"{LABEL}.roles", "").split(",")
        if "hub" in roles and info["State"]["Running"]:
            return name
    raise LabError("the lab is not running (no hub container): script/lab up")
