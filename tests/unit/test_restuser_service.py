"""restuser's pure parts (salt/restuser/files/restuser.py): names, uids, request parsing."""

import datetime
import io
import json

import pytest

from tests.common.loaders import load

restuser = load("salt/restuser/files/restuser.py")
pillar = load("_pillar/jupyterhub_deploy.py")
HTTPError = restuser.HTTPError


def status_of(func, *args):
    with pytest.raises(HTTPError) as info:
        func(*args)
    return info.value.status


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alice", "a", "_x", "bob-2", "x_y", "a" * 32, "z9"])
def test_safe_names_pass(name):
    assert restuser.check_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Bob",
        "1abc",
        "-rf",
        "a;b",
        "a b",
        "../x",
        "..",
        "a/b",
        "a.b",
        "%2e%2e",
        "alice\n",  # "$" in a regex would let this through
        "\nalice",
        "al\x00ice",
        "a" * 33,
        "é",
        "a$(id)",
        "a`id`",
        None,
        42,
    ],
)
def test_unsafe_names_are_400(name):
    assert status_of(restuser.check_name, name) == 400


def test_the_name_pattern_is_the_pillar_validators_and_the_hubs():
    """Debian's useradd rule, in three runtimes that cannot import each other (restuser under
    the host's python3, the ext_pillar on the master, the hub image): kept identical here."""
    from jupyterhub_deploy.restuser import SAFE_NAME_RE

    patterns = {restuser.NAME_RE.pattern, SAFE_NAME_RE.pattern.strip("^$")}
    assert patterns == {pillar.USERNAME_RE.pattern.strip("^$")}


# --- uids ----------------------------------------------------------------------------------


def test_pick_uid_takes_the_lowest_free_uid():
    assert restuser.pick_uid(set(), set(), 10000, 10005) == 10000
    assert restuser.pick_uid({10000, 10001, 10003}, set(), 10000, 10005) == 10002


def test_pick_uid_ignores_accounts_outside_the_range():
    assert restuser.pick_uid({0, 1, 2001, 65534}, {0, 2001}, 10000, 10005) == 10000


def test_pick_uid_prefers_a_uid_whose_gid_is_free():
    # gid 10000 belongs to some group: 10001 lets the private group share the number.
    assert restuser.pick_uid(set(), {10000}, 10000, 10005) == 10001


def test_pick_uid_falls_back_to_a_free_uid_with_a_taken_gid():
    assert restuser.pick_uid({10001}, {10000, 10002}, 10000, 10002) == 10000


def test_pick_uid_is_none_when_the_range_is_full():
    assert restuser.pick_uid({10000, 10001}, set(), 10000, 10001) is None


def test_pick_uid_over_a_whole_default_range_is_fast():
    used = set(range(10000, 59999))
    assert restuser.pick_uid(used, used, 10000, 59999) == 59999


# --- routing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        ("GET", "/users", ("list", None)),
        ("GET", "/users/alice", ("get", "alice")),
        ("POST", "/users/alice", ("create", "alice")),
        ("POST", "/users/%61lice", ("create", "alice")),  # decoded once
    ],
)
def test_routes(method, target, expected):
    assert restuser.route(method, target) == expected


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", "/", 404),
        ("GET", "/user/alice", 404),
        ("GET", "/users/alice/x", 400),
        ("GET", "//users", 404),
        ("POST", "/users", 405),
        ("DELETE", "/users/alice", 405),
        ("PUT", "/users/alice", 405),
        ("HEAD", "/users/alice", 405),
        ("get", "/users/alice", 405),
        ("POST", "/users/", 400),  # the empty name
        ("POST", "/users/..", 400),
        ("POST", "/users/../x", 400),
        ("POST", "/users/%2e%2e", 400),
        ("POST", "/users/%2E%2E%2Fetc", 400),
        ("POST", "/users/a%2Fb", 400),
        ("POST", "/users/a;b", 400),
        ("POST", "/users/a%3Bb", 400),
        ("POST", "/users/a%0A", 400),
        ("POST", "/users/alice%0a", 400),
        ("POST", "/users/a%00", 400),
        ("POST", "/users/a%20b", 400),
        ("POST", "/users/%252e%252e", 400),  # decoded only once: "%2e%2e"
        ("POST", "/users/%ff", 400),  # not UTF-8
        ("POST", "/users/Bob", 400),
        ("POST", "/users/" + "a" * 33, 400),
        ("POST", "/users/alice?x=1", 400),
        ("POST", "/users/alice#x", 400),
        ("POST", "http://localhost/users/alice", 400),
        ("POST", "*", 400),
    ],
)
def test_refused_routes(method, target, status):
    assert status_of(restuser.route, method, target) == status


def test_405_names_the_allowed_methods():
    with pytest.raises(HTTPError) as info:
        restuser.route("DELETE", "/users/alice")
    assert info.value.allow == "GET, POST"


# --- request parsing and limits ------------------------------------------------------------


def parse(raw):
    return restuser.read_request(io.BytesIO(raw))


def test_a_plain_request_parses():
    request = parse(b"POST /users/alice HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}")
    assert (request.method, request.target) == ("POST", "/users/alice")
    assert request.headers == {"host": "localhost", "content-length": "2"}
    assert request.body == b"{}"


def test_bare_newlines_and_http_1_0_are_accepted():
    request = parse(b"GET /users HTTP/1.0\n\n")
    assert (request.method, request.target, request.body) == ("GET", "/users", b"")


def test_an_empty_connection_is_no_request():
    assert parse(b"") is None


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /users\r\n\r\n", 400),  # HTTP/0.9
        (b"GET  /users HTTP/1.1\r\n\r\n", 400),
        (b"GET /users HTTP/1.1 x\r\n\r\n", 400),
        (b"GET /us\x00ers HTTP/1.1\r\n\r\n", 400),
        (b"GET /users\rX HTTP/1.1\r\n\r\n", 400),
        (b"G(T /users HTTP/1.1\r\n\r\n", 400),
        (b"GET /users HTTP/2.0\r\n\r\n", 505),
        (b"GET /users FTP/1.1\r\n\r\n", 400),
        (b"GET /users HTTP/1.1\r\n", 400),  # no end of head
        (b"GET /users HTTP/1.1", 400),  # no end of line
        (b"GET /users HTTP/1.1\r\nNoColon\r\n\r\n", 400),
        (b"GET /users HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
        (b"GET /users HTTP/1.1\r\n folded\r\n\r\n", 400),
        (b"GET /users HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400),
        (b"GET /users HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400),
        (b"POST /users/a HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST /users/a HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400),
        (b"POST /users/a HTTP/1.1\r\nContent-Length: \xc2\xb2\r\n\r\n", 400),
        (b"POST /users/a HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}", 400),  # short body
        (b"POST /users/a HTTP/1.1\r\nContent-Length: 1025\r\n\r\n", 413),
        (b"POST /users/a HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 413),
        (b"POST /users/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 411),
    ],
)
def test_malformed_requests_are_refused(raw, status):
    assert status_of(parse, raw) == status


def test_a_body_at_the_limit_is_read():
    body = json.dumps({"x": "y" * (restuser.MAX_BODY - 9)}).encode()
    assert len(body) == restuser.MAX_BODY
    head = f"POST /users/a HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    assert parse(head + body).body == body


def test_a_long_request_line_is_414():
    raw = b"GET /users/" + b"a" * restuser.MAX_LINE + b" HTTP/1.1\r\n\r\n"
    assert status_of(parse, raw) == 414


def test_a_long_header_line_is_431():
    raw = b"GET /users HTTP/1.1\r\nX: " + b"a" * restuser.MAX_LINE + b"\r\n\r\n"
    assert status_of(parse, raw) == 431


def test_too_many_headers_is_431():
    headers = b"".join(b"X-%d: 1\r\n" % i for i in range(restuser.MAX_HEADERS + 1))
    assert status_of(parse, b"GET /users HTTP/1.1\r\n" + headers + b"\r\n") == 431


def test_a_large_head_is_431():
    headers = b"".join(b"X-%d: %s\r\n" % (i, b"a" * 1000) for i in range(10))
    assert status_of(parse, b"GET /users HTTP/1.1\r\n" + headers + b"\r\n") == 431


@pytest.mark.parametrize("body", [b"", b"{}", b'{"shell": "/bin/sh"}'])
def test_bodies_that_are_absent_or_json_objects_are_accepted(body):
    restuser.parse_body(body)


@pytest.mark.parametrize("body", [b"{", b"[]", b'"x"', b"1", b"null", b"\xff", b"{'a': 1}"])
def test_other_bodies_are_400(body):
    assert status_of(restuser.parse_body, body) == 400


# --- responses and the log -----------------------------------------------------------------


def test_responses_are_complete_json_and_close_the_connection():
    raw = restuser.response_bytes(405, {"error": "no"}, allow="GET, POST")
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 405 Method Not Allowed"
    assert "Connection: close" in lines and "Allow: GET, POST" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert json.loads(body) == {"error": "no"}


def test_a_log_line_is_one_line_whatever_the_request_holds():
    when = datetime.datetime(2024, 9, 1, 12, 0, 5, tzinfo=datetime.UTC)
    line = restuser.log_line(when, "POST", "/users/a b\x1b[31m", 400, "bad\nname 'x'")
    assert line == ("2024-09-01T12:00:05Z POST /users/a\\x20b\\x1b[31m 400 \"bad\\nname 'x'\"\n")
    assert line.count("\n") == 1


def test_a_long_path_is_cut_in_the_log():
    when = datetime.datetime(2024, 9, 1, tzinfo=datetime.UTC)
    line = restuser.log_line(when, "GET", "/" + "a" * 5000, 414, "too long")
    assert len(line) < 400 and "... 414 " in line


# --- options -------------------------------------------------------------------------------


def options(tmp_path, *extra, reserved="root,staff"):
    dirs = ["--skeldir", str(tmp_path), "--home-base", str(tmp_path)]
    return [*dirs, *(["--reserved-names", reserved] if reserved else []), *extra]


def test_default_options(tmp_path):
    args = restuser.parse_args(options(tmp_path))
    assert args.reserved_names == {"root", "staff"}
    assert args.socket == "/run/restuser/restuser.sock"
    assert (args.uid_min, args.uid_max) == (10000, 59999)
    assert args.log == "/var/log/restuser.log"


@pytest.mark.parametrize(
    "extra",
    [
        ["--uid-min", "999"],
        ["--uid-min", "20000", "--uid-max", "10000"],
        ["--uid-max", "70000"],  # would contain nobody (65534)
        ["--socket", "relative.sock"],
        ["--log", "restuser.log"],
        ["--reserved-names", "staff,sudo"],  # without root: not the site's list
        ["--reserved-names", "root,Bad.Name"],
    ],
)
def test_bad_options_are_refused(tmp_path, extra):
    with pytest.raises(SystemExit):
        restuser.parse_args(options(tmp_path, *extra))


def test_the_reserved_names_are_required(tmp_path):
    """No built-in list to fall back on: the site pillar's is the only one."""
    with pytest.raises(SystemExit):
        restuser.parse_args(options(tmp_path, reserved=None))


def test_a_reserved_name_without_an_account_is_403():
    accounts = restuser.Accounts(10000, 59999, "/srv/skeldir", "/home", {"root", "staff"})
    assert status_of(accounts.get, "staff") == 403


def test_a_missing_skeleton_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        restuser.parse_args(["--skeldir", str(tmp_path / "nope"), "--home-base", str(tmp_path)])


def test_useradd_gets_an_argument_list_with_the_chosen_uid_and_skeleton():
    accounts = restuser.Accounts(10000, 59999, "/srv/skeldir", "/home", {"root"})
    argv = accounts.useradd_command("alice", 10007, "/home/alice")
    assert argv[0] == "useradd" and argv[-2:] == ["--", "alice"]

    def value(flag):
        return argv[argv.index(flag) + 1]

    assert value("--uid") == "10007"
    assert value("--home-dir") == "/home/alice"
    assert value("--skel") == "/srv/skeldir"
    assert value("--shell") == "/usr/sbin/nologin"
    assert {"--user-group", "--create-home"} <= set(argv)
    assert "HOME_MODE=0700" in argv
