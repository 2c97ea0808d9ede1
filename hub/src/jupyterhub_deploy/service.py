"""
The student's server as a swarm service: its spec, waiting for its task, and poll.

A mixin for SwarmSystemUserSpawner (spawner.py), which holds the traits these methods read
(cap_drop, pids_limit, task_poll_interval, the extra_*_spec dicts) and the account logic.
"""

import asyncio
import time

from docker.errors import APIError
from docker.types import ContainerSpec, EndpointSpec, Placement, Resources, TaskTemplate

# Task states after which swarm starts another task: the spawn has failed.
TASK_FAILED = {"rejected", "failed", "orphaned"}


class SpawnRefused(RuntimeError):
    """The server must not start; the message is shown to the user."""


def task_state(task):
    """A swarm task's observed state, lower case ("" when swarm has not said)."""
    return str((task.get("Status") or {}).get("State", "")).lower()


def live_task(tasks, nodes):
    """
    The task among ``tasks`` that runs on a node that is not down, or None.

    Swarm keeps showing a task as running on a node that died until that node comes back
    (it marks the task orphaned only after 24 hours), so "running" alone is not alive.
    A node in state "unknown" is alive: a manager that has just restarted (the hub host
    rebooted) calls every node that until it hears from it again.
    ``nodes`` are Docker's node objects (``ID``, ``Status.State``).
    """
    up = {n["ID"] for n in nodes if (n.get("Status") or {}).get("State") != "down"}
    for task in tasks:
        state = task_state(task)
        desired = str(task.get("DesiredState", "running")).lower()
        if state == "running" and desired == "running" and task.get("NodeID") in up:
            return task
    return None


def lost_nodes(tasks, nodes):
    """Hostnames of the down nodes where ``tasks`` were still running when last seen."""
    down = {n["ID"]: n["Description"]["Hostname"] for n in nodes
            if (n.get("Status") or {}).get("State") == "down"}  # fmt: skip
    running = [t for t in tasks if task_state(t) == "running"]
    return sorted({down[t["NodeID"]] for t in running if t.get("NodeID") in down})


def swarm_not_ready(error):
    """A manager without a leader yet (it has just started) answers 503."""
    response = getattr(error, "response", None)
    return isinstance(error, APIError) and getattr(response, "status_code", None) == 503


class SwarmServiceMixin:
    """create_object, start_object, get_ip_and_port and poll for a swarm service."""

    async def create_object(self):
        """
        Create the service and return at once.

        SwarmSpawner.create_object builds the same spec but then polls for the first task
        with a one-second sleep; start_object waits for the task instead.
        """
        container = ContainerSpec(
            image=self.image,
            env=self.get_env(),
            args=await self.get_command(),
            mounts=self.mounts,
            cap_drop=list(self.cap_drop) or None,
            **self.extra_container_spec,
        )
        resources = Resources(
            mem_limit=self.mem_limit,
            mem_reservation=self.mem_guarantee,
            cpu_limit=int(self.cpu_limit * 1e9) if self.cpu_limit else None,
            cpu_reservation=int(self.cpu_guarantee * 1e9) if self.cpu_guarantee else None,
            **self.extra_resources_spec,
        )
        if self.pids_limit:
            # docker-py's Resources has no pids; the Engine API has had Limits.Pids since 1.41.
            resources.setdefault("Limits", {})["Pids"] = int(self.pids_limit)
        placement = Placement(
            **{"constraints": None, "preferences": None, "platforms": None,
               **self.extra_placement_spec}
        )  # fmt: skip
        task = TaskTemplate(
            container_spec=container,
            resources=resources,
            networks=[self.network_name] if self.network_name else [],
            placement=placement,
            **self.extra_task_spec,
        )
        endpoint = {} if self.use_internal_ip else {"ports": {None: (self.port, "tcp")}}
        endpoint.update(self.extra_endpoint_spec)
        return await self.docker(
            "create_service",
            task_template=task,
            endpoint_spec=EndpointSpec(**endpoint),
            name=self.service_name,
            **self.extra_create_kwargs,
        )

    async def start_object(self):
        """
        Wait until the service's task runs; fail at once when swarm rejects a task.

        SwarmSpawner counts a rejected task as "not ready yet" and swarm keeps replacing it,
        so an image missing on a node with the registry unreachable held the spawn until
        start_timeout. The rejection's reason (e.g. "No such image") is the error here.
        The tasks come from the shared TaskBoard: one listing for every waiting spawn.
        """
        reported_node = False
        while True:
            tasks = await self._task_board.tasks(lambda: self.docker("tasks"), self.service_id)
            if not tasks and await self.get_object() is None:
                raise SpawnRefused(f"{self.service_name} has no task: the service is gone")
            states = [task_state(t) for t in tasks]
            if "running" in states:
                return
            for task, state in zip(tasks, states, strict=True):
                status = task.get("Status") or {}
                if state in TASK_FAILED:
                    node = await self._node_name(task.get("NodeID"))
                    reason = status.get("Err") or status.get("Message") or state
                    self.log.error("%s: task %s on %s: %s (image %s)", self.service_name,
                                   state, node, reason, self.image)  # fmt: skip
                    # JupyterHub's cleanup only stops servers that poll as running; a
                    # service left behind would keep swarm retrying the task.
                    await self.remove_object()
                    raise SpawnRefused(
                        f"Your server could not start on {node}: {reason} (image {self.image}). "
                        "Please tell the course staff."
                    )
                if task.get("NodeID") and not reported_node:
                    reported_node = True
                    node = await self._node_name(task["NodeID"])
                    self._report(40, f"Starting your server's container on {node}")
            await asyncio.sleep(self.task_poll_interval)

    async def _node_name(self, node_id):
        if not node_id:
            return "no node"
        try:
            node = await self.docker("inspect_node", node_id)
            return node["Description"]["Hostname"]
        except Exception:  # noqa: BLE001 - only for the message
            return f"node {node_id[:12]}"

    async def get_ip_and_port(self):
        """
        The running task's own address on the overlay network, not the service's name.

        After a server is stopped and started again, swarm's DNS kept answering with the
        removed task's address (seen in the lab: the hub waited 120 s on it and gave up);
        the task's network attachment is always the current one.
        """
        task = await self._when_swarm_answers(self.get_task)
        for attachment in (task or {}).get("NetworksAttachments") or []:
            if attachment["Network"]["Spec"]["Name"] == self.network_name:
                addresses = attachment.get("Addresses") or []
                if addresses:
                    return addresses[0].split("/")[0], self.port
        return await super().get_ip_and_port()

    async def poll(self):
        """
        None while the server's task runs on a node that is up; 1 when it does not.

        SwarmSpawner's poll believes a task swarm last saw running, so when a node died the
        hub kept routing its students to a dead address. Here the hub sees their servers
        stopped at its next poll, stops the services, and the students can start again on
        another node. Swarm does not restart a server behind the hub's back (restart
        condition none, spawner.py): the hub's route would point at the old address.
        """
        if await self._when_swarm_answers(self.get_object) is None:
            return 0
        tasks = await self._when_swarm_answers(self.docker, "tasks", {"service": self.service_name})
        nodes = await self._when_swarm_answers(self.docker, "nodes")
        if live_task(tasks, nodes):
            return None
        for node in lost_nodes(tasks, nodes):
            # The line staff grep for after a node loss (docs/operations.md).
            self.log.warning("%s: its node %s is down: the server counts as stopped",
                             self.service_name, node)  # fmt: skip
        return 1

    async def _when_swarm_answers(self, call, *args):
        """
        ``await call(*args)``, waiting up to swarm_wait seconds for a manager that has no
        leader yet. The hub polls every server when it starts, and a poll that fails there
        stops the server: after the hub host reboots, the hub may start before swarm is ready.
        """
        deadline = time.monotonic() + self.swarm_wait
        while True:
            try:
                return await call(*args)
            except APIError as exc:
                if not swarm_not_ready(exc) or time.monotonic() > deadline:
                    raise
                self.log.info("swarm is not ready (%s); asking again", exc)
            await asyncio.sleep(2)
