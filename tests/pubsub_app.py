"""The app the pub/sub tests run in their own processes (``python pubsub_app.py``, or
``python -m socketify pubsub_app:app --workers 2``).

A WebSocket client on ``/ws`` sends ``sub:TOPIC`` / ``unsub:TOPIC`` (answered ``ok:...``
once done locally) and ``pub:TOPIC:TEXT`` (published as text, from the socket).  HTTP:
``POST /publish/TOPIC`` publishes the body (``?text=1``: as text), ``GET /stats`` is the
backend's counters, ``GET /pid`` the serving process.  Settings from the environment:
PUBSUB_URL (a Redis URL; none: the CLI's choice), PUBSUB_PREFIX.
"""

from __future__ import annotations

import gc
import json
import os
import sys

from socketify import App, OpCode

url = os.environ.get("PUBSUB_URL")
if url:
    from socketify.pubsub import RedisBackend

    app = App(
        pubsub=RedisBackend(
            url, prefix=os.environ.get("PUBSUB_PREFIX", "t:"), max_backoff=0.5, connect_timeout=2
        )
    )
else:
    app = App()


def message(ws, msg, opcode):
    if not isinstance(msg, str):
        return
    verb, _, rest = msg.partition(":")
    if verb == "pid":
        ws.send(f"pid:{os.getpid()}", OpCode.TEXT)
    elif verb == "rss":  # after a full collection, so PyPy's growing heap is not a leak
        gc.collect()
        with open("/proc/self/status") as status:
            kib = next(line.split()[1] for line in status if line.startswith("VmRSS:"))
        ws.send(f"rss:{kib}", OpCode.TEXT)
    elif verb == "sub":
        ws.subscribe(rest)
        ws.send(f"ok:sub:{rest}", OpCode.TEXT)
    elif verb == "unsub":
        ws.unsubscribe(rest)
        ws.send(f"ok:unsub:{rest}", OpCode.TEXT)
    elif verb == "pub":
        topic, _, text = rest.partition(":")
        ws.publish(topic, text, OpCode.TEXT)
        ws.send(f"ok:pub:{topic}", OpCode.TEXT)


app.ws("/ws", {"message": message, "max_backpressure": 256 * 1024})


async def publish(res, req):
    topic = req.get_parameter(0)
    as_text = req.get_query("text") == "1"
    body = await res.get_data()
    data = body.getvalue()
    app.publish(
        topic, data.decode() if as_text else data, OpCode.TEXT if as_text else OpCode.BINARY
    )
    res.end("ok")


def stats(res, req):
    backend = app.pubsub
    res.end(json.dumps(backend.stats.as_dict() if backend else {}))


app.post("/publish/:topic", publish)
app.get("/stats", stats)
app.get("/pid", lambda res, req: res.end(str(os.getpid())))

if __name__ == "__main__":
    app.listen(0, lambda config: print(config.port, flush=True))
    app.run()
    sys.exit(0)
