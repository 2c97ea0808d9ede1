# A node mounts the hub's /home (and the nbgrader exchange) over NFSv4.
{%- set nfs = pillar.nfs %}
{#- On a single-host site the hub is its own node: /home is already local. #}
{%- if nfs.enabled and 'hub' not in pillar.minion_roles %}
nfs-common:
  pkg.installed: []

idmapd-config:
  file.managed:
    - name: /etc/idmapd.conf
    - source: salt://nfs/files/idmapd.conf
    - template: jinja

{%-   for dir, export in [('/home', 'home'), (nfs.exchange_dir, 'exchange')] %}
nfs-mount-{{ export }}:
  file.directory:
    - name: {{ dir }}
    - makedirs: true
  mount.mounted:
    - name: {{ dir }}
    - device: {{ pillar.hosts[pillar.roles.hub] }}:/{{ export }}
    - fstype: nfs4
    - opts: {{ nfs.mount_options | json }}
    - persist: true
    - require:
      - pkg: nfs-common
      - file: idmapd-config
      - file: nfs-mount-{{ export }}
{%-   endfor %}
{%- else %}
nfs-client-disabled:
  test.nop:
    - name: "/home is local or shared another way (nfs:enabled, single host)"
{%- endif %}
