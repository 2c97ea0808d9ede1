"""
Certificates from the lab's ACME server (issue #22): Pebble, Let's Encrypt's test server
from Debian's package, runs in the proxy's network namespace (lab/jhdlab/acme.py) and issues
the lab's certificate through certbot's webroot. A renewal by certbot's own timer replaces
it with open websockets left alone; a failure leaves the current certificate serving and
says which domain and what the ACME server said; the site can move to the other sources.
"""

import re
import subprocess
import threading
import time

import requests
import yaml
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from tests.common.certs import make_certificate
from tests.common.hubclient import Busy, Kernel, Student
from tests.common.lab import HTTP_PORT, HTTPS_PORT

NAME = "student16"
RENEWAL_CONF = "/etc/letsencrypt/renewal/jupyterhub.conf"
ACME_STATE = "proxy_tls_|-acme-certificate_|-localhost_|-acme_certificate"


def served_chain():
    """The certificates nginx sends (leaf first), as openssl s_client sees them."""
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", f"localhost:{HTTPS_PORT}", "-servername",
         "localhost", "-showcerts"],
        input="", capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", proc.stdout, re.S)
    assert pems, proc.stdout + proc.stderr
    return [x509.load_pem_x509_certificate(pem.encode()) for pem in pems]


def pem_cert(text):
    return x509.load_pem_x509_certificate(text.encode())


def verify_against_pebble(lab, chain):
    """The chain verifies for localhost against Pebble's root, fetched from Pebble."""
    root = pem_cert(lab.pebble("/roots/0"))
    verifier = PolicyBuilder().store(Store([root])).build_server_verifier(x509.DNSName("localhost"))
    verifier.verify(chain[0], chain[1:])


def test_the_certificate_is_pebble_s_for_the_site_s_name_and_chains_to_its_root(lab):
    chain = served_chain()
    leaf = chain[0]
    intermediate = pem_cert(lab.pebble("/intermediates/0"))
    assert leaf.issuer == intermediate.subject
    assert chain[1] == intermediate
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    verify_against_pebble(lab, chain)
    # Mozilla's guidelines (sslyze's check in test_hosts.py): at most 366 days.
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days <= 366


def test_the_key_is_root_s_alone(lab):
    """Issue #22 item 4: the certificate's key is 0600 root where certbot keeps it and where
    nginx reads it."""
    keys = ("/etc/nginx/tls/server.key", "/etc/letsencrypt/live/jupyterhub/privkey.pem")
    listing = lab.exec("proxy", "stat", "-L", "-c", "%a %U %n", *keys).stdout.split("\n")
    modes = [line.split()[:2] for line in listing if line.strip()]
    assert modes == [["600", "root"], ["600", "root"]], listing


def test_only_the_challenge_path_escapes_the_https_redirect(lab):
    lab.exec("proxy", "sh", "-c", "mkdir -p /var/www/acme/.well-known/acme-challenge && "
             "echo token-e2e > /var/www/acme/.well-known/acme-challenge/token-e2e")  # fmt: skip
    try:
        http = f"http://localhost:{HTTP_PORT}"
        answer = requests.get(f"{http}/.well-known/acme-challenge/token-e2e", timeout=10,
                              allow_redirects=False)  # fmt: skip
        assert answer.status_code == 200 and answer.text.strip() == "token-e2e"
        missing = requests.get(f"{http}/.well-known/acme-challenge/none", timeout=10,
                               allow_redirects=False)  # fmt: skip
        assert missing.status_code == 404
        other = requests.get(f"{http}/hub/login", timeout=10, allow_redirects=False)
        assert other.status_code == 301
        assert other.headers["Location"] == f"https://localhost:{HTTPS_PORT}/hub/login"
        with lab.https("/hub/login") as response:
            assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        lab.exec("proxy", "rm", "-f", "/var/www/acme/.well-known/acme-challenge/token-e2e")


def test_a_second_apply_asks_the_acme_server_nothing(lab):
    before = served_chain()[0].serial_number
    result = lab.salt("proxy", "state.apply", "nginx")["proxy"]
    assert all(state["result"] for state in result.values()), result
    changed = {key: state["changes"] for key, state in result.items() if state["changes"]}
    assert changed == {}, changed
    assert "is current" in result[ACME_STATE]["comment"]
    assert served_chain()[0].serial_number == before


class Requests(threading.Thread):
    """New HTTPS connections to the hub, one after another: each must be answered."""

    def __init__(self, ca_file):
        super().__init__(daemon=True)
        self.ca_file, self.stop, self.done, self.failures = str(ca_file), threading.Event(), 0, []

    def run(self):
        while not self.stop.is_set():
            try:
                answer = requests.get(f"https://localhost:{HTTPS_PORT}/hub/health",
                                      verify=self.ca_file, timeout=10)  # fmt: skip
                assert answer.status_code == 200, answer.status_code
                self.done += 1
            except Exception as exc:  # noqa: BLE001 (any failure is the finding)
                self.failures.append(repr(exc))
            self.stop.wait(0.2)


def renew_at(lab, days):
    """certbot renews the lab's certificate at ``days`` left (salt sets 30 days)."""
    line = f"s/^renew_before_expiry = .*/renew_before_expiry = {days}/"
    lab.exec("proxy", "sed", "-i", line, RENEWAL_CONF)


def test_certbot_s_timer_renews_it_and_nothing_is_dropped(lab, ca_file):
    """The renewal the site relies on: certbot.service (what certbot.timer starts) with the
    CA setting salt gave it, the deploy hook certbot kept, nginx reloaded. Made due by
    renewing at 100 days left (Pebble's certificates last 90)."""
    student = Student(NAME, ca_file)
    student.login()
    student.start_server()
    before = served_chain()[0].serial_number
    try:
        student.open_lab()
        busy, asking = Busy(Kernel(student).channels()), Requests(ca_file)
        busy.start()
        asking.start()
        assert busy.executes_for(2) >= 1
        renew_at(lab, "100 days")
        started = time.monotonic()
        lab.exec("proxy", "systemctl", "start", "certbot.service")
        print(f"certbot.service renewed in {time.monotonic() - started:.1f} s")
        chain = served_chain()
        assert chain[0].serial_number != before, "the renewal served no new certificate"
        verify_against_pebble(lab, chain)
        assert busy.executes_for(3) >= 2, "no execute after the renewal"
        asking.stop.set()
        busy.stop.set()
        asking.join(20)
        busy.join(40)
        assert not busy.failures and not asking.failures, (busy.failures, asking.failures)
        assert asking.done > 5
    finally:
        renew_at(lab, "30 days")
        student.stop_server()
    # Salt agrees: the renewed certificate is current.
    assert lab.salt("proxy", "state.apply", "nginx")["proxy"][ACME_STATE]["changes"] == {}


def test_an_unreachable_challenge_fails_the_state_in_words_and_the_certificate_keeps_serving(lab):
    """Port 80 closed to the ACME server (a firewall): the state fails naming the domain,
    the server and its problem; nginx keeps serving the current certificate; status says so."""
    before = served_chain()[0].serial_number
    rule = ["INPUT", "-i", "lo", "-p", "tcp", "--dport", "80", "-j", "REJECT"]
    lab.exec("proxy", "iptables", "-I", *rule)
    try:
        # Due now: renew at 100 days left (the lab's certificates last 90).
        override = 'pillar={"proxy": {"tls": {"acme": {"renew_days": 100}}}}'
        result = lab.salt("proxy", "state.apply", "nginx", override)["proxy"]
    finally:
        lab.exec("proxy", "iptables", "-D", *rule)
    state = result[ACME_STATE]
    assert state["result"] is False
    comment = state["comment"]
    assert "did not issue a certificate for localhost" in comment, comment
    assert "https://localhost:14000/dir" in comment and "urn:ietf:params:acme:error:" in comment
    assert "the current certificate keeps serving" in comment
    assert served_chain()[0].serial_number == before
    code, status = lab.salt_run("jupyterhub.status")
    assert code == 1
    assert any("did not issue a certificate for localhost" in p for p in status["problems"])
    # The next apply that succeeds clears it (nothing is due at 30 days).
    result = lab.salt("proxy", "state.apply", "nginx")["proxy"]
    assert result[ACME_STATE]["result"] is True
    code, status = lab.salt_run("jupyterhub.status")
    assert not [p for p in status["problems"] if "certificate" in p], status["problems"]
    assert status["certificate"]["issuer"].startswith("CN=Pebble Intermediate CA")


def apply_nginx(lab):
    result = lab.salt("proxy", "state.apply", "nginx")["proxy"]
    failed = {k: v["comment"] for k, v in result.items() if not v["result"]}
    assert not failed, failed


def test_the_site_moves_to_self_signed_and_pillar_and_back_to_acme(lab):
    """The other two sources still work, and coming back to acme asks the ACME server
    nothing: certbot's certificate is installed again."""
    acme_serial = served_chain()[0].serial_number
    try:
        with lab.site_changes({"proxy": {"tls": {"source": "self_signed"}}}):
            apply_nginx(lab)
            leaf = served_chain()[0]
            assert leaf.issuer.rfc4514_string() == "CN=jupyterhub-deploy CA for localhost"
        cert, cert_pem, key_pem = make_certificate(["localhost"], 30)
        with lab.site_changes(
            {"proxy": {"tls": {"source": "pillar", "certificate": cert_pem}}},
            secrets={"proxy": {"proxy": {"tls": {"key": key_pem}}}},
        ):
            apply_nginx(lab)
            assert served_chain()[0] == cert
    finally:
        apply_nginx(lab)
    assert served_chain()[0].serial_number == acme_serial


def names_of(cert):
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return sorted(san.get_values_for_type(x509.DNSName))


def test_a_wildcard_comes_by_dns_01_through_the_lab_s_dns_server(lab):
    """What per-user subdomains need (issue #18): *.localhost, validated by the TXT records
    certbot's RFC 2136 plugin writes into the lab's bind9 with the site's TSIG key; then the
    site goes back to http-01 and a certificate for localhost alone."""
    site = yaml.safe_load((lab.site_dir() / "site.sls").read_text())
    tls = site["proxy"]["tls"]
    tls["acme"] = {**tls["acme"], "challenge": "dns-01", "names": ["*.localhost"]}
    try:
        with lab.site_changes({"proxy": {"tls": tls}}):
            apply_nginx(lab)
            chain = served_chain()
            assert names_of(chain[0]) == ["*.localhost", "localhost"]
            root = pem_cert(lab.pebble("/roots/0"))
            for name in ("localhost", "alice.localhost"):
                verifier = (
                    PolicyBuilder().store(Store([root])).build_server_verifier(x509.DNSName(name))
                )
                verifier.verify(chain[0], chain[1:])
            conf = lab.exec("proxy", "cat", RENEWAL_CONF).stdout
            assert "authenticator = dns-rfc2136" in conf
    finally:
        apply_nginx(lab)
    assert names_of(served_chain()[0]) == ["localhost"]
