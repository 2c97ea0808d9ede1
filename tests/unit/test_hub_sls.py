"""
The hub's sls files (salt/hub/init.sls, image.sls, prepull.sls) rendered from the example
site's pillars: their states and requisites, the student image's own tag
(images:singleuser_tag), and the test-mode command that asks imagectl what it would do.
"""

import subprocess

import pytest

from tests.common.sites import minion_pillar, pillar_with_tag
from tests.common.sls_render import render_sls

# --- the sls files ------------------------------------------------------------------------------


def ids_and_functions(states):
    return {
        state_id: sorted(key for key in body if "." in key)
        for state_id, body in states.items()
        if state_id != "include"
    }


def requires(body, function):
    args = body[function]
    for item in args:
        if isinstance(item, dict) and "require" in item:
            return item["require"]
    return []


def test_init_sls():
    pillar = minion_pillar("example")
    states = render_sls("hub/init.sls", pillar, pillar["roles"]["hub"])
    assert states["include"] == ["images.build", "swarm.manager", "restuser"]
    assert ids_and_functions(states) == {
        "hub-proxy-api-network": ["docker_network.present"],
        "hub-data-dir": ["file.directory"],
        "hub-settings": ["file.serialize"],
        "hub-database-migrated": ["jupyterhub_db.migrated"],
        "jupyterhub": ["docker_container.running"],
        "hub-student-image-mine": ["module.run"],
    }
    container = dict(
        pair for item in states["jupyterhub"]["docker_container.running"] for pair in item.items()
    )
    assert container["image"] == "10.0.0.10:5000/jupyterhub-deploy/hub:current"
    assert container["restart_policy"] == "unless-stopped"
    # The schema migrated (the old hub stopped first) before the new image's container runs.
    assert {"jupyterhub_db": "hub-database-migrated"} in container["require"]
    # The API for salt on loopback only; the proxy, in its own container, takes nginx's.
    assert container["port_bindings"] == ["127.0.0.1:8081:8081"]
    assert "/run/restuser:/run/restuser:rw" in container["binds"]
    assert "/var/run/docker.sock:/var/run/docker.sock:rw" in container["binds"]
    # A fixed overlay address, where servers reach the API (issue #18 item 6), and one on
    # the network where only the proxy's API listens.
    assert container["networks"] == [
        {"jupyterhub": [{"ipv4_address": "10.213.0.2"}]},
        {"jupyterhub-proxy-api": [{"ipv4_address": "10.214.0.3"}]},
    ]
    network = dict(
        pair
        for item in states["hub-proxy-api-network"]["docker_network.present"]
        for pair in item.items()
    )
    assert network["ipam_pools"] == [{"subnet": "10.214.0.0/29", "gateway": "10.214.0.1"}]
    settings = dict(
        pair for item in states["hub-settings"]["file.serialize"] for pair in item.items()
    )
    assert settings["mode"] == "0600" and settings["show_changes"] is False


def test_proxy_sls_runs_the_proxy_apart_from_the_hub():
    """Issue #21: a hub restart or upgrade no longer closes students' connections."""
    pillar = minion_pillar("example")
    states = render_sls("hub/proxy.sls", pillar, pillar["roles"]["hub"])
    assert ids_and_functions(states) == {
        "hub-proxy-token": ["file.managed"],
        "jupyterhub-proxy": ["docker_container.running"],
        "hub-routes-restored": ["module.run"],
    }
    proxy = dict(
        pair
        for item in states["jupyterhub-proxy"]["docker_container.running"]
        for pair in item.items()
    )
    assert proxy["image"] == "10.0.0.10:5000/jupyterhub-deploy/proxy:current"
    assert proxy["port_bindings"] == ["10.0.0.10:8000:8000"]
    # The API on the private network's address only, never on the overlay.
    assert "--api-ip 10.214.0.2 --api-port 8001" in proxy["command"]
    assert "--default-target http://10.213.0.2:8081" in proxy["command"]
    assert proxy["networks"] == [
        "jupyterhub",
        {"jupyterhub-proxy-api": [{"ipv4_address": "10.214.0.2"}]},
    ]
    # The hub's container first (an older hub still holds port 8000); no watch on it,
    # so a hub change never restarts the proxy.
    assert {"docker_container": "jupyterhub"} in requires(states["jupyterhub-proxy"],
                                                          "docker_container.running")  # fmt: skip
    assert not any("watch" in item and {"docker_container": "jupyterhub"} in item["watch"]
                   for item in states["jupyterhub-proxy"]["docker_container.running"]
                   if isinstance(item, dict))  # fmt: skip
    token = dict(
        pair for item in states["hub-proxy-token"]["file.managed"] for pair in item.items()
    )
    assert token["contents_pillar"] == "hub:proxy_auth_token"
    assert token["mode"] == "0400" and token["show_changes"] is False
    restored = dict(
        pair for item in states["hub-routes-restored"]["module.run"] for pair in item.items()
    )
    assert restored["onchanges"] == [{"docker_container": "jupyterhub-proxy"}]


def test_image_sls_passes_the_extra_cas():
    pillar = minion_pillar("example")
    pillar["images"]["extra_ca_certs"] = ["/usr/local/share/ca-certificates/corp.crt"]
    states = render_sls("images/build.sls", pillar, pillar["roles"]["hub"])
    for image in ("hub", "proxy", "singleuser"):
        run = dict(pair for item in states[f"image-{image}"]["cmd.run"] for pair in item.items())
        assert f"--image 10.0.0.10:5000/jupyterhub-deploy/{image}:current" in run["name"]
        assert "--ca-cert /usr/local/share/ca-certificates/corp.crt" in run["name"]
        assert "--base debian:trixie --push --push-via 127.0.0.1:5001" in run["name"]
        recorded = "--record /srv/jupyterhub/singleuser-image.json" in run["name"]
        assert recorded == (image == "singleuser")
        # No `unless` (salt 3008 loads every state module for one); test=True runs --plan.
        assert "unless" not in run
        assert run["name"] + " --plan" in run["stateful"][0]["test_name"]
        assert {"sls": "registry"} in requires(states[f"image-{image}"], "cmd.run")


def test_prepull_sls():
    pillar = minion_pillar("example", "node")
    states = render_sls("images/prepull.sls", pillar, "node1.example.edu")
    run = dict(pair for item in states["prepull-singleuser"]["cmd.run"] for pair in item.items())
    assert run["name"].endswith("pull --image 10.0.0.10:5000/jupyterhub-deploy/singleuser:current")
    assert "unless" not in run and run["name"] + " --plan" in run["stateful"][0]["test_name"]


def test_prepull_pulls_the_digest_the_hub_published():
    pillar = minion_pillar("example", "node")
    name = pillar["images"]["names"]["singleuser"]
    digest = "sha256:" + "d" * 64
    for published, pulls in [
        (f"{name}@{digest}", f"pull --image {name} --digest {digest}"),
        (f"{name.replace(':current', ':week4')}@{digest}", f"pull --image {name}"),  # stale
    ]:
        mine = {(pillar["roles"]["hub"], "student_image"): published}
        states = render_sls("images/prepull.sls", pillar, "node1.example.edu", mine)
        run = dict(
            pair for item in states["prepull-singleuser"]["cmd.run"] for pair in item.items()
        )
        assert run["name"].endswith(pulls)


# --- the student image's own tag (images:singleuser_tag) -----------------------------------


def cmd_run(states, state_id):
    return dict(pair for item in states[state_id]["cmd.run"] for pair in item.items())


STUDENT = "10.0.0.10:5000/jupyterhub-deploy/singleuser"


@pytest.mark.parametrize("tag, immutable", [(None, False), ("current", False), ("week5", True)])
def test_image_sls_builds_a_student_tag_other_than_the_moving_one_immutable(tag, immutable):
    pillar = pillar_with_tag(tag)
    states = render_sls("images/build.sls", pillar, pillar["roles"]["hub"])
    student = cmd_run(states, "image-singleuser")
    want = tag or "current"
    assert f"--image {STUDENT}:{want} " in student["name"]
    assert ("--immutable" in student["name"]) is immutable
    assert "--immutable" not in cmd_run(states, "image-hub")["name"]
    assert cmd_run(states, "image-hub")["name"].count(":current ") == 1
    prune = cmd_run(states, "image-singleuser-prune")
    assert prune["name"].endswith(f"prune --repository {STUDENT} --keep {want}")
    assert prune["require"] == [{"cmd": "image-singleuser"}]
    for state_id in ("image-singleuser", "image-singleuser-prune"):
        run = cmd_run(states, state_id)
        assert not {"unless", "onlyif", "creates"} & set(run)
        assert run["name"] + " --plan" in run["stateful"][0]["test_name"]


@pytest.mark.parametrize("version", [None, "6.1.2"])
def test_a_jupyterhub_release_in_the_pillar_is_the_hub_image_s_build_argument(version):
    pillar = pillar_with_tag(None)
    pillar["hub"]["jupyterhub_version"] = version
    states = render_sls("images/build.sls", pillar, pillar["roles"]["hub"])
    hub = cmd_run(states, "image-hub")["name"]
    assert ("--build-arg JUPYTERHUB_VERSION=6.1.2" in hub) is bool(version)
    assert "--build-arg" not in cmd_run(states, "image-singleuser")["name"]


def test_prepull_sls_prunes_the_other_tags_after_the_pull():
    pillar = pillar_with_tag("week5", role="node")
    states = render_sls("images/prepull.sls", pillar, "node1.example.edu")
    assert cmd_run(states, "prepull-singleuser")["name"].endswith(f"--image {STUDENT}:week5")
    prune = cmd_run(states, "prepull-prune-tags")
    assert prune["name"].endswith(f"prune --repository {STUDENT} --keep week5")
    assert prune["require"] == [{"cmd": "prepull-singleuser"}]
    assert not {"unless", "onlyif", "creates"} & set(prune)
    assert prune["name"] + " --plan" in prune["stateful"][0]["test_name"]


@pytest.mark.parametrize(
    "exits, line, code",
    [
        (0, "changed=no comment=fine", 0),  # the installed imagectl knows the command
        (2, "would update imagectl and prune", 0),  # an older one: argparse refuses it
        (1, "changed=no comment=fine", 1),  # a real failure stays one
        (None, "changed=no comment='no imagectl yet: no images to prune'", 0),  # a new host
    ],
)
def test_the_test_mode_command_copes_with_a_new_or_older_imagectl(tmp_path, exits, line, code):
    """test=True runs before file.managed has replaced the script (it only would)."""
    pillar = pillar_with_tag("week5", role="node")
    states = render_sls("images/prepull.sls", pillar, "node1.example.edu")
    test_name = cmd_run(states, "prepull-prune-tags")["stateful"][0]["test_name"]
    script = tmp_path / "imagectl.py"
    if exits is not None:
        script.write_text(f"import sys\nprint('changed=no comment=fine')\nsys.exit({exits})\n")
    command = test_name.replace("/usr/local/lib/jupyterhub-deploy/imagectl.py", str(script))
    proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    assert proc.returncode == code
    assert line in proc.stdout.strip().splitlines()[-1]
