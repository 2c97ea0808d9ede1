"""`benchmarks/run NAME [options]`: one benchmark by name (`NAME --help` for its options)."""

import importlib
import sys

NAMES = {
    "burst": "the 9:00 class-start burst (login, spawn, kernel, execute) as a curve",
    "deploy": "cold and warm `lab up`, first highstate and idempotent re-apply per host",
    "cull": "one beacon poll and one cull cycle against 100 to 5,000 hub users",
    "backup": "backup.run against bare duplicity (full, incremental), restore of one home",
    "render": "highstate render and pillar validation for 50 to 2,000 students",
    "restart": "hub settings change, hub recreated, nginx reload with 40 servers, 10 busy",
}


def main(argv):
    if not argv or argv[0] not in NAMES:
        print(__doc__)
        for name, what in NAMES.items():
            print(f"  {name:<8} {what}")
        return 2
    module = importlib.import_module(f"benchmarks.{argv[0]}")
    module.main(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
