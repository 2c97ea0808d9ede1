"""
Salt in the lab's hosts: script/bootstrap in each, the minion keys (each checked against
the minion's own before it is accepted), test.ping, and the highstate with its summary.
"""

import json
import threading
import time

from .common import (
    DEPLOY_DIR,
    IMAGE_BOOTSTRAP,
    REPO,
    STATE_DIR,
    LabError,
    dexec,
    ensure_state_dir,
    log,
    parallel,
    salt_json,
    wait_for,
)

# --- salt ------------------------------------------------------------------------------------


def bootstrap_host(host, topo, master_finger=None):
    """script/bootstrap in the host: the hub runs the mounted checkout's, the others the image's
    (with the master's key fingerprint, so they trust no other master key)."""
    script = f"{DEPLOY_DIR}/script/bootstrap" if host.master else IMAGE_BOOTSTRAP
    cmd = [script, "--id", host.id, "--master-address", topo.master.address]
    if host.master:
        cmd.insert(1, "--master")
    if master_finger:
        cmd += ["--master-finger", master_finger]
    proc = dexec(host.container, *cmd, check=False, timeout=1200)
    if proc.returncode != 0:
        raise LabError(f"bootstrap failed on {host.id}:\n{proc.stdout}{proc.stderr}")
    log("salt configured", host.id)


def master_finger(master):
    """The master's key fingerprint, as script/bootstrap --master recorded it."""
    proc = dexec(master.container, "cat", "/etc/jupyterhub-deploy/master-finger")
    return proc.stdout.strip()


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
