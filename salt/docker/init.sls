# The Docker engine on the hub and the nodes.
docker.io:
  pkg.installed:
    - pkgs:
      - docker.io
{%- if grains.osmajorrelease >= 13 %}
      # Debian 13 split the client out of docker.io, which only recommends it (and it
      # recommends buildx): named, so hosts without recommends build as the others do.
      - docker-cli
      - docker-buildx
{%- endif %}

docker-daemon-config:
  file.serialize:
    - name: /etc/docker/daemon.json
    - serializer: json
    - mode: '0644'
    - makedirs: true
    - dataset:
        log-driver: json-file
        log-opts:
          max-size: {{ pillar.docker.log_max_size | json }}
          max-file: {{ pillar.docker.log_max_file | string | json }}
        live-restore: {{ pillar.docker.live_restore | json }}
        # No container may gain privileges through setuid binaries (su, sudo...): student
        # servers run as the student and stay so.
        no-new-privileges: {{ pillar.docker.no_new_privileges | json }}
        # The hub's registry speaks plain HTTP on the private network.
        insecure-registries:
          - {{ pillar.registry.address }}

docker:
  service.running:
    - enable: true
    - require:
      - pkg: docker.io
    - watch:
      - file: docker-daemon-config
