# Python: _modules/stats.py, _runners/stats.py.
# Activity statistics on the hub: a salt schedule runs stats.record (_modules/stats.py)
# every stats:interval seconds, appending who is active to the sqlite database stats:db,
# and each run lands in the master's job cache. `salt-run stats.report` reads it back.
{%- set stats = pillar.stats %}
{%- set db_dir = stats.db.rsplit('/', 1)[0] %}

# The rows name students: root only (stats.record creates it the same way if missing).
stats-db-dir:
  file.directory:
    - name: {{ db_dir }}
    - user: root
    - group: root
    - mode: '0700'
    - makedirs: true

{%- if stats.enabled %}

# Kept in the minion's minion.d/_schedule.conf, so it survives minion restarts.
stats-schedule:
  schedule.present:
    - name: jupyterhub-deploy-stats
    - function: stats.record
    - seconds: {{ stats.interval }}
    # A slow hub never stacks polls up.
    - maxrunning: 1
    - persist: true
    - require:
      - file: stats-db-dir
{%- else %}

stats-schedule:
  schedule.absent:
    - name: jupyterhub-deploy-stats
    - persist: true
{%- endif %}
