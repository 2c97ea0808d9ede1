"""proxy:tls:source acme in the site pillar (issue #22): each mistake refused naming its key."""

import pytest

from tests.common.sites import DEFAULTS, deploy, errors_of
from tests.common.sites import sls_pillar as site_pillar

PROXY = "proxy.example.edu"


def acme_site(**acme):
    pillar = site_pillar(secrets=("proxy",))
    pillar["proxy"]["tls"] = {"source": "acme", "acme": {"email": "staff@example.edu", **acme}}
    return pillar


def test_an_acme_site_with_an_email_passes_with_let_s_encrypt_as_its_server():
    built = deploy.build(PROXY, acme_site(), DEFAULTS)
    acme = built["proxy"]["tls"]["acme"]
    assert acme["directory"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert acme["renew_days"] == 30 and acme["names"] == [] and acme["directory_ca"] is None


def test_acme_without_an_email_is_refused():
    pillar = acme_site()
    del pillar["proxy"]["tls"]["acme"]["email"]
    assert "'proxy:tls:acme:email' must be set when 'proxy:tls:source' is acme" in errors_of(
        PROXY, pillar
    )


@pytest.mark.parametrize(
    ("acme", "words"),
    [
        ({"email": "staff at example.edu"}, "'proxy:tls:acme:email' must be an email address"),
        (
            {"directory": "http://acme.example/dir"},
            "'proxy:tls:acme:directory' must be an https URL",
        ),
        ({"directory": "https://x/$(id)"}, "'proxy:tls:acme:directory' must be an https URL"),
        (
            {"names": ["www.example.edu", "bad name"]},
            "'proxy:tls:acme:names[1]' must be a DNS name",
        ),
        ({"names": ["*.example.edu"]}, "a wildcard needs challenge: dns-01"),
        ({"challenge": "dns-1"}, "must be one of http-01, dns-01"),
        ({"directory_ca": "not a certificate"}, "'proxy:tls:acme:directory_ca' must be a PEM"),
        ({"renew_days": 0}, "'proxy:tls:acme:renew_days' must be at least 1"),
        ({"emial": "x@y.z"}, "'proxy:tls:acme:emial' is not a known key (did you mean"),
    ],
)
def test_a_bad_acme_setting_is_refused_naming_its_key(acme, words):
    assert words in errors_of(PROXY, acme_site(**acme))


def test_an_unknown_tls_source_is_refused_naming_the_choices():
    pillar = acme_site()
    pillar["proxy"]["tls"]["source"] = "letsencrypt"
    assert "must be one of pillar, self_signed, acme" in errors_of(PROXY, pillar)


def dns01_site(secret="c2VjcmV0", **dns):
    pillar = acme_site(challenge="dns-01", names=["*.hub.example.edu"])
    settings = {"server": "10.0.0.53", "key_name": "acme-key.", **dns}
    pillar["proxy"]["tls"]["acme"]["dns"] = settings
    if secret:
        pillar["proxy"]["tls"]["acme"]["dns"]["key_secret"] = secret
    return pillar


def test_a_wildcard_by_dns_01_passes():
    built = deploy.build(PROXY, dns01_site(), DEFAULTS)
    dns = built["proxy"]["tls"]["acme"]["dns"]
    assert dns["key_algorithm"] == "HMAC-SHA256" and dns["port"] == 53


@pytest.mark.parametrize(
    ("dns", "words"),
    [
        ({"server": "ns1.example.edu"}, "'proxy:tls:acme:dns:server' must be the DNS server's IP"),
        ({"key_name": None}, "'proxy:tls:acme:dns:key_name' must be the TSIG key's name"),
        ({"key_algorithm": "hmac-sha256"}, "must be one of HMAC-SHA256, HMAC-SHA384"),
    ],
)
def test_a_bad_dns_01_setting_is_refused_naming_its_key(dns, words):
    assert words in errors_of(PROXY, dns01_site(**dns))


def test_dns_01_without_its_tsig_secret_is_refused_naming_the_secret():
    assert "proxy:tls:acme:dns:key_secret" in errors_of(PROXY, dns01_site(secret=None))
