"""
A double of the Docker API as SwarmSpawner calls it (``FakeDocker``): every call recorded,
the service "runs" once created; ``service_spec`` is what a spawner asked it to create.
"""

from docker.errors import APIError


class Response:
    """The HTTP response a docker APIError carries: its status is what callers look at."""

    def __init__(self, status_code):
        self.status_code = status_code
        self.reason = "x"
        self.url = "http://docker/x"


class FakeDocker:
    """The Docker API calls SwarmSpawner makes, recorded; the service 'runs' once created."""

    def __init__(self, state="running", err=None):
        self.calls = []
        self.service = None
        self.state = state
        self.err = err

    async def __call__(self, method, *args, **kwargs):
        self.calls.append((method, args, kwargs))
        if method == "inspect_service":
            if self.service is None:
                raise APIError("not found", response=Response(404))
            return self.service
        if method == "create_service":
            self.service = {"ID": "svc0123456789", "Spec": kwargs}
            return {"ID": "svc0123456789"}
        if method == "tasks":
            status = {"State": self.state, "Err": self.err} if self.err else {"State": self.state}
            task = {"ServiceID": "svc0123456789", "Status": status, "NodeID": "n0de1d"}
            return [task] if self.service else []
        if method == "inspect_node":
            return {"Description": {"Hostname": "node1"}}
        if method == "remove_service":
            self.service = None
            return None
        raise AssertionError(f"unexpected docker call {method}")

    @property
    def created(self):
        return [kw for method, _, kw in self.calls if method == "create_service"]


def service_spec(spawner):
    """The one service ``spawner`` asked its FakeDocker to create."""
    (kwargs,) = spawner.docker.created
    return kwargs
