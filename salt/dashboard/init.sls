# Python: _runners/dashboard.py (the snapshot), hub/src/jupyterhub_deploy/dashboard*.py
# in salt/hub (the page). The staff dashboard on the hub: a systemd timer runs
# `salt-run dashboard.snapshot` every dashboard:refresh, writing what the page shows to
# <hub:data_dir>/dashboard/snapshot.json; the `jupyterhub-dashboard` container (the hub's
# image, as its own unprivileged account) serves it at /services/dashboard/ on the hub's
# private address, for nginx. `docker logs jupyterhub-dashboard` shows its log.
{%- set board = pillar.dashboard %}
{%- set hub_address = pillar.hosts[pillar.roles.hub] %}
{%- set data_dir = pillar.hub.data_dir ~ '/dashboard' %}
{%- set account = 'jupyterhub-dashboard' %}
{%- set units = ['jupyterhub-dashboard-snapshot.service', 'jupyterhub-dashboard-snapshot.timer'] %}
include:
  - hub

{%- if board.enabled %}

dashboard-group:
  group.present:
    - name: {{ account }}
    - gid: {{ board.uid }}
    - system: true

dashboard-account:
  user.present:
    - name: {{ account }}
    - uid: {{ board.uid }}
    - gid: {{ board.uid }}
    - system: true
    - home: /nonexistent
    - createhome: false
    - shell: /usr/sbin/nologin
    - require:
      - group: dashboard-group

# The snapshot and the API token the hub makes for the page (jupyterhub_deploy.config):
# root writes, the dashboard's group reads.
dashboard-data-dir:
  file.directory:
    - name: {{ data_dir }}
    - user: root
    - group: {{ account }}
    - mode: '0750'
    - require:
      - group: dashboard-group
      - file: hub-data-dir

{%- for unit in units %}

dashboard-unit-{{ unit.rsplit('.', 1)[1] }}:
  file.managed:
    - name: /etc/systemd/system/{{ unit }}
    - source: salt://dashboard/files/{{ unit }}
    - template: jinja
    - context:
        path: {{ data_dir }}/snapshot.json
        gid: {{ board.uid }}
        refresh: {{ board.refresh }}
    - user: root
    - group: root
    - mode: '0644'
{%- endfor %}

dashboard-daemon-reload:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: dashboard-unit-service
      - file: dashboard-unit-timer

dashboard-snapshot-timer:
  service.running:
    - name: jupyterhub-dashboard-snapshot.timer
    - enable: true
    - require:
      - module: dashboard-daemon-reload
      - file: dashboard-data-dir
    - watch:
      - file: dashboard-unit-timer

jupyterhub-dashboard:
  docker_container.running:
    - image: {{ pillar.images.names.hub }}
    - command: python3 -m jupyterhub_deploy.dashboard
    - user: '{{ board.uid }}:{{ board.uid }}'
    - restart_policy: unless-stopped
    # The hub host's own network: it listens on the private address only, and reaches
    # the hub's API where salt/hub publishes it, on loopback.
    - network_mode: host
    - read_only: true
    - binds:
      - {{ data_dir }}:/srv/dashboard:ro
    - environment:
      - DASHBOARD_BIND: {{ hub_address }}
      - DASHBOARD_PORT: '{{ board.port }}'
      - HEALTH_URL: http://{{ hub_address }}:{{ board.port }}/services/dashboard/health
      - JUPYTERHUB_API_URL: http://127.0.0.1:{{ pillar.hub.api_port }}/hub/api
      - JUPYTERHUB_SERVICE_NAME: dashboard
      - JUPYTERHUB_CLIENT_ID: service-dashboard
      - JUPYTERHUB_SERVICE_PREFIX: /services/dashboard/
      - JUPYTERHUB_OAUTH_CALLBACK_URL: /services/dashboard/oauth_callback
      - JUPYTERHUB_BASE_URL: /
    - require:
      - user: dashboard-account
      - file: dashboard-data-dir
      - docker_container: jupyterhub
{%- else %}

dashboard-snapshot-timer:
  service.dead:
    - name: jupyterhub-dashboard-snapshot.timer
    - enable: false

jupyterhub-dashboard:
  docker_container.absent:
    - force: true
{%- endif %}
