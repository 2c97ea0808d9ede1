"""
Backups in the lab: real duplicity on the hub, over sftp to the proxy (the lab's
backup:target_host), encrypted with the lab's passphrase, driven through salt as an admin
would: `salt hub backup.*` and `salt-run backup.status`.
"""

import time
import uuid

import pytest

STUDENT = "alice"
WORK = f"/home/{STUDENT}/e2e-backup"


def call(lab, function, *args, timeout=900):
    result = lab.salt("hub", function, *args, timeout=timeout)["hub"]
    return result


def runner(lab, *args):
    """``(exit code, parsed JSON)`` of `salt-run ARGS` on the master."""
    return lab.salt_run(*args)


def tree(lab, path):
    """``{relative path: "mode uid sha256"}`` of every file under path on the hub."""
    script = (
        f"cd {path} && find . -type f -print0 | sort -z | "
        "xargs -0 -r stat -c '%n %a %u' | while read -r n m u; do "
        'echo "$n $m $u $(sha256sum < "$n" | cut -c1-64)"; done'
    )
    out = lab.exec("hub", "sh", "-c", script).stdout
    return {line.split()[0]: " ".join(line.split()[1:]) for line in out.splitlines()}


def hub_sh(lab, script):
    return lab.exec("hub", "sh", "-c", script).stdout


@pytest.fixture(scope="module")
def backed_up(lab):
    """A full backup of a home with known files; the tree and the time it was taken."""
    hub_sh(lab, f"""
        rm -rf {WORK} && install -d -o {STUDENT} -g {STUDENT} {WORK}
        echo version-1 > {WORK}/notebook.ipynb
        echo to-be-deleted > {WORK}/deleted.txt
        head -c 3000000 /dev/urandom > {WORK}/data.bin
        chown -R {STUDENT}: {WORK} && chmod 0640 {WORK}/data.bin
    """)  # fmt: skip
    result = call(lab, "backup.run", "full=True")
    assert result["result"] is True and result["type"] == "full", result
    before = tree(lab, f"/home/{STUDENT}")
    assert "./e2e-backup/deleted.txt" in before
    when = int(hub_sh(lab, "date +%s"))
    time.sleep(2)  # duplicity's times have a resolution of one second
    hub_sh(lab, f"""
        echo version-2 > {WORK}/notebook.ipynb
        rm {WORK}/deleted.txt
        echo new > {WORK}/new.txt && chown {STUDENT}: {WORK}/new.txt
    """)  # fmt: skip
    result = call(lab, "backup.run")
    assert result["result"] is True and result["type"] == "incremental", result
    assert result["deleted_files"] >= 1 and result["changed_files"] >= 1
    yield {"tree": before, "time": when}
    hub_sh(lab, f"rm -rf {WORK}")


def test_the_backup_is_on_the_proxy_encrypted_and_owned_by_the_sftp_account(lab, backed_up):
    listing = lab.exec("proxy", "ls", "-ln", "/srv/backup/home").stdout
    volumes = [line for line in listing.splitlines() if ".difftar.gpg" in line]
    assert volumes, listing
    uid = lab.exec("proxy", "id", "-u", "jhd-backup").stdout.strip()
    assert all(line.split()[2] == uid for line in volumes)
    # Encrypted: the notebook's text is nowhere in the stored files.
    grep = lab.exec("proxy", "grep", "-rl", "version-1", "/srv/backup/home", check=False)
    assert grep.returncode == 1


def test_restore_of_a_home_as_of_the_full_is_identical(lab, backed_up):
    target = f"/root/restore-{uuid.uuid4().hex[:8]}"
    try:
        result = call(lab, "backup.restore", STUDENT, target, f"time={backed_up['time']}")
        assert result["result"] is True, result
        restored = tree(lab, target)
        assert restored == backed_up["tree"]
        assert "./e2e-backup/deleted.txt" in restored and "./e2e-backup/new.txt" not in restored
        assert hub_sh(lab, f"cat {target}/e2e-backup/notebook.ipynb").strip() == "version-1"
        # Never over existing data unless told to.
        again = lab.salt("hub", "backup.restore", STUDENT, target)["hub"]
        assert "not empty" in str(again) or "force" in str(again), again
    finally:
        hub_sh(lab, f"rm -rf {target}")


def test_a_restore_into_the_home_never_writes_through_the_student_s_link(lab, backed_up):
    """Issue #18 item 1: alice swaps a backed-up file for a link to /etc/jhd-poc and asks
    for a restore into her home; root must not write through it (before the fix
    /etc/jhd-poc appeared, owned by alice, with her content)."""
    notebook = f"{WORK}/notebook.ipynb"
    hub_sh(lab, f"rm -f /etc/jhd-poc && runuser -u {STUDENT} -- ln -sfn /etc/jhd-poc {notebook}")
    try:
        result = call(lab, "backup.restore", f"{STUDENT}/e2e-backup", WORK, "force=True")
        assert result["result"] is True, result
        assert (
            hub_sh(lab, "ls /etc/jhd-poc 2>&1 || true")
            .strip()
            .endswith("No such file or directory")
        )
        kind = hub_sh(lab, f"stat -c '%F %U' {notebook}").strip()
        assert kind == f"regular file {STUDENT}"
        assert hub_sh(lab, f"cat {notebook}").strip() == "version-2"
    finally:
        hub_sh(lab, "rm -f /etc/jhd-poc")


def test_cleanup_keeps_the_last_two_fulls(lab, backed_up):
    for _ in range(2):
        assert call(lab, "backup.run", "full=True")["result"] is True
    assert call(lab, "backup.status")["chain_count"] >= 3
    result = call(lab, "backup.cleanup")
    assert result["result"] is True and result["keep_full"] == 2, result
    status = call(lab, "backup.status")
    assert status["chain_count"] == 2, status


def test_status_runner_passes_then_fails_when_stale(lab, backed_up):
    code, report = runner(lab, "backup.status")
    assert code == 0 and report["result"] is True and not report["problems"], report
    with lab.site_changes({"backup": {"stale_after": "1s"}}):
        time.sleep(2)
        code, report = runner(lab, "backup.status")
        assert code == 1 and report["result"] is False, report
        print("stale:", report["summary"], report["problems"])
    code, _ = runner(lab, "backup.status")
    assert code == 0


def test_a_failed_backup_fails_the_status_runner_until_one_succeeds(lab, backed_up):
    lab.exec("proxy", "systemctl", "stop", "ssh")
    try:
        result = call(lab, "backup.run")
        assert result["result"] is False and result["error"], result
        code, report = runner(lab, "backup.status")
        assert code == 1 and report["result"] is False, report
        print("failed:", report["summary"], report["problems"])
    finally:
        lab.exec("proxy", "systemctl", "start", "ssh")
    assert call(lab, "backup.run")["result"] is True
    assert runner(lab, "backup.status")[0] == 0


def test_scheduled_runs_land_in_the_job_cache(lab, backed_up):
    schedule = call(lab, "schedule.list", "return_yaml=False")
    assert {"backup-run", "backup-cleanup", "backup-verify"} <= set(schedule)
    assert schedule["backup-run"]["cron"] == "5 * * * *"
    _, before = runner(lab, "jobs.list_jobs", "search_function=backup.run")
    call(lab, "schedule.run_job", "backup-run")
    deadline = time.monotonic() + 300
    while True:
        _, jobs = runner(lab, "jobs.list_jobs", "search_function=backup.run")
        new = set(jobs) - set(before)
        if new:
            break
        assert time.monotonic() < deadline, "the scheduled backup.run is not in the job cache"
        time.sleep(5)
    code, report = runner(lab, "jupyterhub.status")
    last = report["hub"]["hub"]["last backup"]
    assert last["time"] != "none" and last["stale"] is False, last


def test_a_corrupted_volume_fails_verify_naming_it_until_a_new_full_chain(lab, backed_up):
    """Bytes flipped in one stored volume (a failing disk on the target): verify names it,
    both status runners report it, and a new full chain (docs/operations.md) recovers."""
    assert call(lab, "backup.run", "full=True")["result"] is True
    volume = lab.exec(
        "proxy", "sh", "-c", "ls -t /srv/backup/home/duplicity-full.*.vol1.difftar.gpg | head -1"
    ).stdout
    volume = volume.strip()  # fmt: skip
    name = volume.rsplit("/", 1)[1]
    lab.exec("proxy", "python3", "-c", (
        "import os, sys; f = open(sys.argv[1], 'r+b'); f.seek(os.path.getsize(sys.argv[1]) // 2)"
        "; data = f.read(64); f.seek(-len(data), 1); f.write(bytes(b ^ 0xFF for b in data))"
    ), volume)  # fmt: skip
    result = lab.salt("hub", "backup.verify")["hub"]
    assert name in str(result), result
    print("verify:", str(result)[:400])
    code, report = runner(lab, "backup.status")
    assert code == 1 and any("backup.verify failed" in p for p in report["problems"]), report
    code, report = runner(lab, "jupyterhub.status")
    assert code == 1 and any("backup.verify failed" in p for p in report["problems"]), report
    # The documented recovery: a new full chain, then verify it.
    assert call(lab, "backup.run", "full=True")["result"] is True
    result = call(lab, "backup.verify")
    assert result["result"] is True, result
    assert runner(lab, "backup.status")[0] == 0
