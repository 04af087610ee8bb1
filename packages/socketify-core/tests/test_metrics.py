"""Metrics: the core's counters (app.stats()), the Prometheus route (with and without
prometheus_client's registry), through the TestClient, the memory transport and sockets."""

from __future__ import annotations

import http.client
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wsframes import Peer

from socketify import ASGI, App, OpCode
from socketify.metrics import LATENCY_BOUNDS, render_text
from socketify_testing import TestClient

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def sample_app() -> App:
    app = App()
    app.get("/", lambda res, req: res.end("hello"))
    app.get("/boom", lambda res, req: 1 / 0)
    app.get("/moved", lambda res, req: res.redirect("/"))
    return app


def test_requests_by_status_class_bytes_errors_and_latency():
    app = sample_app()
    assert app.stats()["requests"] == 0  # before the loop exists: zeros
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(3):
            client.get("/")
        client.get("/boom")
        client.get("/missing")
        client.get("/moved", follow_redirects=False)
        client.get("/x" * 5000)  # 414 from the core itself
        stats = app.stats()
    assert stats["requests"] == 7
    assert stats["responses"] == {"1xx": 0, "2xx": 3, "3xx": 1, "4xx": 2, "5xx": 1}
    assert stats["handler_errors"] == 1
    assert stats["bytes_in"] > 7 * len("GET / HTTP/1.1\r\n\r\n")
    assert stats["bytes_out"] > 3 * len("hello")
    latency = stats["latency"]
    assert latency["count"] == 6  # the core's 414 had no handler to time
    assert [b for b, _ in latency["buckets"]] == list(LATENCY_BOUNDS)
    counts = [n for _, n in latency["buckets"]]
    assert counts == sorted(counts) and counts[-1] <= latency["count"]
    assert latency["sum_seconds"] > 0
    assert stats["connections_total"] >= 1


def test_websocket_pubsub_and_backpressure_counters(wire):
    app = App().ws(
        "/ws",
        {
            "open": lambda ws: ws.subscribe("room"),
            "message": lambda ws, m, op: ws.send(b"x" * 4096, OpCode.BINARY),
            "max_backpressure": 1024,
        },
    )
    w = wire(app)
    peers = [Peer(w) for _ in range(2)]
    stats = app.stats()
    assert (stats["websockets_total"], stats["websockets_open"]) == (2, 2)
    assert stats["responses"]["1xx"] == 2
    app.publish("room", "news")
    assert app.stats()["pubsub_deliveries"] == 2
    slow = peers[0]
    slow.conn.set_capacity(1)  # reads nothing: its output stays past max_backpressure
    slow.send(2, b"1")  # its 4 KiB answer waits unread, past max_backpressure
    w.spin(0.01)
    app.publish("room", "more news")  # the slow subscriber misses it
    stats = app.stats()
    assert stats["backpressure_drops"] == 1 and stats["pubsub_deliveries"] == 3
    peers[1].conn.close()
    assert w.until(lambda: app.stats()["websockets_open"] == 1)


def test_the_text_format_parses_and_carries_the_worker_label():
    app = sample_app()
    with TestClient(app) as client:
        client.get("/")
        text = render_text(app.stats(), worker="7")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    responses = {s.labels["class"]: s.value for s in families["socketify_responses"].samples}
    assert responses["2xx"] == 1
    histogram = families["socketify_request_duration_seconds"]
    assert {s.labels["worker"] for s in histogram.samples} == {"7"}
    count = [s.value for s in histogram.samples if s.name.endswith("_count")]
    assert count == [1]


def test_metrics_route_shares_a_prometheus_registry_with_the_apps_own_metrics():
    registry = prometheus_client.CollectorRegistry()
    orders = prometheus_client.Counter("shop_orders", "Orders taken.", registry=registry)
    app = sample_app()
    app.get("/order", lambda res, req: (orders.inc(), res.end("ok")))
    app.metrics_route("/metrics", registry=registry)
    with TestClient(app) as client:
        client.get("/order")
        client.get("/order")
        reply = client.get("/metrics")
    assert reply.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(reply.text)}
    assert families["shop_orders"].samples[0].value == 2
    by_class = {s.labels["class"]: s.value for s in families["socketify_responses"].samples}
    assert by_class["2xx"] == 2  # the scrape itself is counted once it ends
    # a second app on the same registry replaces the first one's collector
    sample_app().metrics_route("/metrics", registry=registry)
    assert "socketify_responses" in {f.name for f in registry.collect()}


def test_metrics_route_without_prometheus_client_writes_the_text_itself(monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    app = sample_app().metrics_route("/metrics")
    with TestClient(app) as client:
        client.get("/")
        reply = client.get("/metrics")
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    names = {f.name for f in text_string_to_metric_families(reply.text)}
    assert {"socketify_responses", "socketify_connections_open"} <= names
    assert "python_gc_objects_collected" not in names  # not the library's registry


def test_a_bad_metrics_path_is_refused():
    with pytest.raises(ValueError, match="must start with '/'"):
        App().metrics_route("metrics")


async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi " + scope["path"].encode()})


def test_an_asgi_app_gets_the_metrics_path_from_the_core():
    registry = prometheus_client.CollectorRegistry()
    app = ASGI(asgi_app)
    app.metrics_route("/metrics", registry=registry)
    with TestClient(app) as client:
        assert client.get("/page").text == "asgi /page"
        assert "socketify_responses_total" in client.get("/metrics").text
        assert client.get("/metricsx").text == "asgi /metricsx"


def test_a_metrics_route_added_while_an_asgi_app_serves_is_answered_from_then_on():
    # the core's requests go straight to the ASGI dispatch until a metrics path exists
    registry = prometheus_client.CollectorRegistry()
    app = ASGI(asgi_app)
    with TestClient(app) as client:
        assert client.get("/metrics").text == "asgi /metrics"
        app.metrics_route("/metrics", registry=registry)
        assert "socketify_responses_total" in client.get("/metrics").text
        assert client.get("/page").text == "asgi /page"


def test_metrics_over_real_sockets(serve):
    registry = prometheus_client.CollectorRegistry()
    app = sample_app().metrics_route("/metrics", registry=registry)
    with serve(app) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/")
        conn.getresponse().read()
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    open_now = families["socketify_connections_open"].samples[0].value
    assert open_now >= 1
    assert families["socketify_received_bytes"].samples[0].value > 0
