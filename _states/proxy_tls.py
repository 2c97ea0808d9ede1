"""
The proxy's certificate from an ACME server (issue #22): issued on the first apply,
re-issued when its names or ACME server change or fewer than ``renew_days`` are left,
otherwise left alone (a second apply asks the ACME server nothing). certbot's timer
renews between applies; the logic is in _modules/proxy_tls.py.
"""

__virtualname__ = "proxy_tls"


def __virtual__():
    if "proxy_tls.acme_plan" not in __salt__:
        return False, "the proxy_tls execution module is not available"
    return __virtualname__


def acme_certificate(
    name,
    email,
    directory,
    extra_names=(),
    directory_ca=None,
    renew_days=30,
    challenge="http-01",
    propagation_seconds=30,
):
    """
    nginx serves a certificate for ``name`` (and ``extra_names``) issued by the ACME
    server at ``directory``, validated by ``challenge`` (http-01, or dns-01 through the
    RFC 2136 settings salt/nginx/acme.sls writes). A failure leaves the current certificate
    serving and says which domain, which server and the server's problem.

    .. code-block:: yaml

        acme-certificate:
          proxy_tls.acme_certificate:
            - name: hub.example.edu
            - email: staff@example.edu
            - directory: https://acme-v02.api.letsencrypt.org/directory
    """
    names = [name, *[n for n in extra_names if n != name]]
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    plan = __salt__["proxy_tls.acme_plan"](names, directory, renew_days, challenge=challenge)
    if __opts__["test"]:
        if plan["action"] is not None:
            ret["result"] = None
            ret["comment"] = f"Would {plan['action']} the certificate: {plan['why']}"
            ret["changes"] = {"certificate": plan["why"]}
        return ret
    if plan["action"] is None:
        __salt__["proxy_tls.record_error"](None)
        ret["comment"] = f"The certificate for {', '.join(names)} is current: {plan['why']}"
        return ret
    before = _served()
    try:
        if plan["action"] == "issue":
            after = __salt__["proxy_tls.acme_issue"](
                names,
                email,
                directory,
                directory_ca=directory_ca,
                renew_days=renew_days,
                challenge=challenge,
                propagation_seconds=propagation_seconds,
            )
        else:
            after = __salt__["proxy_tls.acme_install"]()
    except Exception as exc:  # noqa: BLE001 - CommandExecutionError, timeouts: say them
        return _failed(ret, str(exc))
    # Installed, for these names, from this server: the days left are the ACME server's
    # to choose (a renew_days beyond its lifetime must not fail every apply).
    again = __salt__["proxy_tls.acme_plan"](names, directory, 0, challenge=challenge)
    if again["action"] is not None:
        why = f"certbot succeeded but nginx does not serve its certificate: {again['why']}"
        return _failed(ret, why)
    __salt__["proxy_tls.record_error"](None)
    done = {"issue": "Issued", "install": "Installed"}[plan["action"]]
    ret["comment"] = f"{done} the certificate ({plan['why']})"
    ret["changes"] = {
        "serial": {"old": (before or {}).get("serial"), "new": after["serial"]},
        "not_after": after["not_after"],
        "issuer": after["issuer"],
    }
    return ret


def _failed(ret, message):
    __salt__["proxy_tls.record_error"](message)
    ret["result"] = False
    ret["comment"] = message
    return ret


def _served():
    try:
        return __salt__["proxy_tls.certificate"]()
    except Exception:  # noqa: BLE001 - no certificate yet
        return None
