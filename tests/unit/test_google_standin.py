"""The lab's stand-in for Google's OAuth2 endpoints (lab/google_standin.py), in-process."""

import json
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.common.loaders import load

standin = load("lab/google_standin.py")

CALLBACK = "https://localhost:8443/hub/oauth_callback"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def provider_url():
    provider = standin.Provider("lab-client", "lab-secret", "lab.example")
    server = standin.make_server("127.0.0.1", 0, provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def post(url, form, headers=None):
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        return opener.open(request, timeout=10)
    except urllib.error.HTTPError as err:
        return err


def login(provider_url, email):
    response = post(
        f"{provider_url}/o/oauth2/v2/auth",
        {"email": email, "redirect_uri": CALLBACK, "state": "xyz"},
    )
    assert response.status == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    query = dict(urllib.parse.parse_qsl(location.query))
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    assert query["state"] == "xyz"
    return query["code"]


def token(provider_url, code, secret="lab-secret"):
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "lab-client",
        "client_secret": secret,
        "redirect_uri": CALLBACK,
    }
    return post(f"{provider_url}/token", form)


def test_login_page_names_itself_a_stand_in(provider_url):
    page = urllib.request.urlopen(
        f"{provider_url}/o/oauth2/v2/auth?client_id=lab-client&redirect_uri={CALLBACK}&state=s"
    ).read()
    assert b"Stand-in for Google, lab only" in page
    assert b'name="email"' in page


def test_full_code_flow_returns_google_shaped_userinfo(provider_url):
    code = login(provider_url, "alice@lab.example")
    response = token(provider_url, code)
    assert response.status == 200
    access = json.load(response)["access_token"]
    request = urllib.request.Request(
        f"{provider_url}/oauth2/v1/userinfo", headers={"Authorization": f"Bearer {access}"}
    )
    info = json.load(urllib.request.urlopen(request))
    assert info["email"] == "alice@lab.example"
    assert info["verified_email"] is True and info["hd"] == "lab.example"


def test_code_is_single_use_and_needs_the_client_secret(provider_url):
    code = login(provider_url, "bob@lab.example")
    assert token(provider_url, code, secret="wrong").status == 401
    assert token(provider_url, code).status == 200
    assert token(provider_url, code).status == 400


def test_outside_domain_has_no_hosted_domain_claim(provider_url):
    access = json.load(token(provider_url, login(provider_url, "eve@gmail.example")))
    request = urllib.request.Request(
        f"{provider_url}/oauth2/v1/userinfo",
        headers={"Authorization": f"Bearer {access['access_token']}"},
    )
    assert "hd" not in json.load(urllib.request.urlopen(request))


def test_unknown_token_is_refused(provider_url):
    request = urllib.request.Request(
        f"{provider_url}/oauth2/v1/userinfo", headers={"Authorization": "Bearer nope"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 401
