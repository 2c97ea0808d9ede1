"""
The machine (docker.io, debootstrap, dockerd) and the lab's two images: the Debian base
image from debootstrap and the host image from lab/host/Dockerfile, rebuilt only when their
inputs change; and the base image loaded into the hosts' own engines.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .common import (
    IMAGE_LABEL,
    REPO,
    STATE_DIR,
    LabError,
    dexec,
    docker,
    docker_ok,
    ensure_state_dir,
    log,
    pipe,
    run,
    wait_for,
)

BASE_IMAGE = "jupyterhub-deploy/debian:bookworm"
HOST_IMAGE = "jupyterhub-deploy/host"
SUITE = "bookworm"
MIRROR = os.environ.get("LAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")


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
