"""The ASGI lifespan protocol: startup and shutdown events with a shared ``state``.

The application's lifespan call runs as one Task for the whole life of the server.
``startup()`` sends ``lifespan.startup`` and waits for the answer:

* ``lifespan.startup.complete``: serve.
* ``lifespan.startup.failed``: LifespanFailure (``run()`` raises it, the CLI exits 3).
* the application raised before answering: with ``lifespan="on"`` LifespanFailure; with
  ``"auto"`` the application does not speak lifespan: log it and serve without.

``shutdown()`` sends ``lifespan.shutdown`` and waits for completion the same way.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Optional

from ..errors import ASGIProtocolError, LifespanFailure

logger = logging.getLogger("socketify.asgi")

MODES = ("auto", "on", "off")


class Lifespan:
    def __init__(self, app: Callable[..., Any], mode: str, asgi: dict[str, str]) -> None:
        if mode not in MODES:
            raise ValueError(f"lifespan must be one of {', '.join(MODES)}, not {mode!r}")
        self.app = app
        self.mode = mode
        self.asgi = asgi
        self.state: dict[str, Any] = {}
        self.supported = mode != "off"
        self.started = False
        self._events: Optional[asyncio.Queue[dict[str, Any]]] = None
        self._answer: Optional[asyncio.Future[dict[str, Any]]] = None
        self._task: Optional[asyncio.Future[Any]] = None
        self._error: Optional[BaseException] = None

    async def _receive(self) -> dict[str, Any]:
        assert self._events is not None
        return await self._events.get()

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind not in (
            "lifespan.startup.complete",
            "lifespan.startup.failed",
            "lifespan.shutdown.complete",
            "lifespan.shutdown.failed",
        ):
            raise ASGIProtocolError(f"unexpected ASGI message for lifespan: {message!r}")
        answer = self._answer
        if answer is None or answer.done():
            raise ASGIProtocolError(f"{kind} sent when no lifespan event was pending")
        answer.set_result(message)

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": self.asgi, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            self._error = exc
            if self.mode == "on" or self.started:
                logger.error("the ASGI lifespan raised", exc_info=exc)
            else:
                logger.info("the application does not support ASGI lifespan (%r): serving", exc)
            raise
        finally:
            answer = self._answer
            if answer is not None and not answer.done():
                answer.set_result({"type": "app.returned"})

    async def _event(self, kind: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        assert self._events is not None
        self._events.put_nowait({"type": kind})
        return await self._answer

    async def startup(self) -> None:
        if not self.supported:
            return
        self._events = asyncio.Queue()
        self._error = None
        self._task = asyncio.ensure_future(self._main())
        self._task.add_done_callback(_retrieve)
        answer = await self._event("lifespan.startup")
        kind = answer["type"]
        if kind == "lifespan.startup.complete":
            self.started = True
            return
        if kind == "lifespan.startup.failed":
            message = answer.get("message", "")
            logger.error("ASGI lifespan startup failed: %s", message)
            raise LifespanFailure(f"lifespan startup failed: {message}")
        # the app returned or raised without answering
        self.supported = False
        if self.mode == "on":
            raise LifespanFailure(
                "lifespan startup failed: the application "
                + ("raised " + repr(self._error) if self._error else "returned without answering")
            ) from self._error

    async def shutdown(self) -> None:
        if not self.supported or not self.started:
            return
        self.started = False
        task = self._task
        if task is None or task.done():
            return
        answer = await self._event("lifespan.shutdown")
        kind = answer["type"]
        if kind == "lifespan.shutdown.failed":
            logger.error("ASGI lifespan shutdown failed: %s", answer.get("message", ""))
            raise LifespanFailure(f"lifespan shutdown failed: {answer.get('message', '')}")
        if kind != "lifespan.shutdown.complete" and self._error is not None:
            raise LifespanFailure(f"lifespan shutdown failed: {self._error!r}") from self._error
        self.supported = self.mode != "off"


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # reported by _main already; do not warn "never retrieved"
