"""
The stats report's plot (_modules/stats.py ``report``): daily active users and peak
concurrency as a PNG, with matplotlib's Agg canvas (no display, no pyplot global state
inside the minion).
"""

import datetime
import os
import tempfile

from salt.exceptions import CommandExecutionError

# 10 x 5 inches at 100 dpi is a 1000 x 500 pixel PNG.
PLOT_SIZE = (10, 5)
PLOT_DPI = 100


def draw(days, path, title="JupyterHub activity"):
    """
    Write a PNG of daily active users (bars) and peak concurrency (line) to ``path``,
    replacing it atomically. Uses matplotlib's Agg canvas directly: no display, no pyplot
    global state inside the minion.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise CommandExecutionError(
            "matplotlib is not installed in salt's Python (requirements/host.txt): run "
            "script/bootstrap again, or pass png=False for the numbers only"
        ) from None
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CommandExecutionError(f"cannot write the plot {path}: {directory} does not exist")

    dates = [datetime.date.fromisoformat(day["date"]) for day in days]
    actives = [day["active_users"] for day in days]
    # A day without polls has no data, not zero users: a gap in the line.
    peaks = [day["peak_concurrent"] if day["polls"] else float("nan") for day in days]
    figure = Figure(figsize=PLOT_SIZE, dpi=PLOT_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.bar(dates, actives, color="#9ecae1", label="daily active users")
    axes.plot(
        dates,
        peaks,
        color="#d62728",
        marker="o" if len(days) <= 62 else None,
        label="peak concurrent users",
    )
    axes.set_title(title)
    axes.set_xlabel("day (UTC)")
    axes.set_ylabel("users")
    # Headroom for the legend above the tallest bar.
    axes.set_ylim(0, max([1, *actives]) * 1.25)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(loc="upper left", ncols=2)
    axes.grid(axis="y", alpha=0.3)
    figure.autofmt_xdate()
    handle, tmp = tempfile.mkstemp(prefix=".stats-", suffix=".png", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            figure.savefig(out, format="png", dpi=PLOT_DPI)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
