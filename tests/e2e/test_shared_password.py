"""
The workshop login: auth:type shared_password (JupyterHub's SharedPasswordAuthenticator
with our restuser accounts), driven with a plain form POST as hubtraf-style load tools do.

The lab's site pillar is switched for this module and the hub re-applied; both are put
back afterwards.
"""

import pytest

from tests.common.hubclient import LoginRefused, Student

PASSWORD = "lab-only-workshop-password"


@pytest.fixture(scope="module")
def shared_password_hub(lab):
    with lab.site_changes({"auth": {"type": "shared_password"}}):
        lab.apply_hub()
        yield lab
    lab.apply_hub()


def test_form_login_gets_a_restuser_account_and_a_working_server(shared_password_hub, ca_file):
    lab = shared_password_hub
    carol = Student("carol", ca_file)
    carol.login_with_password(PASSWORD)
    passwd = lab.exec("hub", "getent", "passwd", "carol").stdout.split(":")
    assert 10000 <= int(passwd[2]) <= 59999 and passwd[5] == "/home/carol"
    carol.start_server()
    try:
        carol.open_lab()
        assert carol.execute("import os; print(os.getuid())").strip() == passwd[2]
    finally:
        carol.stop_server()


def test_wrong_password_and_unlisted_user_are_refused(shared_password_hub, ca_file):
    lab = shared_password_hub
    with pytest.raises(LoginRefused) as wrong:
        Student("carol", ca_file).login_with_password("not-the-password")
    assert wrong.value.status == 403
    with pytest.raises(LoginRefused) as unlisted:
        Student("mallory", ca_file).login_with_password(PASSWORD)
    assert unlisted.value.status == 403
    assert lab.exec("hub", "getent", "passwd", "mallory", check=False).returncode == 2
