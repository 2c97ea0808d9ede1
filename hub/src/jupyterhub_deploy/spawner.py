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
  student range that is not a staff account, refuses the spawn with a clear message;
- at class start, servers start in turn (``concurrent_starts``), the swarm's tasks are
  listed once for all waiting spawns, and a server counts as up the moment its port
  answers (``pacing.py``).

The service itself (its spec, waiting for its task, poll) is in service.py, the pacing
machinery in pacing.py, the restuser client in restuser.py.
"""

import asyncio
import time

from docker.types import RestartPolicy
from dockerspawner import SwarmSpawner
from traitlets import Bool, Dict, Float, Integer, List, Set, Unicode, default

from .pacing import StartQueue, TaskBoard, schedulable_cores, wait_for_listener
from .restuser import (
    DEFAULT_SOCKET,
    RestuserClient,
    RestuserError,
    RestuserUnavailable,
    is_safe_name,
)
from .service import SpawnRefused, SwarmServiceMixin

__all__ = ["SpawnRefused", "SwarmSystemUserSpawner"]


class SwarmSystemUserSpawner(SwarmServiceMixin, SwarmSpawner):
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

    reserved_names = Set(
        config=True,
        help="""
        Names no server may run for (the site pillar's users:reserved_names, which the
        authenticator and restuser refuse as well).
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

    concurrent_starts = Integer(
        None,
        allow_none=True,
        config=True,
        help="""
        How many servers may be starting at once (pillar spawner:concurrent_starts); the
        rest wait their turn, first come first served, and their progress page says so.
        Starting Jupyter is CPU-bound on the nodes: all at once, every start slows every
        other and they all finish near the end. None (the default): the CPU cores of the
        nodes servers run on, as swarm reports them (re-read every minute). 0: no limit.
        """,
    )

    pids_limit = Integer(
        512,
        allow_none=True,
        config=True,
        help="""
        Most processes and threads a server may have (pillar spawner:pids_limit): a fork
        bomb in a student's terminal stops there, not at the node. None: no limit.
        """,
    )

    cap_drop = List(
        ["ALL"],
        config=True,
        help="""
        Linux capabilities the server's container drops. The server runs as the student's
        uid and needs none; with dockerd's no-new-privileges (salt/docker) setuid binaries
        give none back.
        """,
    )

    task_poll_interval = Float(
        0.5,
        config=True,
        help="""
        Seconds between listings of the swarm's tasks while servers start. One listing
        serves every waiting spawn.
        """,
    )

    swarm_wait = Float(
        120.0,
        config=True,
        help="""
        Seconds a poll waits for a swarm manager that has no leader yet (503), e.g. just
        after the hub host rebooted, before it counts as failed (which stops the server).
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

    # Shared by every spawner in the hub process, like dockerspawner's client and executor.
    _task_board = TaskBoard()
    _start_queue = StartQueue()
    _cores = {"value": None, "at": 0.0}

    @default("cmd")
    def _default_cmd(self):
        # The image's command, named here so start never needs the image locally.
        return ["jupyterhub-singleuser"]

    @default("extra_endpoint_spec")
    def _default_endpoint_spec(self):
        # Round-robin DNS instead of a virtual IP: swarm's VIP needs IPVS, which some
        # kernels lack; the hub reaches the server by service name on the overlay network.
        return {"mode": "dnsrr"}

    @default("extra_task_spec")
    def _default_task_spec(self):
        # A server that exits, or whose node dies, stays stopped: the hub sees it at its next
        # poll and the student starts again. A task swarm restarted elsewhere would have a
        # new address, and the hub's proxy would keep the old one.
        return {"restart_policy": RestartPolicy(condition="none")}

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
        if not is_safe_name(name, self.reserved_names):
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
        self._progress_events = []
        queue, limit = self._start_queue, await self.start_limit()
        if queue.full(limit):
            self._report(5, f"Waiting for a turn to start ({queue.waiting} waiting before you)")
        async with queue.slot(limit):
            self.log.info(
                "Starting %s for %s as %s:%s on %s",
                self.service_name,
                self.user.name,
                self.user_id,
                self.group_id,
                "any node" if self.single_host else self.node_constraints,
            )
            self._report(20, "Asking the cluster for a place to run your server")
            ip, port = await super().start()
            self._report(70, "Starting Jupyter")
            # Until the port answers, so the hub's own check (with backoff) passes at once.
            await self.wait_until_listening(ip, port)
            return ip, port

    async def wait_until_listening(self, ip, port):
        """Until the server's port answers (at most http_timeout; the hub checks again)."""
        if not await wait_for_listener(ip, port, self.http_timeout):
            self.log.warning("%s: %s:%s did not answer within %ss", self.service_name,
                             ip, port, self.http_timeout)  # fmt: skip

    async def start_limit(self):
        """concurrent_starts, or (None) the cores of the nodes servers may start on."""
        if self.concurrent_starts is not None:
            return self.concurrent_starts
        cache = self._cores
        if cache["value"] is None or time.monotonic() - cache["at"] > 60:
            try:
                cache["value"] = schedulable_cores(await self.docker("nodes"), self.single_host)
            except Exception as exc:  # noqa: BLE001 - a guess is better than no start
                self.log.warning("Cannot list the swarm's nodes (%s): 2 starts at a time", exc)
                cache["value"] = cache["value"] or 2
            cache["at"] = time.monotonic()
        return cache["value"]

    def _report(self, progress, message):
        self._progress_events.append({"progress": progress, "message": message})

    async def progress(self):
        """Progress events for the spawn-pending page (JupyterHub stops reading when done)."""
        sent = 0
        while True:
            events = getattr(self, "_progress_events", [])
            while sent < len(events):
                yield events[sent]
                sent += 1
            await asyncio.sleep(0.5)
