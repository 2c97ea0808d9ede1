"""
``salt-run backup.status``: is there a recent, good backup of the students' homes?

The hub (nodegroup ``hub``, i.e. the minion the site's ``roles:hub`` names) answers
``backup.status`` (_modules/backup.py); this runner judges the answer and exits non-zero
when the last complete backup is older than ``backup:stale_after``, when there is none, when
the last scheduled run, cleanup or verify failed, or when the hub does not answer, so a
monitoring check or a cron job can simply run it.

Salt 3008's ``salt-run`` takes its exit code from a ``retcode`` key of the runner's return
(salt/cli/run.py); ``__context__["retcode"]`` only marks the job unsuccessful in the job
cache. This runner sets both.
"""

import salt.client

__virtualname__ = "backup"

NODEGROUP = "hub"


def __virtual__():
    return __virtualname__


def _ask_hub(timeout):
    """``{minion_id: {"ret": ..., "retcode": int}}`` of ``backup.status`` on the hub."""
    with salt.client.get_local_client(__opts__["conf_file"]) as client:
        return client.cmd(
            NODEGROUP, "backup.status", tgt_type="nodegroup", timeout=timeout, full_return=True
        )


def _judge(returns):
    """
    The report on ``returns`` (what ``_ask_hub`` got): ``{"result", "retcode", "hub",
    "summary", "problems", ...}``; ``retcode`` is 1 when anything is wrong.
    """
    if not returns:
        return _report(
            None,
            None,
            [
                f"no minion of nodegroup '{NODEGROUP}' answered backup.status: is salt-minion "
                "running on the hub (pillar roles:hub)?"
            ],
        )
    if len(returns) > 1:
        return _report(None, None, [f"nodegroup '{NODEGROUP}' matched {sorted(returns)}"])
    hub, answer = next(iter(returns.items()))
    answer = answer if isinstance(answer, dict) else {"ret": answer, "retcode": 1}
    status = answer.get("ret")
    if answer.get("retcode", 0) != 0 or not isinstance(status, dict):
        return _report(hub, None, [f"backup.status failed on {hub}: {status}"])
    if not status.get("enabled"):
        report = _report(hub, status, [])
        report["summary"] = "backups are disabled (pillar backup:enabled is false)"
        return report
    problems = []
    if status.get("last_backup") is None:
        problems.append(f"there is no complete backup at {status.get('target')}")
    elif status.get("stale"):
        problems.append(
            f"the last complete backup is {status.get('age_human')} old, older than "
            f"backup:stale_after ({status.get('stale_after_human')})"
        )
    for function, last in sorted((status.get("last_results") or {}).items()):
        if isinstance(last, dict) and not last.get("result", True):
            when, error = last.get("time"), last.get("error")
            problems.append(f"the last backup.{function} failed at {when}: {error}")
    return _report(hub, status, problems)


def _report(hub, status, problems):
    status = status or {}
    if status.get("last_backup"):
        summary = f"last complete backup {status['last_backup']}, {status.get('age_human')} ago"
    else:
        summary = "no complete backup"
    if status.get("running"):
        summary += f"; {status['running'].get('function')} is running"
    return {
        "result": not problems,
        "retcode": 1 if problems else 0,
        "hub": hub,
        "summary": summary,
        "problems": problems,
        "last_backup": status.get("last_backup"),
        # Both worded by the hub's backup module (its status() has the seconds too).
        "age": status.get("age_human"),
        "stale_after": status.get("stale_after_human"),
        "last_full": status.get("last_full"),
        "chains": status.get("chain_count"),
        "target": status.get("target"),
    }


def status(timeout=120):
    """
    The age of the last complete backup of the hub, and whether it is good enough.

    Asks the hub for ``backup.status`` and exits non-zero when the last complete backup is
    older than ``backup:stale_after`` (or there is none), when the last scheduled
    ``backup.run``, ``backup.cleanup`` or ``backup.verify`` failed, or when the hub does not
    answer within ``timeout`` seconds. Returns ``{"result", "retcode", "hub", "summary",
    "problems", "last_backup", "age", "stale_after", "last_full", "chains", "target"}``.

    CLI Example:

    .. code-block:: bash

        salt-run backup.status
    """
    report = _judge(_ask_hub(timeout))
    __context__["retcode"] = report["retcode"]
    return report
