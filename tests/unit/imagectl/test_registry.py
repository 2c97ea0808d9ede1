"""registry_digest against a stand-in registry on loopback: absent, present, unreachable."""

import http.server
import threading

import pytest

from tests.common.fake_docker_cli import (
    REGISTRY_DIGEST,
    imagectl,
)

# --- the registry's answers ----------------------------------------------------------------


class StandInRegistry(http.server.ThreadingHTTPServer):
    """Answers HEAD /v2/<repo>/manifests/<tag> from ``manifests`` (path -> status, digest)."""

    def __init__(self):
        self.manifests = {}
        super().__init__(("127.0.0.1", 0), self.Handler)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802 - http.server's name
            status, digest = self.server.manifests.get(self.path, (404, None))
            self.send_response(status)
            if digest:
                self.send_header("Docker-Content-Digest", digest)
            self.end_headers()

        def log_message(self, *args):
            pass


@pytest.fixture
def registry():
    server = StandInRegistry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_registry_digest_tells_absent_from_unreachable(registry):
    address = f"127.0.0.1:{registry.server_address[1]}"
    image = f"{address}/jupyterhub-deploy/singleuser:week5"
    registry.manifests["/v2/jupyterhub-deploy/singleuser/manifests/week5"] = (200, REGISTRY_DIGEST)
    assert imagectl.registry_digest(image, strict=True) == REGISTRY_DIGEST
    missing = f"{address}/jupyterhub-deploy/singleuser:week6"
    assert imagectl.registry_digest(missing) is None
    assert imagectl.registry_digest(missing, strict=True) is None
    registry.manifests["/v2/jupyterhub-deploy/singleuser/manifests/week6"] = (500, None)
    assert imagectl.registry_digest(missing) is None
    with pytest.raises(imagectl.Failed, match="answered 500"):
        imagectl.registry_digest(missing, strict=True, attempts=2, pause=0)
    gone = "127.0.0.1:9/jupyterhub-deploy/singleuser:week5"  # nothing listens on discard
    assert imagectl.registry_digest(gone, timeout=2) is None
    with pytest.raises(imagectl.Failed, match="cannot tell whether the registry"):
        imagectl.registry_digest(gone, timeout=2, strict=True, attempts=1)
