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

# Who may log in over ssh besides root (sshd-config's AllowGroups).
ssh-group:
  group.present:
    - name: {{ pillar.common.ssh_group }}
    - system: true

# sshd keeps the first value it reads and includes sshd_config.d/*.conf in order, so ours
# sorts before cloud images' 50-cloud-init.conf (PasswordAuthentication yes).
sshd-config:
  file.managed:
    - name: /etc/ssh/sshd_config.d/00-jupyterhub-deploy.conf
    - source: salt://common/files/sshd.conf
    - template: jinja
    - mode: '0644'
    - require:
      - pkg: openssh-server

# Its name before it had to sort first.
sshd-config-old-name:
  file.absent:
    - name: /etc/ssh/sshd_config.d/jupyterhub-deploy.conf

ssh:
  service.running:
    - enable: true
    - watch:
      - file: sshd-config
      - file: sshd-config-old-name

# The minion's own configuration, as script/bootstrap wrote it: an edit by hand is undone,
# and a hub that moves to another address in the site pillar is followed.
salt-minion-config:
  file.managed:
    - name: /etc/salt/minion.d/jupyterhub-deploy.conf
    - contents: |
        # Written by jupyterhub-deploy script/bootstrap.
        id: {{ opts.id }}
        master: {{ pillar.hosts[pillar.roles.hub] }}
{%- if opts.get('master_finger') %}
        master_finger: '{{ opts.master_finger }}'
{%- endif %}
    - mode: '0644'

salt-minion:
  service.enabled: []

salt-minion-restart:
  cmd.run:
    # In the background: the restart must not kill the state run that asked for it.
    - name: sleep 5 && systemctl restart salt-minion
    - bg: true
    - onchanges:
      - file: salt-minion-config
