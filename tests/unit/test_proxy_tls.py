"""
_modules/proxy_tls.py: when salt asks certbot for a certificate, and the words of its
failures. Certificates are real (made here with cryptography); certbot itself is a stand-in
script on PATH in the failure tests (the real one runs against Pebble in
tests/e2e/test_acme.py).
"""

import os

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.certs import make_certificate
from tests.common.loaders import load

DIRECTORY = "https://acme.example/dir"


def make_cert(names, days_left, issuer="Test Intermediate"):
    return make_certificate(names, days_left, issuer).pem.encode()


@pytest.fixture
def tls(tmp_path, monkeypatch):
    module = load("_modules/proxy_tls.py")
    monkeypatch.setattr(module, "LETSENCRYPT", str(tmp_path / "letsencrypt"))
    monkeypatch.setattr(module, "SERVED", str(tmp_path / "server.crt"))
    monkeypatch.setattr(module, "LOG", str(tmp_path / "letsencrypt.log"))
    return module


def lineage(tls, pem, server=DIRECTORY, authenticator="webroot"):
    live = os.path.join(tls.LETSENCRYPT, "live", "jupyterhub")
    os.makedirs(live)
    for name in ("cert.pem", "fullchain.pem"):
        with open(os.path.join(live, name), "wb") as handle:
            handle.write(pem)
    os.makedirs(os.path.join(tls.LETSENCRYPT, "renewal"))
    with open(os.path.join(tls.LETSENCRYPT, "renewal", "jupyterhub.conf"), "w") as handle:
        handle.write(f"# renew_before_expiry = 30 days\nversion = 4.0.0\n\n[renewalparams]\n"
                     f"server = {server}\nauthenticator = {authenticator}\n")  # fmt: skip


def serve(tls, pem):
    with open(tls.SERVED, "wb") as handle:
        handle.write(pem)


def plan(tls, names=("hub.example.edu",)):
    return tls.acme_plan(list(names), DIRECTORY, 30, served=tls.SERVED)


def test_no_certificate_yet_is_issued(tls):
    assert plan(tls)["action"] == "issue"


def test_a_current_served_certificate_asks_nothing(tls):
    pem = make_cert(["hub.example.edu"], 60)
    lineage(tls, pem)
    serve(tls, pem)
    assert plan(tls) == {"action": None, "why": f"60.0 days left, from {DIRECTORY}"}


@pytest.mark.parametrize(
    ("names", "days", "server", "why"),
    [
        (["hub.example.edu", "www.example.edu"], 60, DIRECTORY, "its names"),
        (["hub.example.edu"], 29, DIRECTORY, "29.0 days left (renewal at 30)"),
        (["hub.example.edu"], 60, "https://staging.example/dir", "it came from https://staging"),
    ],
)
def test_other_names_few_days_or_another_server_issue_again(tls, names, days, server, why):
    pem = make_cert(["hub.example.edu"], days)
    lineage(tls, pem, server)
    serve(tls, pem)
    decided = tls.acme_plan(names, DIRECTORY, 30, served=tls.SERVED)
    assert decided["action"] == "issue" and why in decided["why"], decided


def test_another_challenge_issues_again(tls):
    """A site moving to dns-01 (for a wildcard) gets a certificate validated that way."""
    pem = make_cert(["hub.example.edu"], 60)
    lineage(tls, pem)
    serve(tls, pem)
    decided = tls.acme_plan(["hub.example.edu"], DIRECTORY, 30, tls.SERVED, "dns-01")
    assert decided == {"action": "issue", "why": "it was validated by webroot, not dns-01"}


def test_a_good_certificate_nginx_does_not_serve_is_installed(tls):
    """E.g. the site went back to acme from self_signed: nothing to ask the ACME server."""
    lineage(tls, make_cert(["hub.example.edu"], 60))
    serve(tls, make_cert(["hub.example.edu"], 300, issuer="jupyterhub-deploy CA"))
    assert plan(tls) == {"action": "install", "why": "nginx serves another certificate"}


def test_the_served_certificate_is_described_for_staff(tls):
    serve(tls, make_cert(["hub.example.edu", "www.example.edu"], 10, issuer="R11"))
    cert = tls.certificate(tls.SERVED)
    assert cert["names"] == ["hub.example.edu", "www.example.edu"]
    assert cert["issuer"] == "CN=R11" and cert["days_left"] == 10.0


def test_no_served_certificate_is_an_error_naming_the_path(tls):
    with pytest.raises(CommandExecutionError, match="no certificate at .*server.crt"):
        tls.certificate(tls.SERVED)


@pytest.mark.parametrize(
    ("output", "log", "expected"),
    [
        (
            "Failed to renew certificate jupyterhub with error: "
            "urn:ietf:params:acme:error:accountDoesNotExist :: unable to find account",
            "",
            "urn:ietf:params:acme:error:accountDoesNotExist :: unable to find account",
        ),
        (
            "An unexpected error occurred:\nAttributeError: can't set attribute",
            "acme.messages.Error: urn:ietf:params:acme:error:rateLimited :: too many certificates",
            "urn:ietf:params:acme:error:rateLimited :: too many certificates",
        ),
        (
            "Certbot failed to authenticate some domains\n  Domain: hub.example.edu\n"
            "  Type:   dns\n  Detail: no valid A records found for hub.example.edu\n",
            "",
            "no valid A records found for hub.example.edu",
        ),
        (
            "An unexpected error occurred:\nConnection refused\n"
            "Ask for help or search for solutions at https://community.letsencrypt.org.",
            "",
            "Connection refused",
        ),
    ],
)
def test_the_acme_server_s_problem_is_found_in_certbot_s_words_or_log(tls, output, log, expected):
    assert tls.problem(output, log) == expected


@pytest.fixture
def failing_certbot(tmp_path, monkeypatch):
    """A stand-in for certbot that fails as certbot 2.1 does on an order error: the problem
    document only in its log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "certbot"
    script.write_text(
        "#!/bin/sh\n"
        f"echo 'acme.messages.Error: urn:ietf:params:acme:error:rejectedIdentifier :: "
        f"Error creating new order :: policy forbids' >> {tmp_path}/letsencrypt.log\n"
        "echo 'An unexpected error occurred:' >&2\n"
        'echo "AttributeError: can\'t set attribute" >&2\n'
        "exit 1\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_a_failed_issue_names_the_domain_the_server_and_its_problem(tls, failing_certbot):
    serve(tls, make_cert(["hub.example.edu"], 20))
    with open(tls.LOG, "w") as handle:
        handle.write("urn:ietf:params:acme:error:badNonce :: an older run's problem\n")
    with pytest.raises(CommandExecutionError) as info:
        tls.acme_issue(["hub.example.edu"], "staff@example.edu", DIRECTORY)
    message = str(info.value)
    assert f"the ACME server {DIRECTORY} did not issue a certificate for hub.example.edu" in message
    assert "rejectedIdentifier :: Error creating new order :: policy forbids" in message
    assert "badNonce" not in message
    assert "the current certificate keeps serving (20.0 days left)" in message


def test_renewal_is_set_to_the_site_s_days_whatever_certbot_s_version(tls):
    lineage(tls, make_cert(["hub.example.edu"], 60))
    tls._set_renewal_days(30)
    tls._set_renewal_days(30)
    with open(os.path.join(tls.LETSENCRYPT, "renewal", "jupyterhub.conf")) as handle:
        text = handle.read()
    set_lines = [line for line in text.splitlines() if line.startswith("renew_before_expiry")]
    assert set_lines == ["renew_before_expiry = 30 days"]
