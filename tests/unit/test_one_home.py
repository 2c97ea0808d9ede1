"""Rules that once had several copies keep one home (issue #19): a copy coming back fails."""

import re
import subprocess

from tests.common.paths import REPO

CODE = re.compile(r"\.(py|sls|jinja|yaml|yml|service|conf|sh)$|(^|/)Dockerfile$")


def tracked_code():
    """Every tracked source, state and config file (not tests: they may name a few names)."""
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    for path in out.stdout.split():
        if CODE.search(path) and not path.startswith(("tests/", "benchmarks/results/")):
            yield path


def test_the_reserved_user_names_are_listed_only_in_the_users_defaults():
    """salt/users/defaults.yaml's users:reserved_names; the pillar check, restuser (its
    --reserved-names) and the hub (settings.json) take them from the pillar."""
    # Names no code has a reason to spell out except in a list of reserved names.
    markers = re.compile(r"\b(messagebus|systemd-network|_apt)\b")
    homes = [path for path in tracked_code() if markers.search((REPO / path).read_text())]
    assert homes == ["salt/users/defaults.yaml"]
