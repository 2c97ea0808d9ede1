"""
The proxy's TLS certificate: what nginx serves, and one from an ACME server (issue #22).

certbot does the ACME work (account, order, HTTP-01 through the webroot nginx serves on
port 80, renewal by its own timer); this module decides when to ask it, runs it, and turns
its failures into one sentence that names the domain and the ACME server's problem. Its
deploy hook (salt/nginx/files/acme-deploy-hook) installs a new certificate for nginx and
reloads it, for salt's issuance and the timer's renewals alike.

CLI Example:

.. code-block:: bash

    salt proxy proxy_tls.certificate
    salt proxy proxy_tls.acme_plan '[hub.example.edu]' https://acme-v02.api.letsencrypt.org/directory
"""

import datetime
import os
import re
import subprocess

from salt.exceptions import CommandExecutionError

try:
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID, NameOID

    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False

__virtualname__ = "proxy_tls"

SERVED = "/etc/nginx/tls/server.crt"
LETSENCRYPT = "/etc/letsencrypt"
LINEAGE = "jupyterhub"
HOOK = "/etc/letsencrypt/jupyterhub-deploy/deploy-hook"
# The RFC 2136 plugin's settings and TSIG secret (salt/nginx/acme.sls writes it, 0600).
DNS_CREDENTIALS = "/etc/letsencrypt/jupyterhub-deploy/rfc2136.ini"
# certbot's authenticator for each challenge.
AUTHENTICATORS = {"http-01": "webroot", "dns-01": "dns-rfc2136"}
WEBROOT = "/var/www/acme"
LOG = "/var/log/letsencrypt/letsencrypt.log"
# The last failed request's words (salt's state), for salt-run jupyterhub.status.
ERROR_RECORD = "/var/lib/jupyterhub-deploy/acme-error"
PROBLEM_RE = re.compile(r"(urn:ietf:params:acme:error:\w+)(?: :: ([^\n]*))?")
# certbot's own words for a failed challenge (stdout): "Type: connection / Detail: ...".
DETAIL_RE = re.compile(r"^\s*Detail: (.+)$", re.MULTILINE)
# Renewal at this many days left, whatever certbot's version would choose (certbot 4.0
# renews at a third of the lifetime unless the lineage says otherwise).
RENEW_LINE_RE = re.compile(r"^renew_before_expiry\s*=.*$", re.MULTILINE)


def __virtual__():
    if not HAS_CRYPTOGRAPHY:
        return False, "proxy_tls needs the cryptography package"
    return __virtualname__


def _now():
    return datetime.datetime.now(datetime.UTC)


def _load(path):
    """The first certificate of the PEM file at ``path``, or None when there is none."""
    try:
        with open(path, "rb") as handle:
            return x509.load_pem_x509_certificate(handle.read())
    except (FileNotFoundError, ValueError):
        return None


def _names(cert):
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        return sorted(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        return [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def describe(cert):
    """What staff need to know of ``cert``: names, issuer, serial, expiry and days left."""
    not_after = cert.not_valid_after_utc
    return {
        "names": _names(cert),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_after": not_after.isoformat(),
        "days_left": round((not_after - _now()).total_seconds() / 86400, 1),
    }


def certificate(path=SERVED):
    """
    The certificate nginx serves: names, issuer, serial, not_after and days_left; and
    ``acme_error``: why the last request to the ACME server failed (salt's, or a renewal
    by certbot's timer), None when it did not.

    CLI Example:

    .. code-block:: bash

        salt proxy proxy_tls.certificate
    """
    cert = _load(path)
    if cert is None:
        raise CommandExecutionError(f"no certificate at {path}")
    return {**describe(cert), "acme_error": _acme_error()}


def _acme_error():
    try:
        with open(ERROR_RECORD, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except FileNotFoundError:
        pass
    timer = subprocess.run(["systemctl", "is-failed", "--quiet", "certbot.service"],
                           capture_output=True, check=False)  # fmt: skip
    if timer.returncode == 0:
        return f"certbot's last renewal (certbot.service) failed: see {LOG} on the proxy"
    return None


def record_error(message=None):
    """Keep ``message`` as the last failed ACME request, or forget it (None)."""
    if message is None:
        try:
            os.unlink(ERROR_RECORD)
        except FileNotFoundError:
            pass
        return
    os.makedirs(os.path.dirname(ERROR_RECORD), exist_ok=True)
    with open(ERROR_RECORD, "w", encoding="utf-8") as handle:
        handle.write(message + "\n")


def _lineage(name=LINEAGE):
    return os.path.join(LETSENCRYPT, "live", name)


def _renewal_conf(name=LINEAGE):
    return os.path.join(LETSENCRYPT, "renewal", f"{name}.conf")


def _lineage_setting(key, name=LINEAGE):
    """A ``key = value`` of the lineage's renewal conf (server, authenticator), or None."""
    try:
        with open(_renewal_conf(name), encoding="utf-8") as handle:
            match = re.search(rf"^{key}\s*=\s*(\S+)\s*$", handle.read(), re.MULTILINE)
    except FileNotFoundError:
        return None
    return match.group(1) if match else None


def _same_file(one, other):
    try:
        with open(one, "rb") as a, open(other, "rb") as b:
            return a.read() == b.read()
    except FileNotFoundError:
        return False


def acme_plan(names, directory, renew_days=30, served=SERVED, challenge="http-01"):
    """
    What must happen for nginx to serve a certificate for ``names`` from ``directory``:
    ``{"action": None | "issue" | "install", "why": ...}``. Issue when there is no
    certificate yet, its names, ACME server or challenge changed, or fewer than
    ``renew_days`` days are left; install when certbot's certificate is good but nginx
    serves another one.

    CLI Example:

    .. code-block:: bash

        salt proxy proxy_tls.acme_plan '[hub.example.edu]' https://acme-v02.api.letsencrypt.org/directory
    """
    lineage = _lineage()
    cert = _load(os.path.join(lineage, "cert.pem"))
    if cert is None:
        return {"action": "issue", "why": "no certificate from the ACME server yet"}
    have = describe(cert)
    if sorted(set(names)) != have["names"]:
        return {"action": "issue", "why": f"its names {have['names']} are not {sorted(names)}"}
    server = _lineage_setting("server")
    if server != directory:
        return {"action": "issue", "why": f"it came from {server}, not {directory}"}
    authenticator = _lineage_setting("authenticator")
    if authenticator != AUTHENTICATORS[challenge]:
        return {"action": "issue", "why": f"it was validated by {authenticator}, not {challenge}"}
    if have["days_left"] < renew_days:
        return {
            "action": "issue",
            "why": f"{have['days_left']} days left (renewal at {renew_days})",
        }
    if not _same_file(os.path.join(lineage, "fullchain.pem"), served):
        return {"action": "install", "why": "nginx serves another certificate"}
    return {"action": None, "why": f"{have['days_left']} days left, from {directory}"}


def problem(output, log_text=""):
    """The ACME server's problem (type :: detail) in certbot's output or new log lines, with
    certbot's "Detail:" of a failed challenge; else certbot's last words. One line."""
    kind = detail = None
    for text in (output, log_text):
        found = PROBLEM_RE.findall(text)
        if found:
            kind, detail = found[-1]
            break
    detail = detail or (DETAIL_RE.findall(output) or [None])[-1]
    if kind or detail:
        return " :: ".join(part.strip() for part in (kind, detail) if part)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Saving debug log", "Ask for help"))]
    return (useful or lines or ["certbot said nothing"])[-1]


def _log_size():
    try:
        return os.path.getsize(LOG)
    except OSError:
        return 0


def _log_since(offset):
    try:
        with open(LOG, encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            return handle.read()
    except OSError:
        return ""


def _served_days():
    cert = _load(SERVED)
    return describe(cert)["days_left"] if cert else None


def acme_issue(
    names,
    email,
    directory,
    directory_ca=None,
    renew_days=30,
    challenge="http-01",
    propagation_seconds=30,
):
    """
    Ask certbot for a certificate for ``names`` from ``directory``, installed for nginx by
    the deploy hook. ``challenge``: http-01 (through the webroot nginx serves) or dns-01
    (RFC 2136 updates with the settings in DNS_CREDENTIALS, then ``propagation_seconds``).
    ``directory_ca``: a CA file to trust the ACME server's HTTPS with (a private ACME
    server), else the system's.

    CLI Example:

    .. code-block:: bash

        salt proxy proxy_tls.acme_issue '[hub.example.edu]' staff@example.edu https://acme-staging-v02.api.letsencrypt.org/directory
    """
    argv = [
        "certbot", "certonly", "--non-interactive", "--agree-tos", "--no-eff-email",
        "--email", email, "--server", directory, "--cert-name", LINEAGE,
        "--deploy-hook", HOOK,
    ]  # fmt: skip
    if challenge == "dns-01":
        argv += ["--authenticator", "dns-rfc2136", "--dns-rfc2136-credentials", DNS_CREDENTIALS,
                 "--dns-rfc2136-propagation-seconds", str(propagation_seconds)]  # fmt: skip
    else:
        argv += ["--webroot", "--webroot-path", WEBROOT]
    for name in names:
        argv += ["--domain", name]
    if os.path.exists(_lineage()):
        # The decision is acme_plan's (names, server or days left), not certbot's own.
        argv.append("--force-renewal")
    env = dict(os.environ)
    if directory_ca:
        env["REQUESTS_CA_BUNDLE"] = directory_ca
    offset = _log_size()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=False)
    if proc.returncode != 0:
        why = problem(proc.stdout + "\n" + proc.stderr, _log_since(offset))
        days = _served_days()
        keeps = (
            f"the current certificate keeps serving ({days} days left)"
            if days is not None
            else "nginx has no certificate yet"
        )
        raise CommandExecutionError(
            f"the ACME server {directory} did not issue a certificate for "
            f"{', '.join(names)}: {why}; {keeps}. certbot's log: {LOG}"
        )
    _set_renewal_days(renew_days)
    return certificate()


def _set_renewal_days(days, name=LINEAGE):
    """renew_before_expiry in the lineage's renewal conf (certbot keeps it on renewals)."""
    path = _renewal_conf(name)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    line = f"renew_before_expiry = {days} days"
    new = RENEW_LINE_RE.sub(line, text) if RENEW_LINE_RE.search(text) else f"{line}\n{text}"
    if new != text:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(new)


def acme_install():
    """
    Install certbot's current certificate for nginx through the deploy hook (nginx -t,
    then a reload: open connections stay).

    CLI Example:

    .. code-block:: bash

        salt proxy proxy_tls.acme_install
    """
    env = dict(os.environ, RENEWED_LINEAGE=_lineage())
    proc = subprocess.run([HOOK], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise CommandExecutionError(f"{HOOK} failed: {(proc.stderr or proc.stdout).strip()}")
    return certificate()
