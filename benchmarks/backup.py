"""
Backup overhead: our `backup.run` (salt's _modules/backup.py) against bare duplicity on
the same data, a full and then an incremental after 1% of the files changed, and the
restore of one student's home both ways.

Both run here, on this machine, with Debian's duplicity (script/setup installs it),
symmetric encryption with the same passphrase, to file:// targets in a temporary
directory: the module's own work (settings, lock, gpg checks, log parsing, records) is
the difference. The data is generated: ``--students`` homes of ``--files`` small files.
"""

import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import Record, arguments, plot
from tests.common.loaders import load

SECRET = "benchmark-only passphrase"


def make_homes(root, students, files):
    """``students`` homes with ``files`` files each (0.5-4 KB, a few subdirectories)."""
    rng = random.Random(42)
    for s in range(students):
        home = root / f"student{s:03d}"
        for d in range(5):
            (home / f"week{d}").mkdir(parents=True, exist_ok=True)
        for f in range(files):
            path = home / f"week{f % 5}" / f"file{f:04d}.txt"
            path.write_bytes(rng.randbytes(rng.randint(512, 4096)))


def change_some(root, fraction, seed):
    """Rewrite ``fraction`` of the files (new contents, same names); how many."""
    rng = random.Random(seed)
    paths = sorted(p for p in root.rglob("*.txt"))
    chosen = rng.sample(paths, max(1, int(len(paths) * fraction)))
    for path in chosen:
        path.write_bytes(rng.randbytes(rng.randint(512, 4096)))
    return len(chosen)


def bare(action, source, target, cache, tmp, *extra):
    """Seconds one bare duplicity call took (the same encryption, cache and tempdir, and
    like the module a GnuPG home of its own, new in each round: gpg's first use of a home
    costs about 0.7 s, which either side would otherwise pay alone)."""
    gnupg = cache.parent / "bare-gnupg"
    gnupg.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "PASSPHRASE": SECRET, "LC_ALL": "C.UTF-8", "GNUPGHOME": str(gnupg)}
    argv = ["duplicity", action, "--archive-dir", str(cache), "--name", "bare",
            "--tempdir", str(tmp), *extra, *source_target(action, source, target)]  # fmt: skip
    began = time.monotonic()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return round(time.monotonic() - began, 2)


def source_target(action, source, target):
    return [target, str(source)] if action == "restore" else [str(source), target]


def ours(module, function, *args, **kwargs):
    """Seconds of one call of the module's function, and its result. The seconds spent
    in duplicity itself are added to ``module.in_duplicity`` (through _execute, its seam)."""
    if not hasattr(module, "in_duplicity"):
        execute = module._execute

        def timed(*a, **k):
            began = time.monotonic()
            try:
                return execute(*a, **k)
            finally:
                module.in_duplicity += time.monotonic() - began

        module._execute, module.in_duplicity = timed, 0.0
    began, before = time.monotonic(), module.in_duplicity
    result = getattr(module, function)(*args, **kwargs)
    took = time.monotonic() - began
    if result.get("result") is not True:
        raise SystemExit(f"backup.{function} failed: {result}")
    module.own_time = took - (module.in_duplicity - before)
    return round(took, 2), result


def new_second():
    """duplicity names backup sets by the second they start in."""
    time.sleep(1.05 - time.time() % 1)


def one_round(root, students, files, changed_fraction, ours_first):
    """A full, 1% changed, an incremental, a restore of one home: ours and bare."""
    home = root / "home"
    make_homes(home, students, files)
    tmp = root / "tmp"
    tmp.mkdir()
    cfg = {
        "enabled": True, "source": str(home), "target": f"file://{root}/ours",
        "target_host": None, "full_every": 604800, "keep_full": 2, "stale_after": 10800,
        "passphrase": SECRET, "work_dir": str(root / "work"),
    }  # fmt: skip
    module = load("_modules/backup.py", {"__pillar__": {"backup": cfg}, "__context__": {}})
    bare_target, bare_cache = f"file://{root}/bare", root / "bare-cache"
    one = "student000"
    fig = {}

    def both(kind, run_ours, run_bare):
        for who in ["ours", "bare"] if ours_first else ["bare", "ours"]:
            new_second()
            fig[f"{who}_{kind}_s"] = run_ours() if who == "ours" else run_bare()
            if who == "ours":
                fig[f"ours_{kind}_outside_duplicity_s"] = round(module.own_time, 3)

    both("full", lambda: ours(module, "run", full=True)[0],
         lambda: bare("full", home, bare_target, bare_cache, tmp))  # fmt: skip
    fig["changed_files"] = change_some(home, changed_fraction, seed=1)
    reported = {}

    def ours_incremental():
        took, result = ours(module, "run")
        reported.update(result)
        return took

    both("incremental", ours_incremental,
         lambda: bare("incremental", home, bare_target, bare_cache, tmp))  # fmt: skip
    fig["ours_incremental_reported_changed"] = reported.get("changed_files")
    both("restore_one_home",
         lambda: ours(module, "restore", one, str(root / "restored-ours"))[0],
         lambda: bare("restore", root / "restored-bare", bare_target, bare_cache, tmp,
                      f"--file-to-restore={one}"))  # fmt: skip
    fig["restores_match"] = (
        tree(home / one) == tree(root / "restored-ours") == tree(root / "restored-bare")
    )
    for gnupg in (root / "work" / "gnupg", root / "bare-gnupg"):
        subprocess.run(["gpgconf", "--homedir", str(gnupg), "--kill", "gpg-agent"],
                       check=False, capture_output=True)  # fmt: skip
    return fig


def measure(root, students, files, changed_fraction, repeats):
    """``repeats`` rounds on fresh data (alternating who goes first); medians and ratios."""
    rounds = []
    for n in range(repeats):
        round_dir = root / f"round{n}"
        round_dir.mkdir()
        rounds.append(one_round(round_dir, students, files, changed_fraction, n % 2 == 0))
    fig = {"students": students, "files": students * files, "rounds": rounds}
    fig["changed_files"] = rounds[0]["changed_files"]
    fig["ours_incremental_reported_changed"] = rounds[0]["ours_incremental_reported_changed"]
    fig["restores_match"] = all(r["restores_match"] for r in rounds)
    for kind in ("full", "incremental", "restore_one_home"):
        for who in ("ours", "bare"):
            fig[f"{who}_{kind}_s"] = round(
                statistics.median(r[f"{who}_{kind}_s"] for r in rounds), 2
            )
        fig[f"{kind}_overhead_ratio"] = round(fig[f"ours_{kind}_s"] / fig[f"bare_{kind}_s"], 3)
        own = statistics.median(r[f"ours_{kind}_outside_duplicity_s"] for r in rounds)
        fig[f"ours_{kind}_outside_duplicity_s"] = round(own, 3)
    return fig


def tree(root):
    """``{relative path: bytes}`` of the files under ``root``."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def main(argv=None):
    parser = arguments("backup", __doc__)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--files", type=int, default=500, help="files per student's home")
    parser.add_argument("--changed", type=float, default=0.01, help="fraction changed")
    parser.add_argument("--repeats", type=int, default=5, help="rounds on fresh data")
    parser.add_argument("--name", default="backup")
    args = parser.parse_args(argv)
    if shutil.which("duplicity") is None:
        raise SystemExit("needs duplicity: run script/setup")
    record = Record(args.name, vars(args))
    with tempfile.TemporaryDirectory(prefix="jhd-backup-bench-") as tmp:
        fig = measure(Path(tmp), args.students, args.files, args.changed, args.repeats)
    record["figures"] = fig
    for kind in ("full", "incremental", "restore_one_home"):
        print(f"{kind:<17} ours {fig[f'ours_{kind}_s']:>7} s   bare duplicity "
              f"{fig[f'bare_{kind}_s']:>7} s   ratio {fig[f'{kind}_overhead_ratio']}   "
              f"(the module's own time outside duplicity: "
              f"{fig[f'ours_{kind}_outside_duplicity_s']} s)")  # fmt: skip
    print(f"({fig['files']} files, {fig['changed_files']} changed before the incremental)")
    record.save()
    kinds = ["full", "incremental", "restore_one_home"]
    plot(
        record.path(".png"),
        f"backup.run vs bare duplicity ({fig['files']} files)",
        "0 = full, 1 = incremental, 2 = restore of one home",
        "seconds",
        {
            "ours (backup.run, .restore)": [(i, fig[f"ours_{k}_s"]) for i, k in enumerate(kinds)],
            "bare duplicity": [(i, fig[f"bare_{k}_s"]) for i, k in enumerate(kinds)],
        },
        notes=f"{record['machine']['cores']} cores, commit {record['machine']['commit']}",
    )  # fmt: skip
    return record
