# The hub serves /home (and the nbgrader exchange) to the nodes over NFSv4.
{%- set nfs = pillar.nfs %}

# nbgrader's exchange is on the hub whether NFS serves it or not (one host, the lab):
# everyone writes, nobody removes another's files, as nbgrader needs.
nbgrader-exchange:
  file.directory:
    - name: {{ nfs.exchange_dir }}
    - mode: '1777'
    - makedirs: true

{#- On a single-host site there is nobody to serve /home to. #}
{%- if nfs.enabled and pillar.roles.nodes != [pillar.roles.hub] %}
nfs-kernel-server:
  pkg.installed: []

{%-   for dir, export in [('/home', 'home'), (nfs.exchange_dir, 'exchange')] %}
nfs-export-{{ export }}:
  file.directory:
    - name: {{ nfs.export_root }}/{{ export }}
    - makedirs: true
  mount.mounted:
    - name: {{ nfs.export_root }}/{{ export }}
    - device: {{ dir }}
    - fstype: none
    - opts: bind
    - persist: true
    - require:
      - file: nfs-export-{{ export }}
      - file: nbgrader-exchange
    - require_in:
      - service: nfs-kernel-server
{%-   endfor %}

idmapd-config:
  file.managed:
    - name: /etc/idmapd.conf
    - source: salt://nfs/files/idmapd.conf
    - template: jinja

nfs-exports:
  file.managed:
    - name: /etc/exports
    - source: salt://nfs/files/exports
    - template: jinja
    - require:
      - pkg: nfs-kernel-server
  cmd.run:
    - name: exportfs -ra
    - onchanges:
      - file: nfs-exports

nfs-kernel-server-service:
  service.running:
    - name: nfs-kernel-server
    - enable: true
    - watch:
      - file: idmapd-config
{%- else %}
nfs-server-disabled:
  test.nop:
    - name: "no NFS clients (nfs:enabled is false, or a single-host site)"
{%- endif %}
