"""Metrics for operators: the core's counters as ``app.stats()`` and in the Prometheus text
format at an opt-in route (``app.metrics_route("/metrics")``, ``--metrics-path``).

The counters live in C (``sc_stats``: a few increments per request, no lock: the loop's
thread owns them); Python adds the handler errors it reports.  With ``prometheus_client``
installed the route serves its registry (``REGISTRY`` unless another is given) with a
collector for these counters registered in it, so the app's own metrics share the
endpoint; without it the route writes the same metric families itself.

Every metric carries a ``worker`` label (the process id): under ``--workers N`` each worker
keeps and serves its own counters, and a scrape reaches the worker that accepted it.  Sum
over ``worker`` in the queries (``sum without (worker) (...)``); docs/deploying.md says more.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional

from ._native import lib

if TYPE_CHECKING:
    from .app import App
    from .runtime import Runtime

__all__ = ["LATENCY_BOUNDS", "render_text", "stats_of"]

# sc_latency_bounds_us (http_conn.c) in seconds; the last bucket is +Inf
LATENCY_BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def stats_of(rt: Runtime) -> dict[str, Any]:
    """The counters of a runtime's loop (zeros before it exists)."""
    native = rt.native
    if native is None:
        return _empty(rt)
    s = lib.sc_loop_stats(native)
    buckets = list(s.latency_buckets)
    cumulative = []
    total = 0
    for bound, count in zip(LATENCY_BOUNDS, buckets):
        total += count
        cumulative.append((bound, total))
    return {
        "connections_open": int(lib.sc_loop_num_connections(native)),
        "connections_total": int(s.connections_total),
        "requests": int(s.requests),
        "responses": {name: int(s.responses_by_class[i + 1]) for i, name in enumerate(CLASSES)},
        "bytes_in": int(s.bytes_in),
        "bytes_out": int(s.bytes_out),
        "websockets_open": int(s.websockets_open),
        "websockets_total": int(s.websockets_total),
        "backpressure_drops": int(s.backpressure_drops),
        "pubsub_deliveries": int(s.pubsub_deliveries),
        # files sent by the core: sendfile(2) on a plain socket, pread + a layer's write
        # (TLS, the memory transport) otherwise
        "file_bytes_sendfile": int(s.file_bytes_sendfile),
        "file_bytes_copied": int(s.file_bytes_copied),
        "handler_errors": rt.handler_errors,
        "latency": {
            "count": int(s.latency_count),
            "sum_seconds": int(s.latency_us_sum) / 1e6,
            "buckets": cumulative,  # (upper bound in seconds, requests at or under it)
        },
    }


def _empty(rt: Runtime) -> dict[str, Any]:
    zero = dict.fromkeys(
        (
            "connections_open",
            "connections_total",
            "requests",
            "bytes_in",
            "bytes_out",
            "websockets_open",
            "websockets_total",
            "backpressure_drops",
            "pubsub_deliveries",
            "file_bytes_sendfile",
            "file_bytes_copied",
        ),
        0,
    )
    return {
        **zero,
        "responses": dict.fromkeys(CLASSES, 0),
        "handler_errors": rt.handler_errors,
        "latency": {"count": 0, "sum_seconds": 0.0, "buckets": [(b, 0) for b in LATENCY_BOUNDS]},
    }


# (name, type, help, key in stats_of)
_SIMPLE = (
    ("socketify_connections_open", "gauge", "Open connections.", "connections_open"),
    ("socketify_connections_total", "counter", "Connections accepted.", "connections_total"),
    ("socketify_websockets_open", "gauge", "Open WebSockets.", "websockets_open"),
    ("socketify_websockets_total", "counter", "WebSocket upgrades.", "websockets_total"),
    ("socketify_received_bytes_total", "counter", "Bytes read from clients.", "bytes_in"),
    ("socketify_sent_bytes_total", "counter", "Bytes written to clients.", "bytes_out"),
    (
        "socketify_backpressure_drops_total",
        "counter",
        "WebSocket messages dropped past max_backpressure.",
        "backpressure_drops",
    ),
    (
        "socketify_pubsub_deliveries_total",
        "counter",
        "Messages queued to subscribers by publish.",
        "pubsub_deliveries",
    ),
    (
        "socketify_file_sendfile_bytes_total",
        "counter",
        "File bytes sent with sendfile(2) from the page cache.",
        "file_bytes_sendfile",
    ),
    (
        "socketify_file_copied_bytes_total",
        "counter",
        "File bytes read and written through TLS or the memory transport.",
        "file_bytes_copied",
    ),
    (
        "socketify_handler_errors_total",
        "counter",
        "Exceptions raised by handlers.",
        "handler_errors",
    ),
)


_Sample = tuple[str, dict[str, str], float]
_Family = tuple[str, str, str, list[_Sample]]


def _families(stats: dict[str, Any]) -> list[_Family]:
    """(name, type, help, samples) with samples (suffixed name, extra labels, value)."""
    out: list[_Family] = []
    for name, kind, text, key in _SIMPLE:
        out.append((name, kind, text, [(name, {}, float(stats[key]))]))
    out.append(
        (
            "socketify_responses_total",
            "counter",
            "Responses by status class.",
            [
                ("socketify_responses_total", {"class": cls}, float(n))
                for cls, n in stats["responses"].items()
            ],
        )
    )
    latency = stats["latency"]
    samples = [
        ("socketify_request_duration_seconds_bucket", {"le": repr(bound)}, float(count))
        for bound, count in latency["buckets"]
    ]
    samples.append(
        ("socketify_request_duration_seconds_bucket", {"le": "+Inf"}, float(latency["count"]))
    )
    samples.append(("socketify_request_duration_seconds_count", {}, float(latency["count"])))
    samples.append(("socketify_request_duration_seconds_sum", {}, float(latency["sum_seconds"])))
    out.append(
        (
            "socketify_request_duration_seconds",
            "histogram",
            "From a request head to the end of its response.",
            samples,
        )
    )
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def render_text(stats: dict[str, Any], worker: Optional[str] = None) -> str:
    """The Prometheus text exposition format (0.0.4) of ``stats``."""
    base = {"worker": worker or str(os.getpid())}
    lines = []
    for name, kind, text, samples in _families(stats):
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")
        for sample, extra, value in samples:
            lines.append(f"{sample}{_labels({**base, **extra})} {_number(value)}")
    return "\n".join(lines) + "\n"


_COLLECTORS: dict[int, Any] = {}


class _Collector:
    """A prometheus_client collector over one app's counters."""

    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Any:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        stats = self.app.stats()
        worker = str(os.getpid())
        for name, kind, text, key in _SIMPLE:
            family: Any
            if kind == "gauge":
                family = GaugeMetricFamily(name, text, labels=["worker"])
            else:
                family = CounterMetricFamily(name.removesuffix("_total"), text, labels=["worker"])
            family.add_metric([worker], stats[key])
            yield family
        responses = CounterMetricFamily(
            "socketify_responses", "Responses by status class.", labels=["worker", "class"]
        )
        for cls, n in stats["responses"].items():
            responses.add_metric([worker, cls], n)
        yield responses
        latency = stats["latency"]
        histogram = HistogramMetricFamily(
            "socketify_request_duration_seconds",
            "From a request head to the end of its response.",
            labels=["worker"],
        )
        buckets = [(repr(bound), count) for bound, count in latency["buckets"]]
        buckets.append(("+Inf", latency["count"]))
        histogram.add_metric([worker], buckets, latency["sum_seconds"])
        yield histogram


def metrics_handler(app: App, registry: Any = None) -> Any:
    """The GET handler of ``app.metrics_route``."""
    try:
        import prometheus_client
    except ImportError:
        prometheus_client = None  # type: ignore[assignment]
    if prometheus_client is not None:
        target = registry if registry is not None else prometheus_client.REGISTRY
        # one socketify collector per registry: a later app (tests, a reload in-process)
        # replaces the earlier one instead of duplicating its metric names
        previous = _COLLECTORS.pop(id(target), None)
        if previous is not None:
            try:
                target.unregister(previous)
            except KeyError:
                pass
        collector = _COLLECTORS[id(target)] = _Collector(app)
        target.register(collector)
        content_type = prometheus_client.CONTENT_TYPE_LATEST

        def serve(res: Any, req: Any) -> None:
            body = prometheus_client.generate_latest(target)
            res.write_header("Content-Type", content_type).end(body)

        return serve

    def serve_text(res: Any, req: Any) -> None:
        res.write_header("Content-Type", CONTENT_TYPE).end(render_text(app.stats()))

    return serve_text
