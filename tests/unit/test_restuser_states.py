"""salt/restuser: the sls and the systemd unit, rendered for the example site's hub."""

import jinja2
import pytest
import yaml

from tests.common.loaders import load
from tests.common.paths import REPO
from tests.common.sites import minion_pillar

restuser = load("salt/restuser/files/restuser.py")
module = load("_modules/restuser.py", {"__opts__": {}})


def hub_pillar(site):
    """The merged pillar the master gives the site's hub."""
    return minion_pillar(site, "hub")


def render(relpath, pillar):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return env.from_string((REPO / relpath).read_text()).render(pillar=pillar)


@pytest.fixture(params=["example", "lab"])
def pillar(request):
    return hub_pillar(request.param)


def test_the_sls_creates_every_student_once_the_service_runs(pillar):
    states = yaml.safe_load(render("salt/restuser/init.sls", pillar))
    students = pillar["users"]["students"]
    assert students
    for name in students:
        state = states[f"restuser-student-{name}"]["restuser.present"]
        assert {"name": name} in state
        assert {"require": [{"service": "restuser"}]} in state
    service = states["restuser"]["service.running"]
    watched = next(item["watch"] for item in service if "watch" in item)
    assert {"file": "restuser-script"} in watched and {"file": "restuser-unit"} in watched
    required = next(item["require"] for item in service if "require" in item)
    assert {"sls": "users"} in required
    assert states["include"] == ["users"]


def test_the_script_is_installed_where_the_unit_runs_it(pillar):
    states = yaml.safe_load(render("salt/restuser/init.sls", pillar))
    script = states["restuser-script"]["file.managed"]
    assert {"name": "/usr/local/lib/restuser/restuser.py"} in script
    assert {"mode": "0755"} in script
    unit = render("salt/restuser/files/restuser.service", pillar)
    assert "ExecStart=/usr/bin/python3 -I /usr/local/lib/restuser/restuser.py" in unit


def test_the_unit_passes_the_pillars_settings(pillar):
    unit = render("salt/restuser/files/restuser.service", pillar)
    exec_start = unit.split("ExecStart=", 1)[1].split("\n#", 1)[0].replace("\\\n", " ")
    argv = exec_start.split()
    users = pillar["users"]
    options = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert options == {
        "--socket": "/run/restuser/restuser.sock",
        "--uid-min": str(users["student_uid_min"]),
        "--uid-max": str(users["student_uid_max"]),
        "--skeldir": users["skeldir"],
        "--home-base": "/home",
        "--log": "/var/log/restuser.log",
        "--reserved-names": ",".join(users["reserved_names"]),
    }
    # The service takes the list it is given: the pillar's is the one source.
    reserved = restuser._names(options["--reserved-names"])
    assert reserved == set(users["reserved_names"]) >= {"root", "staff", "sudo"}


def test_the_unit_keeps_the_socket_directory_root_only_and_in_place(pillar):
    lines = render("salt/restuser/files/restuser.service", pillar).splitlines()
    for setting in (
        "Type=simple",
        "User=root",
        "RuntimeDirectory=restuser",
        "RuntimeDirectoryMode=0700",
        "RuntimeDirectoryPreserve=yes",
        "Restart=on-failure",
        "WantedBy=multi-user.target",
    ):
        assert setting in lines


def test_service_module_and_unit_agree_on_the_socket(tmp_path, pillar):
    dirs = ["--skeldir", str(tmp_path), "--home-base", str(tmp_path)]
    args = restuser.parse_args([*dirs, "--reserved-names", "root"])
    assert args.socket == module.SOCKET
    assert f"--socket {module.SOCKET} " in render("salt/restuser/files/restuser.service", pillar)
