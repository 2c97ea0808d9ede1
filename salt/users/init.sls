# Staff accounts with fixed uids on every host; the home skeleton restuser copies (hub).
{%- set roles = pillar.minion_roles %}
include:
  # The ssh group staff are in (sshd allows it).
  - common
{%- if 'node' in roles and 'hub' not in roles %}
  # Homes live on the hub's NFS export: mount it before creating anything under /home.
  - nfs.client
{%- endif %}

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
    - home: /home/{{ name }}
    - createhome: {{ 'hub' in roles or 'node' not in roles }}
    - optional_groups:
      - {{ pillar.common.ssh_group }}
    - require:
      - group: staff-{{ name }}
      - group: ssh-group
{%-   if 'node' in roles and 'hub' not in roles %}
      - sls: nfs.client
{%-   endif %}
{%-   if account.get('ssh_keys') %}
  ssh_auth.manage:
    - user: {{ name }}
    - ssh_keys: {{ account.ssh_keys | json }}
    - require:
      - user: staff-{{ name }}
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
