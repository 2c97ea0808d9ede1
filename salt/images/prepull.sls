# A node pulls the student image ahead of time, so no first spawn waits for a pull
# (dockerspawner#293, #403): exactly the digest the hub spawns, which it publishes in the
# mine (student_image), tagged here as images:singleuser_tag. Before the hub has published
# one (a new site's first highstate) by tag: a warm-up only, as spawns name the digest.
# A new tag (week5) is pulled beside the old, which stays until no container uses it (a
# student's server keeps its image until it restarts).
{%- from 'images/imagectl.jinja' import imagectl, plan %}
{%- set image = pillar.images.names.singleuser %}
{%- set hub = pillar.roles.hub %}
{%- set pinned = salt['mine.get'](hub, 'student_image').get(hub) or '' %}
{%- set pull = 'pull --image ' ~ image %}
{%- if pinned.startswith(image ~ '@sha256:') %}
{%-   set pull = pull ~ ' --digest ' ~ pinned.split('@')[1] %}
{%- endif %}
include:
  - docker
  - images.imagectl

prepull-singleuser:
  cmd.run:
    # Pulls only when the registry's image differs; no `unless` (see images/build.sls).
    - name: python3 {{ imagectl }} {{ pull }}
    - stateful:
      - test_name: >-
          {{ plan(pull, 'pull the image') }}
    # In a first highstate of every host at once the hub is still building the image.
    - retry:
        attempts: 30
        interval: 20
    - require:
      - sls: images.imagectl
      - sls: docker

# The other tags of the student image (last week's), once no container, running or
# stopped, uses them. Local copies only: the registry keeps every tag for a rollback.
{%- set prune = 'prune --repository ' ~ image.rsplit(':', 1)[0]
                ~ ' --keep ' ~ pillar.images.singleuser_tag %}
{%- set nothing_yet = "changed=no comment='no imagectl yet: no images to prune'" %}

prepull-prune-tags:
  cmd.run:
    - name: python3 {{ imagectl }} {{ prune }}
    - stateful:
      - test_name: >-
          {{ plan(prune, 'prune', new_host=nothing_yet) }}
    - require:
      - cmd: prepull-singleuser

# The image a rebuilt moving tag (images:tag) replaced, once no container uses it.
prepull-prune:
  cmd.run:
    - name: docker image prune --force
    - onchanges:
      - cmd: prepull-singleuser
