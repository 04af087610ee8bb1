"""WebSocket bench app, raw ASGI (uvicorn + websockets): /echo and /room."""

room = set()


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if kind == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"Hello, World!"})
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    path = scope["path"]
    if path == "/room":
        room.add(send)
    try:
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            out = {"type": "websocket.send", "bytes": event.get("bytes"), "text": event.get("text")}
            if path == "/echo":
                await send(out)
            else:
                for peer in list(room):
                    if peer is not send:
                        await peer(out)
    finally:
        room.discard(send)
