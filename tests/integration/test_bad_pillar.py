"""A site pillar that fails validation stops salt before anything is applied."""

import pytest

from tests.common.sites import ROLES

NODE = ROLES["nodes"][0]


@pytest.fixture
def broken_site(site_dir, salt_cli):
    """Edit the site pillar for one test, then put it back and refresh every minion."""
    path = site_dir / "site.sls"
    original = path.read_text()

    def write(old, new):
        assert old in original
        path.write_text(original.replace(old, new, 1))
        salt_cli.run("saltutil.refresh_pillar", wait=True, minion_tgt="*")

    yield write
    path.write_text(original)
    salt_cli.run("saltutil.refresh_pillar", wait=True, minion_tgt="*")


@pytest.fixture
def marker_sls(salt_master, tmp_path):
    """A test-only sls that writes a file, so 'nothing was applied' is observable."""
    marker = tmp_path / "applied"
    sls = f"marker:\n  file.managed:\n    - name: {marker}\n    - contents: applied\n"
    with salt_master.state_tree.base.temp_file("marker.sls", sls):
        yield marker


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ("  timeout: 24h", "  timout: 24h", "'cull:timout' is not a known key"),
        ("  mem_limit: 1G", "  mem_limit: 1 GB", "'spawner:mem_limit' must be a size"),
        ("    - grace", "    - Grace.Hopper", "unsafe user name 'Grace.Hopper'"),
        (
            "    - node2.example.edu\n\ncommon",
            "    - node3.example.edu\n\ncommon",
            "'roles:nodes' names 'node3.example.edu', which is not in 'hosts'",
        ),
    ],
)
def test_invalid_pillar_refuses_to_apply_anything(
    broken_site, marker_sls, salt_cli, old, new, expected
):
    broken_site(old, new)
    ret = salt_cli.run("state.apply", "marker", minion_tgt=NODE)
    assert ret.returncode != 0
    text = str(ret.data)
    assert "Pillar failed to render" in text and expected in text
    assert not marker_sls.exists()
    ret = salt_cli.run("state.apply", minion_tgt=NODE)
    assert ret.returncode != 0 and expected in str(ret.data)


def test_valid_pillar_applies_the_same_state(salt_cli, marker_sls):
    ret = salt_cli.run("state.apply", "marker", minion_tgt=NODE)
    assert ret.returncode == 0, ret
    assert marker_sls.read_text().strip() == "applied"
