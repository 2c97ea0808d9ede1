# A node pulls the student image ahead of time, so no first spawn waits for a pull
# (dockerspawner#293, #403). Swarm resolves the tag to a digest at each spawn, so an image
# rebuilt on the hub is pulled again here at the next highstate.
{%- set image = pillar.images.names.singleuser %}
{%- set imagectl = '/usr/local/lib/jupyterhub-deploy/imagectl.py' %}
include:
  - docker

hub-prepull-python:
  pkg.installed:
    - name: python3

hub-prepull-imagectl:
  file.managed:
    - name: {{ imagectl }}
    - source: salt://hub/files/imagectl.py
    - makedirs: true
    - mode: '0755'

hub-prepull-singleuser:
  cmd.run:
    # Pulls only when the registry's image differs; no `unless` (see hub/image.sls).
    - name: python3 {{ imagectl }} pull --image {{ image }}
    - stateful:
      - test_name: >-
          if [ -e {{ imagectl }} ]; then python3 {{ imagectl }} pull --image {{ image }} --plan;
          else echo "changed=yes comment='would install imagectl and pull the image'"; fi
    # In a first highstate of every host at once the hub is still building the image.
    - retry:
        attempts: 30
        interval: 20
    - require:
      - pkg: hub-prepull-python
      - file: hub-prepull-imagectl
      - sls: docker

# The image this replaced, once no container uses it.
hub-prepull-prune:
  cmd.run:
    - name: docker image prune --force
    - onchanges:
      - cmd: hub-prepull-singleuser
