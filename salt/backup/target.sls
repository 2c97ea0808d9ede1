# The backup target host (pillar backup:target_host): an sftp-only account that receives the
# hub's encrypted duplicity backups in <target_dir>/home. It authorises the hub's key from
# the mine (backup.ssh_public_key) and publishes its own ssh host keys the other way
# (backup_host_keys, set by the jupyterhub_deploy ext_pillar) for the hub's known_hosts.
{%- set backup = pillar.backup %}
{%- set hub = pillar.roles.hub %}
{%- set account = backup.target_user %}
include:
  # openssh-server and the ssh service.
  - common

backup-target-account:
  user.present:
    - name: {{ account }}
    - system: true
    - usergroup: true
    - home: {{ backup.target_dir }}
    - createhome: false
    - shell: /usr/sbin/nologin
    # sshd lets in only this group besides root (salt/common).
    - optional_groups:
      - {{ pillar.common.ssh_group }}
    - require:
      - group: ssh-group

# The home and its .ssh belong to root: the account cannot replace its authorized_keys
# (and so drop the restrictions below); it writes only in <target_dir>/home.
backup-target-home:
  file.directory:
    - names:
      - {{ backup.target_dir }}
      - {{ backup.target_dir }}/.ssh
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: true

backup-target-data:
  file.directory:
    - name: {{ backup.target_dir }}/home
    - user: {{ account }}
    - group: {{ account }}
    - mode: '0700'
    - require:
      - user: backup-target-account
      - file: backup-target-home

{%- set key = salt['mine.get'](hub, 'backup_ssh_public_key').get(hub) %}
backup-target-authorized-key:
{%- if key %}
  file.managed:
    - name: {{ backup.target_dir }}/.ssh/authorized_keys
    # restrict: no forwarding, pty or ~/.ssh/rc; sshd runs its built-in sftp server
    # whatever the client asks for.
    - contents: {{ ('restrict,command="internal-sftp" ' ~ key) | json }}
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - file: backup-target-home
{%- else %}
  test.configurable_test_state:
    - changes: false
    - result: false
    - allow_test_mode_failure: true
    - comment: >-
        The hub ({{ hub }}) has not published its backup ssh key in the mine yet:
        apply the hub's highstate (it makes the key), then this host's again.
{%- endif %}

{#- The mine runs at minion start, maybe before sshd had host keys or this module was synced. #}
{%- if not salt['mine.get'](opts.id, 'backup_host_keys').get(opts.id) %}
backup-target-publish-host-keys:
  module.run:
    - mine.update: []
    - require:
      - pkg: openssh-server
{%- endif %}
