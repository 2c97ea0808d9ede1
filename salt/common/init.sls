# Every host: base packages, time, sshd without passwords, the salt minion itself.
common-packages:
  pkg.installed:
    - pkgs: {{ pillar.common.packages | json }}

{%- if pillar.common.time_sync %}
chrony:
  pkg.installed: []
  file.managed:
    - name: /etc/chrony/conf.d/jupyterhub-deploy.conf
    - contents: |
        # Managed by salt (salt/common)
        {%- for server in pillar.common.ntp_servers %}
        server {{ server }} iburst
        {%- endfor %}
    - require:
      - pkg: chrony
  service.running:
    - enable: true
    - watch:
      - file: chrony
{%- endif %}

openssh-server:
  pkg.installed: []

sshd-config:
  file.managed:
    - name: /etc/ssh/sshd_config.d/jupyterhub-deploy.conf
    - source: salt://common/files/sshd.conf
    - mode: '0644'
    - require:
      - pkg: openssh-server

ssh:
  service.running:
    - enable: true
    - watch:
      - file: sshd-config

salt-minion:
  service.enabled: []
