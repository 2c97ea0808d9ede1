# Staff accounts with fixed uids on every host; the home skeleton restuser copies (hub).
{%- set roles = pillar.minion_roles %}
{%- if 'node' in roles and 'hub' not in roles %}
include:
  # Homes live on the hub's NFS export: mount it before creating anything under /home.
  - nfs.client
{%- endif %}

{%- for name, account in pillar.users.staff | dictsort %}
staff-{{ name }}:
  user.present:
    - name: {{ name }}
    - uid: {{ account.uid }}
    - usergroup: true
    - shell: /bin/bash
    - home: /home/{{ name }}
    - createhome: {{ 'hub' in roles or 'node' not in roles }}
{%-   if 'node' in roles and 'hub' not in roles %}
    - require:
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
