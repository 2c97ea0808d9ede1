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

# Debian releases the lab builds hosts of; the first is the default (Debian 13, stable).
RELEASES = ("trixie", "bookworm")
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


def base_image(release):
    """Debian minbase of ``release``: the hosts' image starts FROM it, the hub's images too."""
    return f"jupyterhub-deploy/debian:{release}"


def host_image(release):
    return f"jupyterhub-deploy/host:{release}"


def image_label(image, key):
    proc = docker(
        "image", "inspect", "-f", f'{{{{index .Config.Labels "{key}"}}}}', image, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def image_id(image):
    return docker("image", "inspect", "-f", "{{.Id}}", image).stdout.strip()


def build_base_image(timings, release, rebuild=False):
    """Debian minbase from debootstrap, imported as an image: nothing can be pulled here."""
    base = base_image(release)
    if not rebuild and docker_ok("image", "inspect", base):
        log(f"{base} exists", "base image")
        return False
    with timings.phase("build base image"):
        ensure_machine_packages(need_debootstrap=True)
        with tempfile.TemporaryDirectory(prefix="jhd-lab-rootfs-", dir="/var/tmp") as tmp:
            root = Path(tmp) / "root"
            log(f"debootstrap --variant=minbase {release} ({MIRROR})", "base image")
            argv = ["debootstrap", "--variant=minbase", release, str(root), MIRROR]
            proc = run(argv, check=False)
            if proc.returncode != 0:
                raise LabError("debootstrap failed:\n" + (proc.stdout + proc.stderr)[-3000:])
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for path in (root / junk).glob("*"):
                    if path.is_file():
                        path.unlink()
            (root / "etc/apt/sources.list").write_text(
                f"deb {MIRROR} {release} main\n"
                f"deb {MIRROR} {release}-updates main\n"
                f"deb {MIRROR}-security {release}-security main\n"
            )
            log(f"docker import -> {base}", "base image")
            problem = pipe(
                ["tar", "-C", str(root), "-c", "."],
                ["docker", "import", "-c", 'CMD ["/bin/bash"]', "-", base],
            )
            if problem is not None:
                raise LabError(f"docker import failed: {problem}")
    return True


def host_build_context(ctx, release):
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
    digest = hashlib.sha256(image_id(base_image(release)).encode())
    for path in sorted(p for p in ctx.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(ctx)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_host_image(timings, release, rebuild=False):
    """Build the host image unless one built from the same inputs exists."""
    image = host_image(release)
    with tempfile.TemporaryDirectory(prefix="jhd-lab-ctx-") as tmp:
        ctx = Path(tmp)
        inputs = host_build_context(ctx, release)
        if not rebuild and image_label(image, f"{IMAGE_LABEL}.inputs") == inputs:
            log(f"{image} is up to date (inputs {inputs})", "host image")
            return False
        with timings.phase("build host image"):
            ensure_state_dir()
            build_log = STATE_DIR / f"build-host-{release}.log"
            log(
                f"docker build {image} (inputs {inputs}; log: "
                f"{build_log.relative_to(REPO)}; salt's pip install takes minutes)",
                "host image",
            )
            with open(build_log, "w") as out:
                labels = [
                    "--label",
                    f"{IMAGE_LABEL}.inputs={inputs}",
                    "--label",
                    f"{IMAGE_LABEL}=host-{release}",
                ]
                build_arg = ["--build-arg", f"BASE_IMAGE={base_image(release)}"]
                if rebuild:
                    build_arg.append("--no-cache")
                proc = subprocess.Popen(
                    ["docker", "build", *build_arg, *labels, "-t", image, str(ctx)],
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
    docker("image", "prune", "-f", "--filter", f"label={IMAGE_LABEL}=host-{release}", check=False)
    return True


def load_base_image(host, release):
    """The hosts' engines cannot pull either: give them the lab's Debian base image."""
    base = base_image(release)
    if dexec(host.container, "docker", "image", "inspect", base, check=False).returncode == 0:
        return
    wait_for(
        f"dockerd on {host.id}",
        lambda: dexec(host.container, "docker", "info", check=False).returncode == 0,
        timeout=60,
        step=host.id,
    )
    problem = pipe(
        ["docker", "save", base], ["docker", "exec", "-i", host.container, "docker", "load"]
    )
    if problem is not None:
        raise LabError(f"loading {base} into {host.id} failed: {problem}")
    log(f"loaded {base} into its engine", host.id)
