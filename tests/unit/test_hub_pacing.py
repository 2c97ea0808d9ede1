"""The spawner's pacing at class start: one task listing for all, starts in turn, port checks."""

import asyncio
import socket
import sys

import pytest

from tests.common.paths import REPO

sys.path.insert(0, str(REPO / "salt/hub/files/hub"))

from jupyterhub_deploy.pacing import (  # noqa: E402
    StartQueue,
    TaskBoard,
    schedulable_cores,
    wait_for_listener,
)


def test_concurrent_waiters_share_one_listing():
    calls = []

    async def list_tasks():
        calls.append(1)
        await asyncio.sleep(0.05)
        return [{"ServiceID": "a", "n": 1}, {"ServiceID": "b", "n": 2}, {"ServiceID": "a", "n": 3}]

    async def go():
        board = TaskBoard(interval=10)
        got = await asyncio.gather(*(board.tasks(list_tasks, sid) for sid in "aabbc" * 8))
        return got

    got = asyncio.run(go())
    assert len(calls) == 1
    assert got[0] == [{"ServiceID": "a", "n": 1}, {"ServiceID": "a", "n": 3}]
    assert got[2] == [{"ServiceID": "b", "n": 2}]
    assert got[4] == []


def test_the_listing_is_renewed_after_the_interval():
    calls = []

    async def list_tasks():
        calls.append(1)
        return [{"ServiceID": "a", "State": len(calls)}]

    async def go():
        board = TaskBoard(interval=0.05)
        first = await board.tasks(list_tasks, "a")
        again = await board.tasks(list_tasks, "a")  # within the interval: cached
        await asyncio.sleep(0.06)
        later = await board.tasks(list_tasks, "a")
        return first, again, later

    first, again, later = asyncio.run(go())
    assert first == again == [{"ServiceID": "a", "State": 1}]
    assert later == [{"ServiceID": "a", "State": 2}]


def test_a_failed_listing_raises_for_the_waiters_and_is_retried():
    calls = []

    async def list_tasks():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("docker down")
        return [{"ServiceID": "a"}]

    async def go():
        board = TaskBoard(interval=10)
        with pytest.raises(RuntimeError, match="docker down"):
            await board.tasks(list_tasks, "a")
        return await board.tasks(list_tasks, "a")

    assert asyncio.run(go()) == [{"ServiceID": "a"}]


def test_starts_go_in_turn_first_come_first_served():
    order, running, peak = [], [0], [0]

    async def start(queue, n):
        async with queue.slot(3):
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            order.append(n)
            await asyncio.sleep(0.01)
            running[0] -= 1

    async def go():
        queue = StartQueue()
        tasks = []
        for n in range(10):
            tasks.append(asyncio.ensure_future(start(queue, n)))
            await asyncio.sleep(0)  # arrive in order
        await asyncio.sleep(0)
        assert queue.full(3) and queue.waiting == 7
        await asyncio.gather(*tasks)
        assert not queue.full(3) and queue.waiting == 0

    asyncio.run(go())
    assert peak[0] == 3
    assert order == list(range(10))


def test_no_limit_means_no_waiting():
    async def go():
        queue = StartQueue()
        assert not queue.full(0)
        async with queue.slot(0), queue.slot(0):
            return queue.waiting

    assert asyncio.run(go()) == 0


def test_a_cancelled_start_gives_its_slot_back():
    async def go():
        queue = StartQueue()
        holder = asyncio.Event()

        async def hold():
            async with queue.slot(1):
                holder.set()
                await asyncio.sleep(10)

        task = asyncio.ensure_future(hold())
        await holder.wait()
        assert queue.full(1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert not queue.full(1)

    asyncio.run(go())


def test_wait_for_listener_sees_a_real_socket_and_times_out_on_a_closed_port():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    open_port = server.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]  # bound, never listening: connections refused
    try:
        assert asyncio.run(wait_for_listener("127.0.0.1", open_port, timeout=2)) is True
        assert asyncio.run(wait_for_listener("127.0.0.1", closed_port, timeout=0.5)) is False
    finally:
        server.close()
        closed.close()


def test_wait_for_listener_notices_a_late_listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    async def go():
        async def listen_later():
            await asyncio.sleep(0.3)
            sock.listen()

        late = asyncio.ensure_future(listen_later())
        ok = await wait_for_listener("127.0.0.1", port, timeout=3, interval=0.05)
        await late
        return ok

    try:
        assert asyncio.run(go()) is True
    finally:
        sock.close()


def node(role="worker", cpus=4, state="ready", availability="active"):
    return {
        "Spec": {"Role": role, "Availability": availability},
        "Status": {"State": state},
        "Description": {"Resources": {"NanoCPUs": int(cpus * 1e9)}},
    }


def test_schedulable_cores_count_ready_active_workers():
    nodes = [node("manager", 8), node(cpus=4), node(cpus=16), node(cpus=8, state="down"),
             node(cpus=8, availability="drain")]  # fmt: skip
    assert schedulable_cores(nodes) == 20
    assert schedulable_cores(nodes, managers_too=True) == 28
    assert schedulable_cores([node("manager", 1)]) == 2  # never fewer than two
    assert schedulable_cores([]) == 2


def test_a_larger_limit_lets_waiters_go_at_once():
    async def go():
        queue = StartQueue()
        await queue.acquire(1)
        second = asyncio.ensure_future(queue.acquire(1))
        await asyncio.sleep(0)
        assert queue.waiting == 1
        await queue.acquire(3)  # the cluster grew: the waiter and this one both go
        await second
        return queue.running, queue.waiting

    assert asyncio.run(go()) == (3, 0)
