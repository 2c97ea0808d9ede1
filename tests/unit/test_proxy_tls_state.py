"""_states/proxy_tls.py acme_certificate: what it reports and records for each plan, with
the execution module's functions as doubles (the real ones: test_proxy_tls.py, and the
whole path against Pebble in tests/e2e/test_acme.py)."""

import pytest
from salt.exceptions import CommandExecutionError

from tests.common.loaders import load

CERT = {"serial": "2b", "not_after": "2027-03-01T00:00:00+00:00", "issuer": "CN=R11"}


class Module:
    """proxy_tls's functions as the state calls them; ``plans`` answered in turn."""

    def __init__(self, *plans, fails=None):
        self.plans, self.fails, self.asked, self.errors = list(plans), fails, [], []

    def functions(self):
        return {
            "proxy_tls.acme_plan": self.plan,
            "proxy_tls.acme_issue": self.issue,
            "proxy_tls.acme_install": lambda: CERT,
            "proxy_tls.certificate": lambda: {**CERT, "serial": "1a"},
            "proxy_tls.record_error": self.errors.append,
        }

    def plan(self, names, directory, renew_days, challenge="http-01"):
        self.asked.append(renew_days)
        return self.plans.pop(0)

    def issue(self, *args, **kwargs):
        if self.fails:
            raise CommandExecutionError(self.fails)
        return CERT


def apply(module, test=False, **kwargs):
    state = load("_states/proxy_tls.py", {"__salt__": module.functions(),
                                          "__opts__": {"test": test}})  # fmt: skip
    return state.acme_certificate("hub.example.edu", "staff@example.edu", "https://a/dir", **kwargs)


NOTHING = {"action": None, "why": "60.0 days left"}
DUE = {"action": "issue", "why": "20.0 days left (renewal at 30)"}


def test_a_current_certificate_changes_nothing_and_clears_an_old_error():
    module = Module(NOTHING)
    ret = apply(module)
    assert ret["result"] is True and ret["changes"] == {} and "is current" in ret["comment"]
    assert module.errors == [None]


def test_a_due_certificate_is_issued_and_checked_installed_whatever_renew_days():
    """A renew_days beyond the certificate's lifetime must not fail the apply that issued
    it (seen in CI: renew_days 100 with 90-day certificates)."""
    module = Module(DUE, NOTHING)
    ret = apply(module, renew_days=100)
    assert ret["result"] is True, ret
    assert ret["changes"]["serial"] == {"old": "1a", "new": "2b"}
    assert module.asked == [100, 0] and module.errors == [None]


def test_a_failure_is_the_state_s_words_and_is_recorded_for_status():
    module = Module(DUE, fails="the ACME server https://a/dir did not issue ...")
    ret = apply(module)
    assert ret["result"] is False and ret["comment"].startswith("the ACME server")
    assert module.errors == [ret["comment"]]


@pytest.mark.parametrize(("plan", "result"), [(DUE, None), (NOTHING, True)])
def test_test_mode_says_what_it_would_do_and_records_nothing(plan, result):
    module = Module(plan)
    ret = apply(module, test=True)
    assert ret["result"] is result and module.errors == []
