"""salt/nginx/acme.sls: what certbot is given for each challenge, and that the TSIG secret
stays in a root-only file that salt never prints."""

import json

import jinja2
import yaml

from tests.common.paths import REPO
from tests.common.sites import minion_pillar


def render(pillar):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["json"] = json.dumps  # salt's own json filter
    text = (REPO / "salt/nginx/acme.sls").read_text()
    return yaml.safe_load(env.from_string(text).render(pillar=pillar))


def acme_pillar(**acme):
    pillar = minion_pillar("example", "proxy")
    pillar["proxy"]["tls"]["source"] = "acme"
    pillar["proxy"]["tls"]["acme"].update(email="staff@example.edu", **acme)
    return pillar


def arguments(state):
    return {key: value for item in state for key, value in item.items()}


def test_http_01_uses_the_webroot_and_writes_no_dns_secret():
    states = render(acme_pillar())
    certificate = arguments(states["acme-certificate"]["proxy_tls.acme_certificate"])
    assert certificate["name"] == "hub.example.edu" and certificate["challenge"] == "http-01"
    assert certificate["directory"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert certificate["directory_ca"] is None
    assert "acme-dns-credentials" not in states and "acme-directory-ca" not in states
    assert {"file": "acme-webroot"} in certificate["require"]
    assert {"service": "nginx"} in certificate["require"]


def test_dns_01_writes_the_tsig_secret_root_only_and_never_shows_it():
    pillar = acme_pillar(challenge="dns-01", names=["*.hub.example.edu"])
    pillar["proxy"]["tls"]["acme"]["dns"].update(
        server="10.0.0.53", key_name="acme-key.", key_secret="c2VjcmV0"
    )
    states = render(pillar)
    credentials = arguments(states["acme-dns-credentials"]["file.managed"])
    assert credentials["mode"] == "0600" and credentials["show_changes"] is False
    assert "dns_rfc2136_secret = c2VjcmV0" in credentials["contents"]
    assert "dns_rfc2136_algorithm = HMAC-SHA256" in credentials["contents"]
    certificate = arguments(states["acme-certificate"]["proxy_tls.acme_certificate"])
    assert certificate["extra_names"] == ["*.hub.example.edu"]
    assert {"file": "acme-dns-credentials"} in certificate["require"]


def test_a_private_acme_server_s_ca_reaches_the_timer_s_renewals_too():
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    states = render(acme_pillar(directory="https://acme.example.edu/dir", directory_ca=pem))
    certificate = arguments(states["acme-certificate"]["proxy_tls.acme_certificate"])
    assert certificate["directory_ca"] == "/etc/letsencrypt/jupyterhub-deploy/directory-ca.pem"
    dropin = arguments(states["acme-renewals-trust-the-directory"]["file.managed"])
    assert (
        "REQUESTS_CA_BUNDLE=/etc/letsencrypt/jupyterhub-deploy/directory-ca.pem"
        in (dropin["contents"])
    )
