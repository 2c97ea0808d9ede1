"""What every part of the lab shares: paths and names, LabError, log, running commands."""

import concurrent.futures
import datetime
import hashlib
import json
import subprocess
import time
from pathlib import Path

# lab/jhdlab/common.py: the checkout is two levels up.
REPO = Path(__file__).resolve().parent.parent.parent
STATE_DIR = REPO / ".lab"  # git-ignored by its own .gitignore
LAB_PILLAR = REPO / "pillar" / "lab"

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

STARTED = time.monotonic()


class LabError(Exception):
    pass


# --- output ---------------------------------------------------------------------------------


def log(msg, step=None):
    now = datetime.datetime.now().strftime("%H:%M:%S")
    elapsed = time.monotonic() - STARTED
    prefix = f"[{now} +{elapsed:5.0f}s]"
    print(f"{prefix} {step + ': ' if step else ''}{msg}", flush=True)


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


def ensure_sidecar(name, args, inputs=()):
    """A lab-only container ``name`` (the Google stand-in, Pebble, bind9) run with ``args``,
    recreated when they or ``inputs`` changed; whether it was (re)started."""
    config = hashlib.sha256("\0".join([*args, *inputs]).encode()).hexdigest()[:16]
    current = docker("ps", "-a", "--filter", f"name=^{name}$", "--format",
                     f'{{{{.Label "{LABEL}.config"}}}} {{{{.State}}}}').stdout.split()  # fmt: skip
    if current == [config, "running"]:
        return False
    docker("rm", "-f", name, check=False)
    docker("run", "-d", "--label", LABEL, "--label", f"{LABEL}.config={config}", *args)
    return True


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
