"""
Activity stats in the lab: the hub's salt schedule records who is active into the
original class's sqlite schema, and `salt-run stats.report` prints daily actives and peak
concurrency and plots them.
"""

import datetime
import json

import pytest

from tests.common.hubclient import Student

NAME = "student08"
DB = "/srv/stats/db/activity.sqlite"
# Read-only: a lab that has not polled yet has no database (or no table) to read.
QUERY = f"""
import json, os, sqlite3
schema, rows = [], []
if os.path.exists("{DB}"):
    db = sqlite3.connect("file:{DB}?mode=ro", uri=True)
    schema = [r[1:3] for r in db.execute("PRAGMA table_info(activity)")]
    if schema:
        rows = db.execute("SELECT date, user, active FROM activity ORDER BY date").fetchall()
print(json.dumps({{"schema": schema, "rows": rows}}))
"""


@pytest.fixture(scope="module")
def working_student(lab, ca_file):
    student = Student(NAME, ca_file)
    student.login()
    student.start_server()
    student.open_lab()
    assert student.execute("print(1 + 1)").strip() == "2"
    yield student
    student.stop_server()


def database(lab):
    return json.loads(lab.exec("hub", "python3", "-c", QUERY).stdout)


def test_the_schedule_records_activity_in_the_original_schema(lab, working_student):
    schedule = lab.salt("hub", "schedule.list", "return_yaml=False")["hub"]
    assert schedule["jupyterhub-deploy-stats"]["function"] == "stats.record"
    assert schedule["jupyterhub-deploy-stats"]["seconds"] == 600
    before = len(database(lab)["rows"])
    lab.salt("hub", "schedule.run_job", "jupyterhub-deploy-stats")
    for _ in range(60):
        data = database(lab)
        if len(data["rows"]) > before:
            break
        lab.exec("hub", "sleep", "1")
    # The original's `activity (date timestamp, user text, active bool)`; SQLite may
    # report a type it knows in capitals.
    schema = [[name, kind.lower()] for name, kind in data["schema"]]
    assert schema == [["date", "timestamp"], ["user", "text"], ["active", "bool"]]
    latest = max(row[0] for row in data["rows"])
    poll = {user: active for date, user, active in data["rows"] if date == latest}
    assert poll[NAME] == 1  # a running server with activity inside the interval
    assert poll["alice"] in (0, 1) and "labadmin" in poll


def test_report_prints_daily_actives_and_writes_the_plot(lab, working_student):
    lab.salt("hub", "stats.record")
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    proc = lab.exec("hub", "salt-run", "-c", "/srv/jupyterhub-deploy/etc", "stats.report",
                    f"start={today}", f"end={today}")  # fmt: skip
    print(proc.stdout)
    line = next(line for line in proc.stdout.splitlines() if line.strip().startswith(today))
    active, peak = (int(n) for n in line.split()[1:3])
    assert active >= 1 and peak >= 1
    png = lab.exec("hub", "python3", "-c",
                   "import sys; d=open('/srv/stats/report.png','rb').read(); "
                   "print(d[:8] == b'\\x89PNG\\r\\n\\x1a\\n', len(d))").stdout.split()  # fmt: skip
    assert png[0] == "True" and int(png[1]) > 10000
