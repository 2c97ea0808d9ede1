"""
The activity report, from the master: ``salt-run stats.report 2024-09-01 2024-12-20``.

The database lives on the hub, where the stats schedule records it, so this runner asks
the hub's minion (nodegroup ``hub``) to run ``stats.report`` and prints its answer as a
table. In this design the master is the hub, but going through the minion keeps the
command working when they are different machines. The PNG is written on the hub.
"""

import salt.client
from salt.exceptions import SaltClientError

__virtualname__ = "stats"

# matplotlib's first import on a host builds its font cache (a few seconds).
TIMEOUT = 120


def __virtual__():
    return __virtualname__


def format_table(result):
    """The text ``salt-run stats.report`` prints for one hub's ``stats.report`` result."""
    header = ("day", "active users", "peak concurrent", "polls")
    rows = [
        (day["date"], str(day["active_users"]), str(day["peak_concurrent"]), str(day["polls"]))
        for day in result["days"]
    ]
    totals = result["totals"]
    rows.append(
        ("total", str(totals["active_users"]), str(totals["peak_concurrent"]), str(totals["polls"]))
    )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row):
        """One row: the day left-aligned, the numbers right-aligned."""
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells)

    rule = "  ".join("-" * w for w in widths)
    out = [
        f"Activity {result['start']} to {result['end']} (UTC days) from {result['db']}",
        "",
        line(header),
        rule,
        *(line(row) for row in rows[:-1]),
        rule,
        line(rows[-1]),
        "",
        f"{totals['users_seen']} users seen; {totals['active_users']} were active at least once.",
    ]
    if totals["peak_at"]:
        out.append(
            f"Peak: {totals['peak_concurrent']} concurrent users at {totals['peak_at']} UTC."
        )
    missing = sum(1 for day in result["days"] if not day["polls"])
    if missing:
        out.append(f"{missing} day(s) without any poll: the stats schedule did not run then.")
    if result.get("png"):
        out.append(f"Plot written on the hub: {result['png']}")
    return "\n".join(out)


def _fail(message):
    """A failed report: salt-run prints the message and exits 1 (it exits with a returned
    dict's ``retcode``; ``__context__`` marks the job as failed in the job cache)."""
    __context__["retcode"] = 1
    return {"error": message, "retcode": 1}


def report(start=None, end=None, png=None, raw=False, timeout=TIMEOUT):
    """
    Daily active users and peak concurrency from ``start`` to ``end`` (``YYYY-MM-DD``, both
    included; default from the first recorded day to today), as a table; the hub also
    writes the plot (``png=PATH``, default pillar ``stats:report_png``, ``png=False`` for
    none). ``raw=True`` returns ``{minion: stats.report's data}`` instead of the table. When
    the hub does not answer or its report fails it returns ``{"error": ..., "retcode": 1}``
    and salt-run exits 1.

    CLI Example:

    .. code-block:: bash

        salt-run stats.report 2024-09-01 2024-12-20
        salt-run stats.report start=2024-11-01 png=/srv/stats/november.png
    """
    kwarg = {"start": start, "end": end}
    if png is not None:
        kwarg["png"] = png
    client = salt.client.get_local_client(mopts=__opts__)
    try:
        returns = client.cmd(
            "hub",
            "stats.report",
            kwarg=kwarg,
            tgt_type="nodegroup",
            timeout=timeout,
            full_return=True,
        )
    except SaltClientError as exc:
        return _fail(f"cannot ask the hub for its activity report: {exc}")
    if not returns:
        return _fail(
            "no minion of nodegroup hub answered within "
            f"{timeout}s: is the hub's minion up (salt -N hub test.ping)?"
        )
    results, errors = {}, []
    for minion, answer in sorted(returns.items()):
        data = answer.get("ret") if isinstance(answer, dict) else answer
        retcode = answer.get("retcode", 0) if isinstance(answer, dict) else 0
        if retcode or not isinstance(data, dict):
            errors.append(f"{minion}: {data}")
        else:
            results[minion] = data
    if errors:
        return _fail("stats.report failed on " + "; ".join(errors))
    if raw:
        return results
    if len(results) == 1:
        return format_table(next(iter(results.values())))
    return "\n\n".join(f"{minion}:\n{format_table(data)}" for minion, data in results.items())
