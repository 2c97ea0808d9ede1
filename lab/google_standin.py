#!/usr/bin/env python3
"""
LAB-ONLY STAND-IN for Google's OAuth2 endpoints. Never deploy this anywhere real.

Google's servers cannot be reached from the lab, so the lab points the hub's real
`LocalGoogleOAuthenticator` (its `authorize_url`, `token_url` and `userdata_url` traits) at
this small provider, which answers in Google's shapes:

- ``GET /o/oauth2/v2/auth``: a login page where a person (or a test) picks an email in the
  lab's domain; submitting it redirects to the hub's callback with a one-time code.
- ``POST /token``: exchanges the code (with the right client id and secret) for a token.
- ``GET /oauth2/v1/userinfo``: the token's user, with Google's ``email``, ``verified_email``
  and ``hd`` (hosted domain) claims.

Standard library only; run by script/lab in its own container.
"""

import argparse
import hashlib
import html
import json
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 4096


class Provider:
    """The provider's state: issued codes and tokens, in memory."""

    def __init__(self, client_id, client_secret, domain):
        self.client_id = client_id
        self.client_secret = client_secret
        self.domain = domain
        self.codes = {}  # code -> (email, redirect_uri)
        self.tokens = {}  # access token -> email
        self.lock = threading.Lock()

    def issue_code(self, email, redirect_uri):
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = (email, redirect_uri)
        return code

    def exchange(self, form):
        """A token response for a valid code exchange, else (status, error)."""
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return 401, {"error": "invalid_client"}
        with self.lock:
            entry = self.codes.pop(form.get("code", ""), None)
        if entry is None or entry[1] != form.get("redirect_uri"):
            return 400, {"error": "invalid_grant"}
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = entry[0]
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 3599,
            "scope": "openid https://www.googleapis.com/auth/userinfo.email",
        }

    def userinfo(self, authorization):
        token = authorization.removeprefix("Bearer ").strip()
        with self.lock:
            email = self.tokens.get(token)
        if email is None:
            return 401, {"error": {"code": 401, "message": "Invalid Credentials"}}
        local, _, domain = email.partition("@")
        info = {"id": str(int(hashlib.sha256(email.encode()).hexdigest()[:15], 16)), "email": email}
        info["verified_email"] = True
        info.update({"name": local, "given_name": local, "picture": ""})
        if domain == self.domain:
            info["hd"] = domain
        return 200, info


LOGIN_PAGE = """<!doctype html>
<html><head><title>Lab sign-in (Google stand-in)</title></head>
<body>
<h1>Lab sign-in</h1>
<p><strong>Stand-in for Google, lab only.</strong> Pick the account to sign in as.</p>
<form method="post" action="/o/oauth2/v2/auth">
  <input type="hidden" name="redirect_uri" value="{redirect_uri}">
  <input type="hidden" name="state" value="{state}">
  <label>Email <input id="email" name="email" value="student@{domain}" size="40"></label>
  <button id="signin" type="submit">Sign in</button>
</form>
</body></html>
"""


class Handler(BaseHTTPRequestHandler):
    provider: Provider = None
    server_version = "google-standin/1"

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/o/oauth2/v2/auth":
            if query.get("client_id") != self.provider.client_id:
                return self._json(400, {"error": "invalid_client"})
            page = LOGIN_PAGE.format(
                redirect_uri=html.escape(query.get("redirect_uri", "")),
                state=html.escape(query.get("state", "")),
                domain=html.escape(self.provider.domain),
            )
            return self._send(200, page.encode(), "text/html; charset=utf-8")
        if url.path == "/oauth2/v1/userinfo":
            return self._json(*self.provider.userinfo(self.headers.get("Authorization", "")))
        if url.path == "/health":
            return self._json(200, {"ok": True})
        return self._json(404, {"error": "not found"})

    def do_POST(self):
        form = self._form()
        if form is None:
            return self._json(413, {"error": "body too large"})
        path = urllib.parse.urlsplit(self.path).path
        if path == "/o/oauth2/v2/auth":
            email, redirect_uri = form.get("email", ""), form.get("redirect_uri", "")
            if "@" not in email or not redirect_uri.startswith(("http://", "https://")):
                return self._json(400, {"error": "email and redirect_uri are required"})
            code = self.provider.issue_code(email, redirect_uri)
            params = urllib.parse.urlencode({"code": code, "state": form.get("state", "")})
            sep = "&" if "?" in redirect_uri else "?"
            self.send_response(302)
            self.send_header("Location", f"{redirect_uri}{sep}{params}")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if path == "/token":
            return self._json(*self.provider.exchange(form))
        return self._json(404, {"error": "not found"})

    def _form(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        body = self.rfile.read(length).decode("utf-8", "replace")
        return dict(urllib.parse.parse_qsl(body))

    def _json(self, status, data):
        self._send(status, json.dumps(data).encode(), "application/json")

    def _send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def make_server(address, port, provider):
    handler = type("BoundHandler", (Handler,), {"provider": provider})
    return ThreadingHTTPServer((address, port), handler)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--domain", required=True, help="the lab's Google Workspace domain")
    args = parser.parse_args()
    provider = Provider(args.client_id, args.client_secret, args.domain)
    server = make_server(args.listen, args.port, provider)
    print(f"google stand-in (lab only) on {args.listen}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
