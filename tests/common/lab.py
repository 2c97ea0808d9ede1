"""
The local lab (script/lab) as the e2e tier and the benchmarks drive it: its site pillar,
its published ports, and commands against its hosts (``Lab``).
"""

import contextlib
import json
import pathlib
import ssl
import subprocess
import time
import urllib.request

import yaml

from tests.common.paths import REPO

LAB = str(REPO / "script/lab")
SITE = yaml.safe_load((REPO / "pillar/lab/site.sls").read_text())
# The Debian base image in the hosts' engines (script/lab loads the one of its release).
BASE_IMAGE = SITE["images"]["base"]
HTTPS_PORT = 8443
HTTP_PORT = 8080


# Where salt puts the lab's ACME directory CA on the proxy (salt/nginx/acme.sls).
ACME_DIRECTORY_CA = "/etc/letsencrypt/jupyterhub-deploy/directory-ca.pem"


class Lab:
    """Commands against the running lab; `single` is the one-host variant (`up --single`)."""

    def __init__(self, single=False):
        self.single = single

    def exec(self, host, *cmd, check=True, input=None, timeout=600):
        """`cmd` on lab host `host` (proxy, hub, node1...: all one host when single)."""
        container = "jhd-allinone" if self.single else f"jhd-{host}"
        proc = subprocess.run(
            ["docker", "exec", "-i", container, *cmd],
            capture_output=True, text=True, input=input, timeout=timeout,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"{host}: {cmd} failed ({proc.returncode}):\n{proc.stdout}\n"
                                 f"{proc.stderr}")  # fmt: skip
        return proc

    def query(self, db, sql):
        """The rows of ``sql`` on the hub host's sqlite file ``db``, read-only, as lists."""
        code = (
            "import json, sqlite3, sys; db = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', "
            "uri=True); print(json.dumps(db.execute(sys.argv[2]).fetchall()))"
        )
        return json.loads(self.exec("hub", "python3", "-c", code, db, sql).stdout)

    def salt(self, target, *args, timeout=1200):
        """`salt TARGET ARGS` on the lab master; the parsed JSON, one dict per minion."""
        proc = self.exec(
            "hub", "salt", "-c", "/srv/jupyterhub-deploy/etc", "--out=json", "--static",
            f"--timeout={timeout}", target, *args,
            check=False, timeout=timeout + 60,
        )  # fmt: skip
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"salt {target} {args}: {proc.stdout}\n{proc.stderr}") from exc

    def salt_run(self, *args, timeout=600):
        """``(exit code, parsed JSON)`` of `salt-run ARGS` on the lab master."""
        proc = self.exec("hub", "salt-run", "-c", "/srv/jupyterhub-deploy/etc", "--out=json",
                         *args, check=False, timeout=timeout)  # fmt: skip
        try:
            return proc.returncode, json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"salt-run {args}: {proc.stdout}\n{proc.stderr}") from exc

    def wait_for_minions(self, minions, timeout=180):
        """Until every minion of ``minions`` answers test.ping (after a restart)."""
        deadline = time.monotonic() + timeout
        while True:
            answered = self.salt("*", "test.ping", timeout=10)
            if all(answered.get(m) is True for m in minions):
                return
            assert time.monotonic() < deadline, f"minions not answering: {answered}"
            time.sleep(3)

    def site_dir(self):
        """The site pillar directory the master mounts (script/lab's copy of pillar/lab)."""
        container = "jhd-allinone" if self.single else "jhd-hub"
        template = (
            '{{range .Mounts}}{{if eq .Destination "/srv/jupyterhub-site"}}{{.Source}}'
            "{{end}}{{end}}"
        )
        proc = subprocess.run(["docker", "inspect", "--format", template, container],
                              capture_output=True, text=True, check=True)  # fmt: skip
        return pathlib.Path(proc.stdout.strip())

    @contextlib.contextmanager
    def site_changes(self, changes, secrets=None):
        """
        The site pillar with ``changes`` (``{section: {key: value}}``) merged in, as an
        operator would edit it, and ``secrets`` (``{role: pillar}``) as the whole of
        secrets/<role>.sls; every minion's pillar refreshed; all put back afterwards.
        """
        paths = [self.site_dir() / "site.sls"]
        paths += [self.site_dir() / "secrets" / f"{role}.sls" for role in secrets or {}]
        originals = {path: path.read_text() for path in paths}
        site = yaml.safe_load(originals[paths[0]])
        for section, values in changes.items():
            site.setdefault(section, {}).update(values)
        paths[0].write_text(yaml.safe_dump(site, sort_keys=False))
        for role, pillar in (secrets or {}).items():
            (self.site_dir() / "secrets" / f"{role}.sls").write_text(yaml.safe_dump(pillar))
        try:
            self.refresh_pillar()
            yield site
        finally:
            for path, text in originals.items():
                path.write_text(text)
            self.refresh_pillar()

    def apply_hub(self):
        """`state.apply hub` (e.g. after a site change), every state succeeding; then the hub up."""
        result = self.salt("hub", "state.apply", "hub")["hub"]
        failed = {k: v["comment"] for k, v in result.items() if not v["result"]}
        assert not failed, failed
        self.wait_for_hub()

    def refresh_pillar(self):
        result = self.salt("*", "saltutil.refresh_pillar", "wait=True")
        assert result and all(v is True for v in result.values()), result

    def pebble(self, path):
        """GET ``path`` of the lab's ACME server's management API (Pebble, on the proxy's
        loopback: lab/jhdlab/acme.py), trusting its HTTPS CA as the proxy does."""
        return self.exec(
            "proxy", "curl", "-sf", "--cacert", ACME_DIRECTORY_CA, f"https://localhost:15000{path}"
        ).stdout

    def ca_pem(self):
        """The root the lab's certificate chains to: the lab's ACME server's (Pebble's) root
        (it changes when Pebble restarts), PEM."""
        return self.pebble("/roots/0")

    def write_ca(self, path):
        """The lab's CA certificate written to ``path``, for requests' TLS checks."""
        path.write_text(self.ca_pem())
        return path

    def ca_context(self):
        """An SSL context trusting the lab's own CA."""
        return ssl.create_default_context(cadata=self.ca_pem())

    def https(self, path, **kwargs):
        return urllib.request.urlopen(
            f"https://localhost:{HTTPS_PORT}{path}", context=self.ca_context(), timeout=30,
            **kwargs,
        )  # fmt: skip

    def wait_for_hub(self, timeout=180):
        """Until the hub answers through nginx (it restarts when its settings change)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.https("/hub/health") as response:
                    if response.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(2)
