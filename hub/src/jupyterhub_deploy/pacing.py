"""
How the spawner waits at class start, when forty servers start at once.

- :class:`TaskBoard`: one listing of the swarm's tasks per interval, shared by every spawn
  that waits for its task, instead of one poll per spawn backing off to several seconds
  (a server that was up waited up to 5 s to be noticed).
- :class:`StartQueue`: at most N servers starting at a time, first come first served
  (N: pillar spawner:concurrent_starts, by default the worker nodes' cores).
  Starting a server is CPU-bound (the nodes import Jupyter and its extensions); forty at
  once share the CPU and all finish near the end, while in turn the first are ready in
  seconds and the last no later.
- :func:`wait_for_listener`: the moment the server's port accepts a connection, so the
  hub's own HTTP check (with its backoff) succeeds at its first try.
"""

import asyncio
import collections


class TaskBoard:
    """The swarm's tasks by service id, listed at most once per ``interval`` seconds."""

    def __init__(self, interval=0.5):
        self.interval = interval
        self._by_service = {}
        self._listed_at = None
        self._listing = None
        self._loop = None

    async def tasks(self, list_tasks, service_id):
        """The tasks of ``service_id``, no older than ``interval``.

        ``list_tasks`` is an async callable returning every task (Docker's ``tasks``).
        Concurrent callers share one listing.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): start afresh
            self._loop, self._listing, self._listed_at = loop, None, None
        stale = self._listed_at is None or loop.time() - self._listed_at >= self.interval
        if stale and self._listing is None:
            self._listing = asyncio.ensure_future(self._refresh(list_tasks))
        if self._listing is not None:
            await asyncio.shield(self._listing)
        return self._by_service.get(service_id, [])

    async def _refresh(self, list_tasks):
        try:
            tasks = await list_tasks()
            by_service = collections.defaultdict(list)
            for task in tasks:
                by_service[task.get("ServiceID")].append(task)
            self._by_service = dict(by_service)
            self._listed_at = asyncio.get_running_loop().time()
        finally:
            self._listing = None


class StartQueue:
    """
    A first-come-first-served limit on servers starting at once (a limit of 0: none).

    The limit is given at each acquire, so it may follow the cluster (auto mode: the
    nodes' cores); waiters go in arrival order whenever a start ends or the limit grows.
    """

    def __init__(self):
        self.running = 0
        self.limit = 0
        self._waiters = collections.deque()

    @property
    def waiting(self):
        return len(self._waiters)

    def full(self, limit):
        """True when a start now would have to wait."""
        return limit > 0 and (self.running >= limit or bool(self._waiters))

    async def acquire(self, limit):
        self.limit = limit
        self._wake()
        if not self.full(limit):
            self.running += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # whoever woke us counted us in `running`
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # woken and cancelled at once: pass the turn on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self):
        self.running -= 1
        self._wake()

    def _wake(self):
        while self._waiters and (self.limit <= 0 or self.running < self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.running += 1
                waiter.set_result(None)

    def slot(self, limit):
        """An async context manager holding one start slot."""
        return _Slot(self, limit)


class _Slot:
    def __init__(self, queue, limit):
        self.queue, self.limit = queue, limit

    async def __aenter__(self):
        await self.queue.acquire(self.limit)
        return self

    async def __aexit__(self, *exc):
        self.queue.release()


def schedulable_cores(nodes, managers_too=False):
    """The CPU cores of the swarm nodes servers may start on (ready, active; workers only
    unless ``managers_too``), from Docker's node list; at least 2."""
    cores = 0.0
    for node in nodes:
        spec, status = node.get("Spec") or {}, node.get("Status") or {}
        if status.get("State") != "ready" or spec.get("Availability") != "active":
            continue
        if spec.get("Role") != "worker" and not managers_too:
            continue
        cores += ((node.get("Description") or {}).get("Resources") or {}).get("NanoCPUs", 0) / 1e9
    return max(2, int(cores))


async def wait_for_listener(host, port, timeout, interval=0.2):
    """True once ``host:port`` accepts a TCP connection, False after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
        except (TimeoutError, OSError):
            await asyncio.sleep(interval)
            continue
        writer.close()
        return True
    return False
