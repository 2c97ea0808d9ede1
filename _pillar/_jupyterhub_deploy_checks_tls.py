"""
The checks of the proxy's certificate (``proxy:tls``): one from the pillar must be there;
one from an ACME server needs an email address, DNS names (a wildcard only by dns-01) and,
for dns-01, the RFC 2136 server and TSIG key certbot is given.
``_jupyterhub_deploy_checks.py`` loads this file and calls :func:`check_tls` from its
``check_site``.
"""

import ipaddress
import re

# What certbot is given on its command line (proxy:tls:acme).
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
DNS_NAME_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")


def check_tls(proxy, errors):
    tls = proxy["tls"]
    if tls["source"] == "pillar" and not tls["certificate"]:
        errors.append("'proxy:tls:certificate' must be set when 'proxy:tls:source' is pillar")
    if tls["source"] != "acme":
        return
    acme = tls["acme"]
    if not acme["email"]:
        errors.append(
            "'proxy:tls:acme:email' must be set when 'proxy:tls:source' is acme (the ACME "
            "server writes there before the certificate expires)"
        )
    elif not EMAIL_RE.fullmatch(str(acme["email"])):
        errors.append(f"'proxy:tls:acme:email' must be an email address, got {acme['email']!r}")
    dns01 = acme["challenge"] == "dns-01"
    names = acme["names"] if isinstance(acme["names"], list) else []
    for key, name in [("proxy:server_name", proxy["server_name"])] + [
        (f"proxy:tls:acme:names[{i}]", n) for i, n in enumerate(names)
    ]:
        plain = name[2:] if dns01 and str(name).startswith("*.") else name
        if not isinstance(plain, str) or not DNS_NAME_RE.fullmatch(plain):
            wildcard = " (a wildcard needs challenge: dns-01)" if "*" in str(name) else ""
            errors.append(f"'{key}' must be a DNS name for the certificate, got {name!r}{wildcard}")
    ca = acme["directory_ca"]
    if ca is not None and "-----BEGIN CERTIFICATE-----" not in str(ca):
        errors.append("'proxy:tls:acme:directory_ca' must be a PEM certificate (or null)")
    if dns01:
        _check_acme_dns(acme["dns"], errors)


def _check_acme_dns(dns, errors):
    """certbot's rfc2136 plugin takes the server as an address and the key by its name."""
    try:
        ipaddress.ip_address(str(dns["server"]))
    except ValueError:
        errors.append(
            "'proxy:tls:acme:dns:server' must be the DNS server's IP address when "
            f"'proxy:tls:acme:challenge' is dns-01, got {dns['server']!r}"
        )
    if not dns["key_name"] or not DNS_NAME_RE.fullmatch(str(dns["key_name"]).rstrip(".")):
        errors.append(
            "'proxy:tls:acme:dns:key_name' must be the TSIG key's name when "
            f"'proxy:tls:acme:challenge' is dns-01, got {dns['key_name']!r}"
        )
