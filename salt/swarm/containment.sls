# A node (or the single host): student containers reach DNS, the internet, the proxy's web
# ports and the site's swarm:containment_allow; never the hub and the nodes (salt master,
# registry, sshd, Docker's swarm ports), nor anything else private or link-local (a cloud's
# metadata service). docs/security.md has the whole picture.
include:
  - docker

swarm-containment-script:
  file.managed:
    - name: /usr/local/sbin/jhd-containment
    - source: salt://swarm/files/jhd-containment
    - mode: '0755'

swarm-containment-addresses:
  file.managed:
    - name: /etc/default/jhd-containment
    - mode: '0644'
    # The hub's and the nodes' addresses (the ext_pillar's swarm:containment_blocked).
    - contents: |
        BLOCKED="{{ pillar.swarm.containment_blocked | join(' ') }}"
        PROXY="{{ pillar.hosts[pillar.roles.proxy] }}"
        ALLOW="{{ pillar.swarm.containment_allow | join(' ') }}"

swarm-containment-unit:
  file.managed:
    - name: /etc/systemd/system/jhd-containment.service
    - source: salt://swarm/files/jhd-containment.service
    - mode: '0644'

swarm-containment-daemon-reload:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: swarm-containment-unit

# At boot and after every start of Docker (the unit), and now: `ensure` changes the rules
# only when they differ, and says so. No `unless` (see images/build.sls).
swarm-containment:
  service.enabled:
    - name: jhd-containment
    - require:
      - module: swarm-containment-daemon-reload
  cmd.run:
    - name: /usr/local/sbin/jhd-containment ensure
    - stateful:
      - test_name: >-
          if [ -e /usr/local/sbin/jhd-containment ]; then /usr/local/sbin/jhd-containment plan;
          else echo "changed=yes comment='would install and apply the rules'"; fi
    - require:
      - sls: docker
      - file: swarm-containment-script
      - file: swarm-containment-addresses
