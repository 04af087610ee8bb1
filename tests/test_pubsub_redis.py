"""Pub/sub across processes through a real redis-server (socketify.pubsub.RedisBackend).

Two app processes (tests/pubsub_app.py) on their own ports share one Redis; WebSocket
clients on each side subscribe and must see each other's publishes exactly once, in order.
Redis is killed and restarted mid-run: the apps keep serving and resume.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pubsub_support import (
    AppProcess,
    assert_silent,
    cli,
    clients_on_both_workers,
    recv_all,
    wait_for,
    ws_client,
    ws_do,
)
from redis_server import RedisServer

pytest.importorskip("redis", reason="the redis extra is installed by the test sessions")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="redis-server")

PREFIX = "t:"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis_up(redis_server: RedisServer) -> RedisServer:
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    return redis_server


def start_apps(url: str, n: int = 2) -> list[AppProcess]:
    return [AppProcess({"PUBSUB_URL": url, "PUBSUB_PREFIX": PREFIX}) for _ in range(n)]


def subscribed(server: RedisServer, topic: str, count: int) -> None:
    wait_for(lambda: server.numsub(PREFIX + topic) == count, what=f"{count} on {topic}")


def test_two_processes_see_each_others_publishes(redis_up: RedisServer) -> None:
    a, b = start_apps(redis_up.url)
    try:
        a1, a2, b1 = ws_client(a.port), ws_client(a.port), ws_client(b.port)
        for ws in (a1, a2, b1):
            ws_do(ws, "sub:room")
        subscribed(redis_up, "room", 2)
        a.publish("room", b"\x00bin\xff")
        for ws in (a1, a2, b1):
            assert ws.recv(timeout=10) == b"\x00bin\xff"
        b.publish("room", "text é")
        for ws in (a1, a2, b1):
            assert ws.recv(timeout=10) == "text é"
        # ws.publish: everyone but the sender, on both sides, once
        ws_do(a1, "pub:room:from a1")
        assert a2.recv(timeout=10) == "from a1"
        assert b1.recv(timeout=10) == "from a1"
        for ws in (a1, a2, b1):
            assert_silent(ws)
        stats_a, stats_b = a.stats(), b.stats()
        assert stats_a["sent"] == 2 and stats_a["received"] == 1, stats_a
        assert stats_b["sent"] == 1 and stats_b["received"] == 2, stats_b
        assert stats_a["dropped"] == stats_b["dropped"] == 0
        for ws in (a1, a2, b1):
            ws.close()
    finally:
        for app in (a, b):
            app.stop()


def test_order_per_publisher_and_topic(redis_up: RedisServer) -> None:
    a, b = start_apps(redis_up.url)
    try:
        b1 = ws_client(b.port)
        ws_do(b1, "sub:seq")
        subscribed(redis_up, "seq", 1)
        a1 = ws_client(a.port)
        for i in range(200):
            ws_do(a1, f"pub:seq:{i}")
        assert recv_all(b1, 200) == [str(i) for i in range(200)]
        a1.close()
        b1.close()
    finally:
        for app in (a, b):
            app.stop()


def test_many_topics_and_churn(redis_up: RedisServer) -> None:
    a, b = start_apps(redis_up.url)
    topics = [f"topic{i}" for i in range(24)]
    try:
        clients_a = [ws_client(a.port) for _ in range(3)]
        clients_b = [ws_client(b.port) for _ in range(3)]
        wanted: dict[int, set[str]] = {}
        for k, ws in enumerate(clients_a + clients_b):
            mine = {t for i, t in enumerate(topics) if i % 3 == k % 3}
            wanted[k] = mine
            for t in sorted(mine):
                ws_do(ws, f"sub:{t}")
        for t in topics:
            subscribed(redis_up, t, 2)
        for i, t in enumerate(topics):
            (a if i % 2 else b).publish(t, f"m-{t}")
        for k, ws in enumerate(clients_a + clients_b):
            got = recv_all(ws, len(wanted[k]))
            assert sorted(got) == sorted(f"m-{t}" for t in wanted[k])
        # churn: B's clients leave every topic of theirs; Redis follows B's interest
        for k, ws in enumerate(clients_b, start=3):
            for t in sorted(wanted[k]):
                ws_do(ws, f"unsub:{t}")
        for t in topics:
            subscribed(redis_up, t, 1)
        for t in topics:
            a.publish(t, f"again-{t}")
        for k, ws in enumerate(clients_a):
            got = recv_all(ws, len(wanted[k]))
            assert sorted(got) == sorted(f"again-{t}" for t in wanted[k])
        for ws in clients_b:
            assert_silent(ws)
        # B received A's first-round messages only: nothing once it lost interest
        assert b.stats()["received"] == len(topics) // 2
        # closing connections is losing interest too
        for ws in clients_a:
            ws.close()
        for t in topics:
            subscribed(redis_up, t, 0)
        for ws in clients_b:
            ws.close()
    finally:
        for app in (a, b):
            app.stop()


def test_redis_killed_and_restarted(redis_up: RedisServer) -> None:
    a, b = start_apps(redis_up.url)
    try:
        a1, b1 = ws_client(a.port), ws_client(b.port)
        ws_do(a1, "sub:live")
        ws_do(b1, "sub:live")
        subscribed(redis_up, "live", 2)
        redis_up.stop()
        wait_for(lambda: a.stats()["failures"] >= 2 and b.stats()["failures"] >= 2, what="retries")
        # Redis is gone: HTTP and local pub/sub go on, remote messages are counted as dropped
        a.publish("live", "local only")
        assert a1.recv(timeout=10) == "local only"
        wait_for(lambda: a.stats()["dropped"] >= 1, what="a counted drop")
        assert_silent(b1)
        redis_up.start()
        subscribed(redis_up, "live", 2)  # both resubscribed on their own
        a.publish("live", "after restart")
        assert a1.recv(timeout=10) == "after restart"
        assert b1.recv(timeout=10) == "after restart"
        assert a.stats()["reconnects"] >= 1 and b.stats()["reconnects"] >= 1
        a1.close()
        b1.close()
    finally:
        logs = [app.stop() for app in (a, b)]
    # logged once per outage, not once per retry
    for log in logs:
        assert log.count("local delivery only, reconnecting") == 1, log
        assert "connected to" in log


def test_unix_socket_url(redis_up: RedisServer) -> None:
    a, b = start_apps(redis_up.unix_url)
    try:
        a1, b1 = ws_client(a.port), ws_client(b.port)
        ws_do(a1, "sub:u")
        ws_do(b1, "sub:u")
        subscribed(redis_up, "u", 2)
        b.publish("u", b"over a unix socket")
        assert a1.recv(timeout=10) == b"over a unix socket"
        assert b1.recv(timeout=10) == b"over a unix socket"
        a1.close()
        b1.close()
    finally:
        for app in (a, b):
            app.stop()


def test_redis_unreachable_from_the_start(redis_up: RedisServer) -> None:
    from redis_server import free_port

    (a,) = start_apps(f"redis://127.0.0.1:{free_port()}/0", 1)
    try:
        a1 = ws_client(a.port)
        ws_do(a1, "sub:x")
        a.publish("x", "still local")
        assert a1.recv(timeout=10) == "still local"
        assert a.stats()["dropped_disconnected"] == 1
        wait_for(lambda: a.stats()["failures"] >= 3, what="three attempts")  # backing off
        a1.close()
    finally:
        log = a.stop()
    assert log.count("cannot connect to") == 1, log


def test_rediss_tls_url() -> None:
    server = RedisServer(tls=True)
    server.start()
    try:
        a, b = start_apps(server.tls_url)
        try:
            a1, b1 = ws_client(a.port), ws_client(b.port)
            ws_do(a1, "sub:tls")
            ws_do(b1, "sub:tls")
            subscribed(server, "tls", 2)  # counted over the plain port: same server
            a.publish("tls", "over TLS")
            assert a1.recv(timeout=10) == "over TLS"
            assert b1.recv(timeout=10) == "over TLS"
            b.publish("tls", b"back")
            assert b1.recv(timeout=10) == b"back"
            assert a1.recv(timeout=10) == b"back"
            a1.close()
            b1.close()
        finally:
            for app in (a, b):
                app.stop()
    finally:
        server.cleanup()


def test_cli_workers_over_redis(redis_up: RedisServer) -> None:
    server = cli("--workers", "2", "--pubsub", redis_up.url, "--pubsub-prefix", PREFIX)
    try:
        by_pid = clients_on_both_workers(server.port, per_worker=1)
        (one,), (two,) = by_pid.values()
        ws_do(one, "sub:cli")
        ws_do(two, "sub:cli")
        subscribed(redis_up, "cli", 2)  # each worker has its own Redis connection, no relay
        ws_do(one, "pub:cli:through redis")
        assert two.recv(timeout=10) == "through redis"
        assert_silent(one)
        one.close()
        two.close()
    finally:
        server.stop()
