# The hub's, its proxy's and the students' images: built on the hub from
# salt://images/files/<image> (the hub's is the top-level hub/ folder) and pushed to the
# hub's registry (through its loopback side), from which the nodes pull. imagectl.py rebuilds only when the build inputs change
# (files, extra CAs, base image), so a second run reports no changes.
# The student image's tag is images:singleuser_tag; unless that is the moving images:tag it
# is immutable: built once and never rebuilt, so setting an older tag back is a rollback.
{%- from 'images/imagectl.jinja' import imagectl, plan %}
{%- set images = pillar.images %}
include:
  - docker
  - registry
  - images.imagectl

{%- for image in ['hub', 'proxy', 'singleuser'] %}
{%-   set name = images.names[image] %}
{%-   set args = ['build', '--context', '/srv/jupyterhub-build/' ~ image, '--image', name,
                  '--base', images.base, '--push', '--push-via', pillar.registry.push_address] %}
{%-   if image == 'hub' and pillar.hub.jupyterhub_version %}
{%-     do args.extend(['--build-arg', 'JUPYTERHUB_VERSION=' ~ pillar.hub.jupyterhub_version]) %}
{%-   endif %}
{%-   if image == 'singleuser' %}
{#-     The digest the hub spawns (jupyterhub_deploy.config), never the tag. #}
{%-     do args.extend(['--record', pillar.hub.data_dir ~ '/singleuser-image.json']) %}
{%-     if images.singleuser_tag != images.tag %}
{%-       do args.append('--immutable') %}
{%-     endif %}
{%-   endif %}
{%-   for pem in images.extra_ca_certs %}
{%-     do args.extend(['--ca-cert', pem]) %}
{%-   endfor %}

image-{{ image }}-context:
  file.recurse:
    - name: /srv/jupyterhub-build/{{ image }}
    - source: salt://images/files/{{ image }}
    - clean: true
    - exclude_pat: E@(__pycache__|\.pyc$|\.egg-info)
    - dir_mode: '0755'
    - file_mode: '0644'

image-{{ image }}:
  cmd.run:
    # imagectl builds and pushes only what changed, and its last line says so. No `unless`:
    # salt 3008 loads every state module for the first one of a run (0.7 s a minion).
    - name: python3 {{ imagectl }} {{ args | join(' ') }}
    - stateful:
      # In test mode on a new hub imagectl is not installed yet: it would build.
      - test_name: >-
          {{ plan(args | join(' '), 'build ' ~ image) }}
    - require:
      - sls: images.imagectl
      - file: image-{{ image }}-context
      - sls: docker
      - sls: registry
{%- endfor %}

# The hub's local copies of the student image's other tags (last week's), once no container
# uses them (on a hub that is also a node, students' servers may). The registry keeps every
# tag: a rollback sets an older one back and the nodes pull it again.
{%- set prune = 'prune --repository ' ~ images.names.singleuser.rsplit(':', 1)[0]
                ~ ' --keep ' ~ images.singleuser_tag %}
{%- set nothing_yet = "changed=no comment='no imagectl yet: no images to prune'" %}

image-singleuser-prune:
  cmd.run:
    - name: python3 {{ imagectl }} {{ prune }}
    - stateful:
      - test_name: >-
          {{ plan(prune, 'prune', new_host=nothing_yet) }}
    - require:
      - cmd: image-singleuser

# A rebuilt image leaves the previous one untagged: drop those (ones still used by running
# containers, e.g. students on the old image, are kept by Docker).
image-prune:
  cmd.run:
    - name: docker image prune --force
    - onchanges:
      - cmd: image-hub
      - cmd: image-proxy
      - cmd: image-singleuser
