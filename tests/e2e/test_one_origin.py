"""
Without per-user subdomains every server shares the hub's origin (issue #18 item 3): the
mitigations JupyterHub documents for that mode, checked from a browser-like client.
"""

from tests.common.hubclient import BASE, Student, working_students

CONFIG = ".jupyter/jupyter_server_config.py"
STUDENT_CONFIG = """
c.ServerApp.tornado_settings = {"headers": {"X-Student-Config": "loaded"}}
"""


def test_every_cookie_the_hub_sets_is_secure(lab, ca_file):
    """The hub reached over http by its proxy did not know it was behind HTTPS: `_xsrf`
    and `oauthenticator-state` came without Secure."""
    student = Student("student01", ca_file)
    set_cookies = []

    def record(response, *args, **kwargs):
        if response.url.startswith(BASE):
            set_cookies.extend(response.raw.headers.getlist("Set-Cookie"))

    student.http.hooks["response"].append(record)
    student.login()
    student.hub_api("GET", "/user")  # the hub's own pages and API set _xsrf too
    names = sorted({cookie.split("=", 1)[0] for cookie in set_cookies})
    print("cookies set by the hub:", names)
    assert {"_xsrf", "oauthenticator-state"} <= set(names)
    # A cookie being cleared (empty value, oauthenticator's state after the callback) carries
    # nothing to protect; tornado's clear_cookie does not add Secure.
    carrying = [c for c in set_cookies if c.split(";")[0].split("=", 1)[1].strip('"')]
    insecure = [c.split(";")[0] for c in carrying if "secure" not in c.lower()]
    assert insecure == []


def test_a_student_s_own_jupyter_config_is_ignored_by_their_server(lab, ca_file):
    """A server extension or config of the student's own (~/.jupyter, ~/.local) could serve
    script on the hub's origin; servers run with JupyterHub's disable_user_config."""
    with working_students(("student02",), ca_file) as people:
        student = people["student02"]
        student.execute(
            "import os; os.makedirs(os.path.expanduser('~/.jupyter'), exist_ok=True); "
            f"open(os.path.expanduser('~/{CONFIG}'), 'w').write({STUDENT_CONFIG!r})"
        )
        student.stop_server()
        student.start_server()
        student.open_lab()
        status = student.server_api("GET", "/status")
        assert status.status_code == 200
        student.execute(f"import os; os.remove(os.path.expanduser('~/{CONFIG}'))")
        assert "X-Student-Config" not in status.headers
