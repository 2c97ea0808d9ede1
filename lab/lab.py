#!/usr/bin/env python3
"""The local lab: jupyterhub-deploy's hosts (proxy, hub, node1..N) as systemd containers.

Run through script/lab (see `script/lab --help` and lab/README.md). Standard library only:
it runs on a bare Debian machine with root, and installs docker.io and debootstrap itself.

The work is done by the package next to this file, lab/jhdlab/ (python3 puts a script's
directory first on sys.path): common (names, paths, log, running commands), images,
site_pillar, hosts (containers), minions (salt in the hosts) and cli (the commands).
"""

import sys

# script/lab runs as root from a checkout: leave no root-owned __pycache__ in lab/jhdlab/
# (the single file this was before left none either).
sys.dont_write_bytecode = True

from jhdlab.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
