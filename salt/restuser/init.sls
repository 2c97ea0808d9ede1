# Python: files/restuser.py (the service), _modules/restuser.py, _states/restuser.py.
# restuser: the root service the hub container asks to create students' system users,
# on a unix socket in /run/restuser (bind-mounted into the container). Hub only.
include:
  # The skeleton (pillar users:skeldir) every new home is copied from.
  - users

restuser-python:
  pkg.installed:
    - name: python3

restuser-script:
  file.managed:
    - name: /usr/local/lib/restuser/restuser.py
    - source: salt://restuser/files/restuser.py
    - makedirs: true
    - user: root
    - group: root
    - mode: '0755'

restuser-unit:
  file.managed:
    - name: /etc/systemd/system/restuser.service
    - source: salt://restuser/files/restuser.service
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'

restuser-logrotate:
  file.managed:
    - name: /etc/logrotate.d/restuser
    - source: salt://restuser/files/restuser.logrotate
    - user: root
    - group: root
    - mode: '0644'

restuser-daemon-reload:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: restuser-unit

restuser:
  service.running:
    - enable: true
    - require:
      - pkg: restuser-python
      - module: restuser-daemon-reload
      - sls: users
    - watch:
      - file: restuser-script
      - file: restuser-unit

# The pillar's students get their uids now, not at their first login.
{%- for name in pillar.users.students %}
restuser-student-{{ name }}:
  restuser.present:
    - name: {{ name }}
    - require:
      - service: restuser
{%- endfor %}
