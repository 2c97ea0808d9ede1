"""
The lab's ACME server (issue #22): Pebble, Let's Encrypt's test server, from Debian's
package, in the proxy's network namespace, and the DNS server it asks (bind9, there too,
127.0.0.1:53: authoritative for localhost, taking RFC 2136 updates signed with the lab's
TSIG key). Pebble validates HTTP-01 against the proxy's nginx under the site's own name
(localhost) and DNS-01 through bind9, and listens on the proxy's loopback only:
https://localhost:14000/dir (ACME), :15000 (management: /roots/0, /intermediates/0).

Debian's package ships no certificate for Pebble's own HTTPS: the lab makes a CA and one
for localhost (.lab/pebble/https), and the site pillar hands that CA to the proxy as
proxy:tls:acme:directory_ca. Pebble keeps everything in memory, so a restarted Pebble is a
new CA whose account list is empty: `up` then clears the proxy's certbot state, and the
highstate issues again.
"""

import base64
import hashlib
import secrets
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
    ensure_sidecar,
    ensure_state_dir,
    log,
    run,
    wait_for,
)
from .images import base_image, image_id, image_label

PEBBLE = "jhd-pebble"
DNS = "jhd-lab-dns"
HTTPS_DIR = STATE_DIR / "pebble" / "https"
KEY_DIR = STATE_DIR / "pebble" / "dns-key"
FILES = REPO / "lab/pebble"
MANAGEMENT = "https://localhost:15000"
LINEAGE = "/etc/letsencrypt/live/jupyterhub"


def pebble_image(release):
    """Pebble and bind9 (Debian's packages) on the lab's base image."""
    return f"jupyterhub-deploy/lab-acme:{release}"


def tsig_secret():
    """The lab's TSIG key for RFC 2136 updates (made once per checkout): its secret."""
    secret_file = KEY_DIR / "secret"
    if not secret_file.exists():
        ensure_state_dir()
        KEY_DIR.mkdir(parents=True, exist_ok=True)
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        (KEY_DIR / "key.conf").write_text(
            f'key "acme-key." {{ algorithm hmac-sha256; secret "{secret}"; }};\n'
        )
        (KEY_DIR / "key.conf").chmod(0o644)  # read by named in its container; lab only
        secret_file.write_text(secret + "\n")
    return secret_file.read_text().strip()


def directory_ca():
    """PEM of the CA of Pebble's own HTTPS (made once per checkout)."""
    ensure_https_certificate()
    return (HTTPS_DIR / "ca.pem").read_text()


def ensure_https_certificate():
    """A CA and a certificate for localhost, for Pebble's HTTPS (its package has none)."""
    if (HTTPS_DIR / "cert.pem").exists():
        return
    ensure_state_dir()
    HTTPS_DIR.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    with tempfile.TemporaryDirectory() as tmp:
        ca_key, csr = Path(tmp) / "ca.key", Path(tmp) / "leaf.csr"
        ext = Path(tmp) / "leaf.ext"
        ext.write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
            "basicConstraints=critical,CA:false\n"
        )
        run(["openssl", "req", "-x509", *ec, "-days", "3650", "-keyout", str(ca_key),
             "-out", str(HTTPS_DIR / "ca.pem"), "-subj", "/CN=jupyterhub-deploy lab ACME server CA",
             "-addext", "basicConstraints=critical,CA:true",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])  # fmt: skip
        run(["openssl", "req", *ec, "-keyout", str(HTTPS_DIR / "key.pem"), "-out", str(csr),
             "-subj", "/CN=localhost"])  # fmt: skip
        run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(HTTPS_DIR / "ca.pem"),
             "-CAkey", str(ca_key), "-CAcreateserial", "-days", "3650", "-extfile", str(ext),
             "-out", str(HTTPS_DIR / "cert.pem")])  # fmt: skip
    (HTTPS_DIR / "key.pem").chmod(0o644)  # read by pebble in its container; lab only


def build_pebble_image(release):
    """Pebble's image (Debian's package on the lab's base image), rebuilt when its inputs change."""
    image = pebble_image(release)
    dockerfile = FILES / "Dockerfile"
    inputs = hashlib.sha256(image_id(base_image(release)).encode() + dockerfile.read_bytes())
    inputs = inputs.hexdigest()[:16]
    if image_label(image, f"{IMAGE_LABEL}.inputs") == inputs:
        return
    log(f"docker build {image} (Debian's pebble and bind9)", "acme")
    with tempfile.TemporaryDirectory(prefix="jhd-lab-pebble-") as tmp:
        shutil.copy(dockerfile, Path(tmp) / "Dockerfile")
        proc = subprocess.run(
            ["docker", "build", "--build-arg", f"BASE_IMAGE={base_image(release)}",
             "--label", f"{IMAGE_LABEL}.inputs={inputs}", "-t", image, tmp],
            capture_output=True, text=True,
        )  # fmt: skip
    if proc.returncode != 0:
        raise LabError(f"building {image} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")


def ensure_pebble(topo):
    """bind9 and Pebble running in the proxy's network namespace (recreated with it)."""
    ensure_https_certificate()
    tsig_secret()
    build_pebble_image(topo.release)
    image = pebble_image(topo.release)
    proxy = next(h for h in topo.hosts if "proxy" in h.roles).container
    proxy_id = docker("inspect", "-f", "{{.Id}}", proxy).stdout.strip()
    namespace = ("--network", f"container:{proxy_id}", "--restart", "unless-stopped")
    inputs = [image_id(image), *((FILES / f).read_text() for f in ("named.conf", "db.localhost"))]
    log(f"bind9 and Pebble (lab only) in {proxy}'s network namespace", "acme")
    ensure_sidecar(DNS, [
        "--name", DNS, *namespace,
        "-v", f"{FILES / 'named.conf'}:/etc/bind/lab/named.conf:ro",
        "-v", f"{FILES / 'db.localhost'}:/etc/bind/lab/db.localhost:ro",
        "-v", f"{KEY_DIR / 'key.conf'}:/etc/bind/lab-key/key.conf:ro",
        "--entrypoint", "sh", image, "-c",
        # The zone where named may write its journal (the updates).
        "install -o bind -g bind -m 0644 /etc/bind/lab/db.localhost /var/lib/bind/ && "
        "exec named -g -u bind -c /etc/bind/lab/named.conf",
    ], inputs)  # fmt: skip
    settings = (FILES / "pebble-config.json").read_text()
    ensure_sidecar(PEBBLE, [
        "--name", PEBBLE, *namespace,
        # No random sleep before validations, no rejected nonces (certbot 2.1 retries once),
        # and every order validated anew (by default Pebble reuses half the authorizations,
        # and a test of a failing challenge then passed in CI).
        "-e", "PEBBLE_VA_NOSLEEP=1", "-e", "PEBBLE_WFE_NONCEREJECT=0", "-e", "PEBBLE_AUTHZREUSE=0",
        "-v", f"{HTTPS_DIR}:/etc/pebble/https:ro",
        "-v", f"{FILES / 'pebble-config.json'}:/etc/pebble/pebble-config.json:ro",
        "--entrypoint", "pebble", image,
        "-config", "/etc/pebble/pebble-config.json", "-dnsserver", "127.0.0.1:53",
    ], [image_id(image), settings])  # fmt: skip
    wait_for("Pebble", lambda: management(proxy, "/roots/0", check=False), timeout=60, step="acme")
    forget_an_older_pebble(proxy)


def management(proxy, path, check=True):
    """GET a path of Pebble's management API (from inside the proxy); its PEM text."""
    proc = dexec(proxy, "curl", "-sf", "--cacert", "/dev/stdin", MANAGEMENT + path,
                 input=directory_ca(), check=False)  # fmt: skip
    if proc.returncode != 0:
        if check:
            raise LabError(f"Pebble's management API {path}: curl exited {proc.returncode}")
        return None
    return proc.stdout


def forget_an_older_pebble(proxy):
    """Pebble lost its accounts and CA when it restarted: clear certbot's state on the
    proxy when its certificate is not from this Pebble, so the highstate issues again."""
    chain = dexec(proxy, "cat", f"{LINEAGE}/chain.pem", check=False)
    if chain.returncode != 0:
        return
    if chain.stdout.strip() == management(proxy, "/intermediates/0").strip():
        return
    log("the proxy's certificate is from an earlier Pebble: clearing certbot's state", "acme")
    dexec(proxy, "rm", "-rf", *(f"/etc/letsencrypt/{d}" for d in
                                ("accounts", "archive", "live", "renewal")))  # fmt: skip
