# The local lab's site pillar (script/lab mounts a copy of this directory, .lab/site/<lab>,
# at /srv/jupyterhub-site).
# An ordinary site pillar: every difference from a real site is a setting here.
hosts:
  proxy: 172.30.77.2
  hub: 172.30.77.10
  node1: 172.30.77.11
  node2: 172.30.77.12

roles:
  proxy: proxy
  hub: hub
  nodes: [node1, node2]

common:
  # The lab's hosts are containers sharing the machine's clock.
  time_sync: false

nfs:
  # The machine's kernel has no NFS: script/lab shares /home between hub and nodes
  # through one Docker volume instead. The NFS states are checked by rendering and tests.
  enabled: false

users:
  staff:
    labadmin:
      uid: 2001
      admin: true
  # alice and bob; student01-10 for the login-burst test, student01-40 for the class-start
  # burst benchmark (benchmarks/burst.py) and student01-44 for the restart benchmark (40
  # present, one newcomer per event); carol for the shared-password test.
  students: [alice, bob, carol, student01, student02, student03, student04, student05,
             student06, student07, student08, student09, student10, student11, student12,
             student13, student14, student15, student16, student17, student18, student19,
             student20, student21, student22, student23, student24, student25, student26,
             student27, student28, student29, student30, student31, student32, student33,
             student34, student35, student36, student37, student38, student39, student40,
             student41, student42, student43, student44]

proxy:
  # script/lab publishes the proxy on https://localhost:8443.
  server_name: localhost
  public_port: 8443
  tls:
    # From the lab's ACME server: Pebble, which script/lab runs in the proxy's network
    # namespace (lab/jhdlab/acme.py) and whose HTTPS CA it adds here as directory_ca.
    source: acme
    acme:
      email: staff@lab.example
      directory: https://localhost:14000/dir
      # For dns-01 (tests/e2e/test_acme.py switches to it for a wildcard): the lab's bind9 on
      # the proxy's loopback; script/lab puts the TSIG key's secret in secrets/proxy.sls.
      dns:
        server: 127.0.0.1
        key_name: acme-key.
        propagation_seconds: 1

auth:
  type: google
  google:
    client_id: lab-client
    hosted_domain: lab.example
    # The lab's stand-in for Google (lab/google_standin.py, started by script/lab): the
    # browser reaches it on loopback, the hub on the lab network.
    authorize_url: http://localhost:8088/o/oauth2/v2/auth
    token_url: http://172.30.77.5:8088/token
    userdata_url: http://172.30.77.5:8088/oauth2/v1/userinfo

hub:
  # Fresher activity records than the 5 minutes of a real site, so the culling test's
  # short timeout can tell an active server from an idle one.
  activity_interval: 30s

images:
  # Nothing can be pulled here: script/lab loads its debootstrap base image into the hub.
  base: jupyterhub-deploy/debian:trixie
  # The machine's extra CAs (TLS interception of its egress), which the lab's hosts trust.
  extra_ca_certs: [/usr/local/share/ca-certificates]

backup:
  # Hourly to the proxy over sftp (an sftp-only account there holds the hub's key), so
  # backups leave the hub as on a real site. The --single lab has no other host: off there.
  enabled: true
  target_host: proxy

swarm:
  # Nothing private beyond the proxy's web ports and DNS (the default). The --single lab
  # allows the Google stand-in: there the hub's own container leaves through the same
  # bridge as the students' and is held to the same list (docs/security.md).
  containment_allow: []
