# Python: _modules/backup.py (salt face), _utils/backup_*.py, _runners/backup.py.
# Encrypted duplicity backups of /home, on the hub. The backup module does the work; this
# state installs duplicity, makes its root-only work directory and the ssh key for sftp
# targets, and schedules the module's functions on the hub minion. Scheduled jobs return to
# the master, so `salt-run jobs.list_jobs search_function=backup.run` lists every run.
{%- set backup = pillar.backup %}
{%- set work_dir = backup.work_dir %}
{#- Times are the hub's local time (croniter ships with salt). #}
{%- set jobs = [
      ('backup-run', 'backup.run', '5 * * * *'),
      ('backup-cleanup', 'backup.cleanup', '35 4 * * *'),
      ('backup-verify', 'backup.verify', '15 5 * * 0'),
    ] %}

{%- if backup.enabled %}
backup-packages:
  pkg.installed:
    # python3-paramiko: duplicity's sftp:// backend; openssh-client: ssh-keygen.
    - pkgs: [duplicity, python3-paramiko, openssh-client]

backup-work-dir:
  file.directory:
    - names:
      - {{ work_dir }}
      - {{ work_dir }}/cache
      - {{ work_dir }}/tmp
      - {{ work_dir }}/ssh
      - {{ work_dir }}/gnupg
    - user: root
    - group: root
    - mode: '0700'
    - makedirs: true

# For sftp targets. The backup target host (backup:target_host) authorises its public half,
# which reaches it through the mine (pillar/roles/hub.sls, backup.ssh_public_key); the
# module writes ssh/known_hosts from that host's mine entry before each duplicity call.
backup-ssh-key:
  cmd.run:
    # Once; `stateful` rather than `creates` (salt 3008 loads every state module for a
    # run's first creates/unless: 0.7 s).
    - name: >-
        if [ -e {{ work_dir }}/ssh/id_ed25519 ]; then echo changed=no; else
        ssh-keygen -q -t ed25519 -N ''
        -C 'jupyterhub-deploy-backup@{{ opts.id }}' -f {{ work_dir }}/ssh/id_ed25519
        && echo "changed=yes comment='made the backup ssh key'"; fi
    - stateful:
      - test_name: >-
          if [ -e {{ work_dir }}/ssh/id_ed25519 ]; then echo changed=no;
          else echo "changed=yes comment='would make the backup ssh key'"; fi
    - require:
      - pkg: backup-packages
      - file: backup-work-dir

{#- The mine is refreshed hourly; publish a new key now, so the target can authorise it. #}
{%- if not salt['mine.get'](opts.id, 'backup_ssh_public_key').get(opts.id) %}
backup-publish-ssh-key:
  module.run:
    - mine.update: []
    - require:
      - cmd: backup-ssh-key
{%- endif %}

{%- for name, function, cron in jobs %}
{{ name }}:
  schedule.present:
    - function: {{ function }}
    - cron: '{{ cron }}'
    - maxrunning: 1
    # Back to the master's job cache, and kept in minion.d/_schedule.conf over restarts.
    - return_job: true
    - persist: true
    - require:
      - pkg: backup-packages
      - file: backup-work-dir
{%- endfor %}

{%- else %}
{%- for name, function, cron in jobs %}
{{ name }}:
  schedule.absent:
    - persist: true
{%- endfor %}
{%- endif %}
