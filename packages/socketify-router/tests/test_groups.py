from __future__ import annotations

import asyncio
from typing import Any, Optional

import pytest

from socketify_router import MiddlewareStopped, PatternError, RouteGroup, Router, compose
from socketify_router._groups import _takes_data


class FakeResponse:
    def __init__(self) -> None:
        self.aborted = False
        self.body: Optional[str] = None

    def end(self, body: str) -> None:
        self.body = body

    def has_responded(self) -> bool:
        return self.body is not None


class FakeRequest:
    def __init__(self) -> None:
        self.preserved = 0

    def preserve(self) -> FakeRequest:
        self.preserved += 1
        return self


class Recorder:
    """Collects every add() call, like any target a RouteGroup may register into."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, Optional[str]]] = []

    def add(self, method: str, pattern: str, handler: Any, name: Optional[str] = None) -> str:
        self.calls.append((method, pattern, handler, name))
        return "route"


def run(result: Any) -> Any:
    if asyncio.iscoroutine(result):
        return asyncio.run(result)
    return result


# -- RouteGroup ---------------------------------------------------------------------------


def test_group_registers_prefixed_patterns() -> None:
    target = Recorder()
    group = RouteGroup(target, "/api")

    def handler(res: Any, req: Any) -> None:
        return None

    assert group.get("/x", handler) is handler
    assert group.post("", handler, name="root") is handler
    assert target.calls == [("GET", "/api/x", handler, None), ("POST", "/api", handler, "root")]


@pytest.mark.parametrize(
    "method",
    ["get", "post", "put", "delete", "patch", "options", "head", "connect", "trace", "any"],
)
def test_decorator_form_returns_the_function_for_every_method(method: str) -> None:
    target = Recorder()
    group = RouteGroup(target, "/g")

    @getattr(group, method)("/x", name="n")
    def handler(res: Any, req: Any) -> str:
        return "ok"

    assert handler(None, None) == "ok"
    assert target.calls == [(method.upper(), "/g/x", handler, "n")]


def test_prefix_trailing_slash_and_root_prefix() -> None:
    target = Recorder()
    RouteGroup(target, "/api/").get("/x", print)
    RouteGroup(target, "/").get("/y", print)
    RouteGroup(target).get("/z", print)
    assert [call[1] for call in target.calls] == ["/api/x", "/y", "/z"]


@pytest.mark.parametrize("prefix", ["api", 5])
def test_bad_prefix_raises(prefix: Any) -> None:
    with pytest.raises(PatternError, match="group prefix must be '' or start with '/'"):
        RouteGroup(Recorder(), prefix)


def test_group_path_must_start_with_slash() -> None:
    group = RouteGroup(Recorder(), "/api")
    with pytest.raises(PatternError, match=r"'x'.*must be '' or start with '/'"):
        group.get("x", print)


def test_group_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="middleware is not callable"):
        RouteGroup(Recorder(), "/a", "nope")
    with pytest.raises(TypeError, match="not callable"):
        RouteGroup(Recorder(), "/a").get("/x", "nope")  # type: ignore[arg-type]


def test_group_with_middlewares_registers_composed_handler() -> None:
    target = Recorder()

    def auth(res: Any, req: Any, data: Any) -> Any:
        return {"user": "ann"}

    def handler(res: Any, req: Any, data: Any) -> None:
        res.end(data["user"])

    returned = RouteGroup(target, "/a", auth).get("/me", handler)
    assert returned is handler
    registered = target.calls[0][2]
    assert registered is not handler
    res = FakeResponse()
    registered(res, FakeRequest())
    assert res.body == "ann"


def test_router_group_matches_through_router() -> None:
    router = Router()
    api = router.group("/api")
    api.get("/users/:id<int>", lambda res, req: "user", name="user")
    match = router.match("GET", "/api/users/5")
    assert match is not None and match.values == {"id": 5}
    assert router.url_for("user", id=5) == "/api/users/5"


def test_nested_groups_join_prefixes_and_order_middlewares() -> None:
    router = Router()
    seen: list[str] = []

    def outer(res: Any, req: Any, data: Any) -> Any:
        seen.append("outer")
        return ["outer"]

    def inner(res: Any, req: Any, data: Any) -> Any:
        seen.append("inner")
        return [*data, "inner"]

    v1 = router.group("/api", outer).group("/v1", inner)

    @v1.get("/ping")
    def ping(res: Any, req: Any, data: Any) -> None:
        res.end(",".join(data))

    match = router.match("GET", "/api/v1/ping")
    assert match is not None
    res = FakeResponse()
    match.handler(res, FakeRequest())
    assert seen == ["outer", "inner"]
    assert res.body == "outer,inner"  # one chain: data flows from outer to inner


def test_group_of_group_registers_into_the_same_target() -> None:
    target = Recorder()
    outer = RouteGroup(target, "/a", lambda res, req, data: 1)
    inner = RouteGroup(outer, "/b/", lambda res, req, data: data + 1)
    assert inner.target is target
    assert inner.prefix == "/a/b"
    assert len(inner.middlewares) == 2
    inner.get("/c", lambda res, req, data: data)
    method, pattern, handler, _ = target.calls[0]
    assert (method, pattern) == ("GET", "/a/b/c")
    assert handler(FakeResponse(), FakeRequest()) == 2


# -- compose: synchronous chains -------------------------------------------------------------


def test_compose_without_middlewares_returns_handler() -> None:
    def handler(res: Any, req: Any) -> None:
        return None

    assert compose([], handler) is handler


def test_compose_passes_data_along_in_order() -> None:
    calls: list[Any] = []

    def first(res: Any, req: Any, data: Any) -> int:
        calls.append(("first", data))
        return 1

    def second(res: Any, req: Any, data: Any) -> int:
        calls.append(("second", data))
        return data + 1

    def handler(res: Any, req: Any, data: Any) -> str:
        calls.append(("handler", data))
        return "done"

    composed = compose([first, second], handler)
    assert composed(FakeResponse(), FakeRequest()) == "done"
    assert calls == [("first", None), ("second", 1), ("handler", 2)]
    assert composed.__name__ == "handler"
    assert not hasattr(composed, "__wrapped__")


@pytest.mark.parametrize("falsy", [None, False, 0, "", {}])
def test_falsy_return_stops_the_chain(falsy: Any) -> None:
    calls: list[str] = []

    def stop(res: Any, req: Any, data: Any) -> Any:
        calls.append("stop")
        return falsy

    def never(res: Any, req: Any, data: Any) -> Any:
        calls.append("never")
        return True

    composed = compose([stop, never], lambda res, req, data: calls.append("handler"))
    with pytest.raises(MiddlewareStopped, match=r"stop returned .* without answering"):
        composed(FakeResponse(), FakeRequest())  # unanswered: an error, never a hang
    assert calls == ["stop"]


@pytest.mark.parametrize("falsy", [None, False])
def test_falsy_return_after_answering_stops_the_chain_quietly(falsy: Any) -> None:
    def deny(res: Any, req: Any, data: Any) -> Any:
        res.end("401")
        return falsy

    composed = compose([deny], lambda res, req, data: pytest.fail("handler ran"))
    res = FakeResponse()
    assert composed(res, FakeRequest()) is None
    assert res.body == "401"


def test_a_chain_as_the_handler_of_another_chain_gets_its_data() -> None:
    """middleware() inside a MiddlewareRouter: the inner chain starts from the outer data."""
    seen: list[Any] = []
    inner = compose(
        [lambda res, req, data: [*data, "inner"]],
        lambda res, req, data: seen.append(data),
    )
    outer = compose([lambda res, req, data: ["outer"]], inner)
    outer(FakeResponse(), FakeRequest())
    assert seen == [["outer", "inner"]]


def test_ended_response_stops_the_chain() -> None:
    def deny(res: Any, req: Any, data: Any) -> Any:
        res.end("denied")
        return True  # truthy, but the response is over

    handler_calls: list[int] = []
    composed = compose([deny], lambda res, req, data: handler_calls.append(1))
    res = FakeResponse()
    composed(res, FakeRequest())
    assert res.body == "denied" and handler_calls == []


def test_aborted_response_stops_the_chain() -> None:
    def abort(res: Any, req: Any, data: Any) -> Any:
        res.aborted = True
        return True

    handler_calls: list[int] = []
    compose([abort], lambda res, req, data: handler_calls.append(1))(FakeResponse(), FakeRequest())
    assert handler_calls == []


def test_handler_taking_two_arguments_gets_no_data() -> None:
    def handler(res: Any, req: Any) -> str:
        return "two"

    def varargs(*args: Any) -> int:
        return len(args)

    assert compose([lambda res, req, data: True], handler)(FakeResponse(), None) == "two"
    assert compose([lambda res, req, data: True], varargs)(FakeResponse(), None) == 3


def test_takes_data_decides_from_the_signature() -> None:
    assert _takes_data(lambda res, req, data: None)
    assert _takes_data(lambda res, req, data=None: None)
    assert not _takes_data(lambda res, req: None)
    assert not _takes_data(lambda res, req, *, data=None: None)
    assert _takes_data(lambda *args: None)
    # some builtins have no signature: socketify's (res, req, data) form is assumed
    assert _takes_data(max)


def test_compose_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="not callable"):
        compose([print, "x"], print)  # type: ignore[list-item]


def test_exceptions_propagate() -> None:
    def boom(res: Any, req: Any, data: Any) -> Any:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        compose([boom], print)(FakeResponse(), FakeRequest())


# -- compose: asynchronous chains ---------------------------------------------------------


def test_async_middleware_preserves_request_and_returns_coroutine() -> None:
    order: list[str] = []

    def sync_first(res: Any, req: Any, data: Any) -> Any:
        order.append("sync")
        return "a"

    async def async_second(res: Any, req: Any, data: Any) -> Any:
        await asyncio.sleep(0)
        order.append(f"async preserved={req.preserved}")
        return data + "b"

    def sync_third(res: Any, req: Any, data: Any) -> Any:
        order.append("sync3")
        return data + "c"

    def handler(res: Any, req: Any, data: Any) -> str:
        res.end(data)
        return "handled"

    res, req = FakeResponse(), FakeRequest()
    result = compose([sync_first, async_second, sync_third], handler)(res, req)
    assert asyncio.iscoroutine(result)
    assert req.preserved == 1  # before the coroutine got a chance to run
    assert order == ["sync"]
    assert run(result) == "handled"
    assert order == ["sync", "async preserved=1", "sync3"]
    assert res.body == "abc"


def test_async_handler_after_sync_chain_is_returned_as_is() -> None:
    async def handler(res: Any, req: Any, data: Any) -> str:
        return f"async {data}"

    req = FakeRequest()
    result = compose([lambda res, req, data: "d"], handler)(FakeResponse(), req)
    assert asyncio.iscoroutine(result)
    assert req.preserved == 0  # the caller handles coroutine handlers itself
    assert run(result) == "async d"


def test_async_chain_awaits_async_handler() -> None:
    async def middleware(res: Any, req: Any, data: Any) -> Any:
        return 1

    async def handler(res: Any, req: Any, data: Any) -> Any:
        await asyncio.sleep(0)
        return data + 1

    assert run(compose([middleware, middleware], handler)(FakeResponse(), FakeRequest())) == 2


@pytest.mark.parametrize("stop", ["falsy", "ended", "aborted"])
def test_async_chain_stop_conditions(stop: str) -> None:
    async def gate(res: Any, req: Any, data: Any) -> Any:
        if stop == "ended":
            res.end("stopped")
        if stop == "aborted":
            res.aborted = True
        return None if stop == "falsy" else True

    later: list[str] = []

    def after(res: Any, req: Any, data: Any) -> Any:
        later.append("after")
        return True

    composed = compose([gate, after], lambda res, req, data: later.append("handler"))
    if stop == "falsy":
        with pytest.raises(MiddlewareStopped):
            run(composed(FakeResponse(), FakeRequest()))
    else:
        assert run(composed(FakeResponse(), FakeRequest())) is None
    assert later == []


def test_async_chain_stops_when_sync_middleware_after_it_ends() -> None:
    async def first(res: Any, req: Any, data: Any) -> Any:
        return True

    def second(res: Any, req: Any, data: Any) -> Any:
        res.end("second")
        return True

    handled: list[int] = []
    res = FakeResponse()
    run(compose([first, second], lambda res, req, data: handled.append(1))(res, FakeRequest()))
    assert res.body == "second" and handled == []


def test_request_without_preserve_is_fine() -> None:
    async def middleware(res: Any, req: Any, data: Any) -> Any:
        return "x"

    assert run(compose([middleware], lambda res, req, data: data)(FakeResponse(), object())) == "x"


def test_preserve_returning_new_object_is_used_afterwards() -> None:
    class Copying(FakeRequest):
        def preserve(self) -> FakeRequest:
            return FakeRequest()

    seen: list[Any] = []

    async def middleware(res: Any, req: Any, data: Any) -> Any:
        return True

    def handler(res: Any, req: Any, data: Any) -> None:
        seen.append(req)

    original = Copying()
    run(compose([middleware], handler)(FakeResponse(), original))
    assert len(seen) == 1 and seen[0] is not original


def test_async_exception_propagates() -> None:
    async def boom(res: Any, req: Any, data: Any) -> Any:
        raise LookupError("async boom")

    with pytest.raises(LookupError, match="async boom"):
        run(compose([boom], print)(FakeResponse(), FakeRequest()))
