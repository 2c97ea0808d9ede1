"""The host layer of the lab: highstate, swarm, registry, nginx in front of the hub."""

import http.client
import json
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import uuid

import pytest

from tests.common.hubclient import Student
from tests.common.lab import BASE_IMAGE, HTTP_PORT, HTTPS_PORT, SITE

HUB_ADDRESS = SITE["hosts"][SITE["roles"]["hub"]]
NODES = SITE["roles"]["nodes"]


def test_second_highstate_changes_nothing(lab):
    result = lab.salt("*", "state.apply", timeout=1800)
    assert set(result) == set(SITE["hosts"])
    for minion, states in result.items():
        assert isinstance(states, dict), (minion, states)
        failed = {k: v["comment"] for k, v in states.items() if v["result"] is not True}
        changed = {k: v["changes"] for k, v in states.items() if v["changes"]}
        assert failed == {}, minion
        assert changed == {}, minion


def test_every_minion_pins_the_master_s_key(lab):
    """Issue #18 item 8: bootstrap --master-finger, so no minion trusts a key on first use."""
    code = "import salt.utils.crypt as c; print(c.pem_finger('/etc/salt/pki/master/master.pub'))"
    python = "/opt/jupyterhub-deploy/venv/bin/python"
    finger = lab.exec("hub", python, "-c", code).stdout.strip()
    for host in SITE["hosts"]:
        if host == SITE["roles"]["hub"]:
            continue
        conf = lab.exec(host, "cat", "/etc/salt/minion.d/jupyterhub-deploy.conf").stdout
        assert f"master_finger: '{finger}'" in conf.splitlines(), (host, conf)


SSH_TRY = """
set -e
user=$1 home=$(getent passwd "$1" | cut -d: -f6) d=$(mktemp -d)
ssh-keygen -q -t ed25519 -N '' -f "$d/key"
runuser -u "$user" -- sh -c 'mkdir -p "$1/.ssh" && chmod 700 "$1/.ssh" &&
    cat >"$1/.ssh/authorized_keys" && chmod 600 "$1/.ssh/authorized_keys"' sh "$home" <"$d/key.pub"
if ssh -i "$d/key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        "$user@$2" true 2>"$d/err"; then echo allowed; else echo refused; fi
rm -f "$home/.ssh/authorized_keys"; rm -rf "$d"
"""


def test_only_staff_and_root_may_ssh_in_not_a_student_with_their_own_key(lab, ca_file):
    """Issue #18 item 8: a student writes their own home, ~/.ssh/authorized_keys included;
    sshd's AllowGroups lets in root and the ssh group (staff, the backup account) only."""
    Student("alice", ca_file).login()  # the account exists
    staff = next(iter(SITE["users"]["staff"]))
    tries = {user: lab.exec("hub", "sh", "-c", SSH_TRY, "sh", user, HUB_ADDRESS).stdout.strip()
             for user in ("alice", staff)}  # fmt: skip
    assert tries == {"alice": "refused", staff: "allowed"}
    shell = lab.exec("hub", "getent", "passwd", "alice").stdout.strip().rsplit(":", 1)[1]
    print("alice's shell on the hub:", shell)


def test_a_node_cannot_give_itself_a_staff_login_through_the_shared_homes(lab):
    """Issue #18 item 6: /home is the hub's NFS export, which a node's root writes as any uid
    (sec=sys). Staff log in with keys and dotfiles from a home on each host's own disk, so
    a key planted in /home/<staff>/.ssh from a node opens nothing (the lab shares /home
    through a Docker volume, its stand-in for NFS)."""
    staff = next(iter(SITE["users"]["staff"]))
    node = SITE["roles"]["nodes"][0]
    planted = lab.exec(node, "sh", "-c", SSH_TRY.replace('home=$(getent passwd "$1" | cut -d: -f6)',
                       'home=/home/$1'), "sh", staff, HUB_ADDRESS).stdout.strip()  # fmt: skip
    assert planted == "refused"
    for host in ("hub", node):
        home = lab.exec(host, "getent", "passwd", staff).stdout.strip().split(":")[5]
        assert not home.startswith("/home/"), (host, home)


def test_a_cloud_image_s_sshd_drop_in_does_not_turn_passwords_back_on(lab):
    """Issue #20: sshd keeps the first value it reads; a cloud image's 50-cloud-init.conf
    (PasswordAuthentication yes) sorted before our drop-in and won."""
    cloud = "/etc/ssh/sshd_config.d/50-cloud-init.conf"
    lab.exec("proxy", "sh", "-c", f"echo 'PasswordAuthentication yes' > {cloud}")
    try:
        effective = lab.exec("proxy", "sshd", "-T").stdout.splitlines()
    finally:
        lab.exec("proxy", "rm", "-f", cloud)
    assert "passwordauthentication no" in effective
    assert "allowgroups root" in " ".join(effective)


def test_nodes_are_ready_swarm_workers(lab):
    out = lab.exec("hub", "docker", "node", "ls", "--format", "{{json .}}").stdout
    nodes = {n["Hostname"]: n for n in map(json.loads, out.splitlines())}
    assert set(nodes) == {"hub", *NODES}
    assert nodes["hub"]["ManagerStatus"] == "Leader"
    for node in NODES:
        assert nodes[node]["Status"] == "Ready" and nodes[node]["ManagerStatus"] == ""


def test_a_service_lands_on_a_node_and_pulls_from_the_hub_registry(lab):
    tag = uuid.uuid4().hex[:8]
    image = f"{HUB_ADDRESS}:5000/e2e/probe:{tag}"
    # Pushed through the registry's loopback side (the hub only); nodes pull from the other.
    push = f"127.0.0.1:5001/e2e/probe:{tag}"
    lab.exec("hub", "docker", "tag", BASE_IMAGE, push)
    lab.exec("hub", "docker", "push", push)
    name = f"e2e-probe-{uuid.uuid4().hex[:6]}"
    lab.exec("hub", "docker", "service", "create", "--detach", "--name", name,
             "--constraint", "node.role==worker", "--endpoint-mode", "dnsrr",
             "--network", "jupyterhub", image, "sleep", "600")  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            out = lab.exec("hub", "docker", "service", "ps", name, "--format", "{{json .}}")
            tasks = [json.loads(line) for line in out.stdout.splitlines()]
            running = [t for t in tasks if t["CurrentState"].startswith("Running")]
            if running:
                break
            time.sleep(2)
        else:
            pytest.fail(f"service never ran: {tasks}")
        node = running[0]["Node"]
        assert node in NODES
        # Swarm pulls by digest, so the node lists the repository without the tag.
        pulled = lab.exec(node, "docker", "image", "ls", "--format", "{{.Repository}}")
        assert image.rsplit(":", 1)[0] in pulled.stdout.split()
    finally:
        lab.exec("hub", "docker", "service", "rm", name, check=False)


@pytest.mark.parametrize("port", [5000, 4505, 4506], ids=["registry", "salt-pub", "salt-ret"])
def test_the_hubs_services_listen_on_the_private_address_only(lab, port):
    listening = lab.exec("hub", "ss", "-Hltn", f"sport = :{port}").stdout
    assert f"{HUB_ADDRESS}:{port}" in listening
    assert f"0.0.0.0:{port}" not in listening and f"*:{port}" not in listening


def test_http_redirects_to_https():
    conn = http.client.HTTPConnection("localhost", HTTP_PORT, timeout=10)
    conn.request("GET", "/hub/login?next=%2F")
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://localhost:{HTTPS_PORT}/hub/login?next=%2F"


def test_https_sets_hsts_and_uses_the_lab_certificate(lab):
    conn = http.client.HTTPSConnection(
        "localhost", HTTPS_PORT, context=lab.ca_context(), timeout=10
    )
    conn.request("GET", "/hub/health")
    response = conn.getresponse()
    assert response.getheader("Strict-Transport-Security") == "max-age=31536000"
    cert = conn.sock.getpeercert()
    assert ("DNS", "localhost") in cert["subjectAltName"]


def test_the_lab_hosts_run_debian_13_with_its_duplicity_and_python(lab):
    for host in ("proxy", "hub", SITE["roles"]["nodes"][0]):
        assert "VERSION_CODENAME=trixie" in lab.exec(host, "cat", "/etc/os-release").stdout
    assert lab.exec("hub", "duplicity", "--version").stdout.startswith("duplicity 3.")
    python = lab.exec("hub", "docker", "exec", "jupyterhub", "python3", "--version").stdout
    assert python.startswith("Python 3.13"), python


def test_https_speaks_http2_with_a_config_nginx_does_not_warn_about(lab):
    """nginx 1.26 (Debian 13) deprecates `listen ... http2`; 1.22 (Debian 12) knows no other."""
    context = lab.ca_context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("localhost", HTTPS_PORT), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "h2"
    checked = lab.exec("proxy", "nginx", "-t")
    assert "[warn]" not in checked.stderr and "[emerg]" not in checked.stderr, checked.stderr


def test_plain_old_tls_is_refused():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.minimum_version = ssl.TLSVersion.TLSv1
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        http.client.HTTPSConnection("localhost", HTTPS_PORT, context=context, timeout=10).connect()


def test_tls_passes_mozilla_intermediate(lab, repo, tmp_path):
    """sslyze checks the proxy's TLS against Mozilla's "intermediate" configuration."""
    ca = tmp_path / "lab-ca.pem"
    lab.write_ca(ca)
    sslyze = repo / ".tools/sslyze/bin/sslyze"
    proc = subprocess.run(
        [str(sslyze), "--mozilla_config=intermediate", f"--certinfo_ca_file={ca}",
         f"localhost:{HTTPS_PORT}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert f"localhost:{HTTPS_PORT}: OK - Compliant." in proc.stdout


def test_nginx_caches_the_hubs_static_assets(lab):
    """In place of the original's shared data volume: nginx caches /hub/static/ as pages
    reference it (versioned URLs, which the hub marks cacheable)."""
    with lab.https("/hub/login") as response:
        page = response.read().decode()
    match = re.search(r'/hub/static/[^"?]+\?v=[0-9a-f]+', page)
    assert match, "the login page references no versioned static asset"
    statuses = []
    for _ in range(3):
        with lab.https(match.group(0)) as response:
            response.read()
            statuses.append(response.headers["X-Cache-Status"])
    assert statuses[-1] == "HIT", statuses


def test_nginx_caches_only_uris_that_are_already_normal(lab):
    """Issue #18 item 8: the location matches the normalised path, the key is the URI as
    sent; a URI that only normalises into /hub/static/ (and that the hub's proxy may route
    elsewhere) is never cached."""
    with lab.https("/hub/login") as response:
        page = response.read().decode()
    asset = re.search(r'/hub/static/([^"?]+\?v=[0-9a-f]+)', page).group(1)
    for odd in (f"/hub/static/./{asset}", f"/hub/static/%2e/{asset}", f"/hub//static/{asset}",
                f"/user/x/static/../../hub/static/{asset}"):  # fmt: skip
        statuses = []
        for _ in range(2):
            try:
                with lab.https(odd) as response:
                    response.read()
                    statuses.append(response.headers["X-Cache-Status"])
            except urllib.error.HTTPError as error:
                statuses.append(error.headers["X-Cache-Status"])
        assert set(statuses) <= {"BYPASS", None}, (odd, statuses)
