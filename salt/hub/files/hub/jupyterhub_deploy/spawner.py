"""
SwarmSystemUserSpawner: dockerspawner's SystemUserSpawner behaviour on swarm services.

dockerspawner has no such class (dockerspawner#276), and combining SystemUserSpawner with
SwarmSpawner through the MRO breaks (dockerspawner#497): the home bind has no ``mode`` that
``SwarmSpawner.mounts`` reads, and ``user``/``working_dir`` go to ``create_service()``
instead of the container spec. So this subclasses SwarmSpawner and does the system-user
part itself:

- each student's server is the service ``jupyter-<name>``, on the attachable overlay
  network, endpoint mode ``dnsrr`` (no IPVS on some kernels), on worker nodes only;
- it runs as the student's ``uid:gid`` with ``/home/<name>`` (the node's NFS mount of the
  hub's /home) bind-mounted as its home and working directory (dockerspawner#67, #160,
  #311: the uid in the container is the uid that owns the home);
- the uid comes from the spawner state (filled by our authenticator from restuser), else
  from restuser, else from ``fixed_accounts`` (staff); a missing uid, or one outside the
  student range that is not a staff account, refuses the spawn with a clear message.
"""

import asyncio

from dockerspawner import SwarmSpawner
from traitlets import Bool, Dict, Float, Integer, Unicode, default

from .restuser import (
    DEFAULT_SOCKET,
    RestuserClient,
    RestuserError,
    RestuserUnavailable,
    is_safe_name,
)

# Task states after which swarm starts another task: the spawn has failed.
TASK_FAILED = {"rejected", "failed", "orphaned"}


class SpawnRefused(RuntimeError):
    """The server must not start; the message is shown to the user."""


class SwarmSystemUserSpawner(SwarmSpawner):
    """Each user's server is a swarm service running as their own system user."""

    host_homedir_format_string = Unicode(
        "/home/{username}",
        config=True,
        help="""
        The user's home directory on the nodes, bind-mounted into the service. ``{username}``
        is the (unescaped) user name. On the nodes /home is the hub's NFS export.
        """,
    )

    image_homedir_format_string = Unicode(
        "/home/{username}",
        config=True,
        help="""
        Where the home directory appears in the container: HOME and the working directory.
        """,
    )

    uid_min = Integer(
        10000,
        config=True,
        help="""
        Lowest uid a student's server may run as (restuser's range, pillar
        users:student_uid_min). Lower uids are refused unless listed in fixed_accounts.
        """,
    )

    uid_max = Integer(
        59999,
        config=True,
        help="""
        Highest uid a student's server may run as (pillar users:student_uid_max).
        """,
    )

    fixed_accounts = Dict(
        config=True,
        help="""
        Accounts outside the student range that may run servers (staff, created by salt
        with fixed uids): ``{name: {"uid": int, "gid": int}}``. Their uid is taken from
        here, never from restuser.
        """,
    )

    restuser_socket = Unicode(
        DEFAULT_SOCKET,
        config=True,
        help="""
        restuser's unix socket (bind-mounted into the hub container), asked for the uid
        and gid when the spawner state has none.
        """,
    )

    restuser_timeout = Float(
        10.0,
        config=True,
        help="Seconds to wait for restuser before the spawn fails.",
    )

    single_host = Bool(
        False,
        config=True,
        help="""
        Allow servers on the swarm manager (the hub) too. Off: servers run on worker nodes
        only (placement constraint node.role==worker), away from the hub's own work.
        """,
    )

    node_constraints = Unicode(
        "node.role==worker",
        config=True,
        help="""
        The placement constraint of every server unless single_host is set.
        """,
    )

    user_id = Integer(
        -1,
        help="""
        The user's uid: from the spawner state (our authenticator writes it there from
        restuser), else looked up at start. Not configurable.
        """,
    )

    group_id = Integer(
        -1,
        help="The user's primary gid, found like user_id.",
    )

    @default("cmd")
    def _default_cmd(self):
        # The image's command, named here so start never needs the image locally.
        return ["jupyterhub-singleuser"]

    @default("extra_endpoint_spec")
    def _default_endpoint_spec(self):
        # Round-robin DNS instead of a virtual IP: swarm's VIP needs IPVS, which some
        # kernels lack; the hub reaches the server by service name on the overlay network.
        return {"mode": "dnsrr"}

    # --- paths -------------------------------------------------------------------------

    @property
    def host_homedir(self):
        """The home directory on the node."""
        return self.host_homedir_format_string.format(username=self.user.name)

    @property
    def homedir(self):
        """The home directory in the container."""
        return self.image_homedir_format_string.format(username=self.user.name)

    @property
    def volume_binds(self):
        """The configured volumes plus the home directory, each with a mode for swarm."""
        binds = super().volume_binds
        binds[self.host_homedir] = {"bind": self.homedir, "mode": "rw"}
        return binds

    # --- state -------------------------------------------------------------------------

    def load_state(self, state):
        super().load_state(state)
        if "user_id" in state:
            self.user_id = int(state["user_id"])
        if "group_id" in state:
            self.group_id = int(state["group_id"])

    def get_state(self):
        state = super().get_state()
        if self.user_id >= 0:
            state["user_id"] = self.user_id
        if self.group_id >= 0:
            state["group_id"] = self.group_id
        return state

    def clear_state(self):
        # Keep the uid across stops: it belongs to the user, not to one server.
        user_id, group_id = self.user_id, self.group_id
        super().clear_state()
        self.user_id, self.group_id = user_id, group_id

    # --- the account -------------------------------------------------------------------

    async def resolve_account(self):
        """Set user_id and group_id, or raise SpawnRefused saying why not."""
        name = self.user.name
        if not is_safe_name(name):
            raise SpawnRefused(
                f"'{name}' cannot be a system account name (needs ^[a-z_][a-z0-9_-]{{0,31}}$ "
                "and not a reserved name): no server can run for it."
            )
        fixed = self.fixed_accounts.get(name)
        if fixed:
            self.user_id = int(fixed["uid"])
            self.group_id = int(fixed.get("gid", fixed["uid"]))
        elif self.user_id < 0:
            account = await self._lookup_restuser(name)
            self.user_id, self.group_id = account["uid"], account["gid"]
        if self.group_id < 0:
            self.group_id = self.user_id
        self.check_account()

    async def _lookup_restuser(self, name):
        client = RestuserClient(self.restuser_socket, timeout=self.restuser_timeout)
        try:
            account = await client.get_user(name)
        except RestuserUnavailable as exc:
            self.log.error("Cannot start %s's server: %s", name, exc)
            raise SpawnRefused(
                "The account service (restuser) on the hub is not answering, so your "
                "server cannot start. Please try again in a minute; if this persists, "
                f"tell the course staff. ({exc})"
            ) from exc
        except RestuserError as exc:
            self.log.error("restuser refused to look up %s: %s", name, exc)
            raise SpawnRefused(f"Your system account could not be looked up: {exc.reason}") from exc
        if account is None:
            self.log.error("restuser has no account for %s", name)
            raise SpawnRefused(
                f"There is no system account for '{name}' yet. Log out and log in again "
                "to create it; if this persists, tell the course staff."
            )
        return account

    def check_account(self):
        """Refuse uids that are missing, root or outside the student range (not staff)."""
        name, uid = self.user.name, self.user_id
        fixed = self.fixed_accounts.get(name)
        if uid <= 0 or self.group_id <= 0:
            raise SpawnRefused(f"No usable uid/gid for '{name}' (got {uid}:{self.group_id}).")
        if fixed and uid == int(fixed["uid"]):
            return
        if not self.uid_min <= uid <= self.uid_max:
            raise SpawnRefused(
                f"'{name}' has uid {uid}, outside the student range "
                f"{self.uid_min}-{self.uid_max}: refusing to run a server as that uid."
            )

    # --- the service -------------------------------------------------------------------

    def get_env(self):
        env = super().get_env()
        env.update(
            USER=self.user.name,
            NB_USER=self.user.name,
            NB_UID=str(self.user_id),
            NB_GID=str(self.group_id),
            HOME=self.homedir,
            SHELL="/bin/bash",
        )
        return env

    def service_container_spec(self):
        """What goes into the ContainerSpec besides image, env, args and mounts."""
        return {
            **self.extra_container_spec,
            "user": f"{self.user_id}:{self.group_id}",
            "workdir": self.homedir,
        }

    def service_placement_spec(self):
        """extra_placement_spec plus the worker-only constraint."""
        spec = dict(self.extra_placement_spec)
        if not self.single_host and self.node_constraints:
            constraints = list(spec.get("constraints") or [])
            if self.node_constraints not in constraints:
                constraints.append(self.node_constraints)
            spec["constraints"] = constraints
        return spec

    async def start(self):
        await self.resolve_account()
        # SwarmSpawner.create_object reads these traits; set them per start so a changed
        # uid (or a lookup) is always what the service runs as.
        self.extra_container_spec = self.service_container_spec()
        self.extra_placement_spec = self.service_placement_spec()
        self.log.info(
            "Starting %s for %s as %s:%s on %s",
            self.service_name,
            self.user.name,
            self.user_id,
            self.group_id,
            "any node" if self.single_host else self.node_constraints,
        )
        return await super().start()

    async def start_object(self):
        """
        Wait until the service's task runs; fail at once when swarm rejects a task.

        SwarmSpawner counts a rejected task as "not ready yet" and swarm keeps replacing it,
        so an image missing on a node with the registry unreachable held the spawn until
        start_timeout. The rejection's reason (e.g. "No such image") is the error here.
        """
        delay = 1.0
        while True:
            tasks = await self.docker("tasks", filters={"service": self.service_name})
            if not tasks:
                raise SpawnRefused(f"{self.service_name} has no task: the service is gone")
            states = [str((t.get("Status") or {}).get("State", "")).lower() for t in tasks]
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
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 5)

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
        task = await self.get_task()
        for attachment in (task or {}).get("NetworksAttachments") or []:
            if attachment["Network"]["Spec"]["Name"] == self.network_name:
                addresses = attachment.get("Addresses") or []
                if addresses:
                    return addresses[0].split("/")[0], self.port
        return await super().get_ip_and_port()
