# Staff accounts with fixed uids on every host; the home skeleton restuser copies (hub).
{%- set roles = pillar.minion_roles %}
{%- set staff_logins = '/var/lib/jhd-staff' %}
include:
  # The ssh group staff are in (sshd allows it).
  - common

# Staff log in (ssh keys, dotfiles) from a home on each host's own disk: /home is the hub's
# NFS export, which a node's root can write as any uid (sec=sys), so a key or a .bashrc
# planted there must open nothing (issue #18). Their work, and their server's home, is
# /home/<name> as for students.
staff-login-homes:
  file.directory:
    - name: {{ staff_logins }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: true

{%- for name, account in pillar.users.staff | dictsort %}
staff-{{ name }}:
  # A private group whose gid is the uid: the hub maps staff to uid:gid without a lookup.
  group.present:
    - name: {{ name }}
    - gid: {{ account.uid }}
  user.present:
    - name: {{ name }}
    - uid: {{ account.uid }}
    - gid: {{ account.uid }}
    - shell: /bin/bash
    - home: {{ staff_logins }}/{{ name }}
    - createhome: true
    - optional_groups:
      - {{ pillar.common.ssh_group }}
    - require:
      - group: staff-{{ name }}
      - group: ssh-group
      - file: staff-login-homes

# Also for an account that had its home in /home before (user.present does not create it).
staff-{{ name }}-login-home:
  file.directory:
    - name: {{ staff_logins }}/{{ name }}
    - user: {{ name }}
    - group: {{ name }}
    - mode: '0700'
    - require:
      - user: staff-{{ name }}
{%-   if 'hub' in roles %}

# The home of their server and their work, on the NFS export like the students'.
staff-{{ name }}-home:
  file.directory:
    - name: /home/{{ name }}
    - user: {{ name }}
    - group: {{ name }}
    - mode: '0700'
    - require:
      - user: staff-{{ name }}
{%-   endif %}
{%-   if account.get('ssh_keys') %}

staff-{{ name }}-ssh-keys:
  ssh_auth.manage:
    - user: {{ name }}
    - ssh_keys: {{ account.ssh_keys | json }}
    - require:
      - file: staff-{{ name }}-login-home
{%-   endif %}
{%- endfor %}

{%- if 'hub' in roles %}
skeldir:
  file.recurse:
    - name: {{ pillar.users.skeldir }}
    - source: salt://users/files/skeldir
    - clean: true
    - user: root
    - group: root
    - dir_mode: '0755'
    - file_mode: '0644'
{%- endif %}
