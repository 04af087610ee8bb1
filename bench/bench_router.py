"""Route matching throughput: socketify_router vs falcon's CompiledRouter vs Starlette.

One run, same machine, same 100 routes (static, parameter and wildcard, shaped like a
real JSON API) and the same request mix for the three routers; the figure that matters
is our ratio to each peer.  Every router must resolve every request to the same route
(checked before timing), so no router is timed doing less work than the others.

What is timed, per request, is "method + raw path -> handler and parameters":

* socketify_router: ``router.match(method, path)`` (``.handler`` and ``.params``);
* falcon: ``CompiledRouter.find(path)`` then the responder for the method from the
  method map (falcon resolves the method outside the router);
* Starlette: the loop of ``Router.__call__``: ``route.matches(scope)`` over the routes
  until a full match (what the router does before calling the endpoint).

Run: ``python bench/bench_router.py [--rounds N]`` with falcon and starlette installed
(``nox -s bench_router`` does both).
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import time
from typing import Any, Callable

from socketify_router import Router

# (method, pattern in our syntax, a path that should hit it)
ROUTES: list[tuple[str, str, str]] = []


def _add(method: str, pattern: str, sample: str) -> None:
    ROUTES.append((method, pattern, sample))


def _build_routes() -> None:
    # 40 static routes
    for name in ("users", "orgs", "repos", "gists", "teams", "projects", "events", "issues"):
        _add("GET", f"/api/v1/{name}", f"/api/v1/{name}")
        _add("POST", f"/api/v1/{name}", f"/api/v1/{name}")
    for name in ("health", "ready", "metrics", "version", "login", "logout", "signup", "about"):
        _add("GET", f"/{name}", f"/{name}")
    for name in ("code", "commits", "issues", "labels", "repositories", "topics", "users"):
        _add("GET", f"/api/v1/search/{name}", f"/api/v1/search/{name}")
    for name in ("emails", "keys", "followers", "following", "starred", "subscriptions"):
        _add("GET", f"/api/v1/user/{name}", f"/api/v1/user/{name}")
    _add("GET", "/", "/")
    _add("GET", "/api/v1/rate_limit", "/api/v1/rate_limit")
    _add("GET", "/api/v1/meta", "/api/v1/meta")
    # 50 parameter routes
    for name in ("users", "orgs", "teams", "projects"):
        _add("GET", f"/api/v1/{name}/:id", f"/api/v1/{name}/octo")
        _add("PATCH", f"/api/v1/{name}/:id", f"/api/v1/{name}/octo")
        _add("DELETE", f"/api/v1/{name}/:id", f"/api/v1/{name}/octo")
        _add("GET", f"/api/v1/{name}/:id/events", f"/api/v1/{name}/octo/events")
        _add("GET", f"/api/v1/{name}/:id/members", f"/api/v1/{name}/octo/members")
    repo = "/api/v1/repos/:owner/:repo"
    sample = "/api/v1/repos/socketify/router"
    _add("GET", repo, sample)
    _add("PATCH", repo, sample)
    _add("DELETE", repo, sample)
    for sub in ("issues", "pulls", "commits", "branches", "tags", "releases", "labels"):
        _add("GET", f"{repo}/{sub}", f"{sample}/{sub}")
        _add("POST", f"{repo}/{sub}", f"{sample}/{sub}")
    for sub in ("issues", "pulls", "releases"):
        _add("GET", f"{repo}/{sub}/:number<int>", f"{sample}/{sub}/1347")
        _add("PATCH", f"{repo}/{sub}/:number<int>", f"{sample}/{sub}/1347")
    _add("GET", f"{repo}/issues/:number<int>/comments", f"{sample}/issues/1347/comments")
    _add("GET", f"{repo}/commits/:sha", f"{sample}/commits/6dcb09b5b57875f334f61aebed695e2e")
    _add("GET", f"{repo}/branches/:branch", f"{sample}/branches/main")
    _add("GET", "/api/v1/gists/:gist_id", "/api/v1/gists/aa5a315d61ae9438b18d")
    _add("GET", "/api/v1/users/:id/repos/:page<int>", "/api/v1/users/octo/repos/3")
    _add("GET", "/api/v1/orgs/:id/repos/:page<int>", "/api/v1/orgs/octo/repos/2")
    _add("GET", "/api/v1/events/:id<int>", "/api/v1/events/99")
    # 10 wildcard routes
    _add("GET", "/static/*", "/static/css/site.css")
    _add("GET", "/assets/*", "/assets/img/logo.png")
    _add("GET", "/docs/*", "/docs/guide/routing")
    _add("GET", f"{repo}/contents/:path<path>", f"{sample}/contents/src/app/main.py")
    _add("GET", f"{repo}/raw/:path<path>", f"{sample}/raw/README.md")
    _add("GET", "/api/v1/gists/:gist_id/files/:path<path>", "/api/v1/gists/aa5a/files/a/b.txt")
    _add("GET", "/downloads/*", "/downloads/v1.0/socketify.tar.gz")
    _add("GET", "/media/*", "/media/video/intro.mp4")
    _add("GET", "/blog/*", "/blog/2024/01/hello")
    _add("GET", "/api/v1/users/:id/files/:path<path>", "/api/v1/users/octo/files/x/y")


_build_routes()


def to_falcon(pattern: str) -> str:
    pattern = re.sub(r":(\w+)<(\w+)>|:(\w+)", _falcon_field, pattern)
    return pattern.replace("*", "{tail:path}")


def _falcon_field(found: re.Match[str]) -> str:
    name, kind, plain = found.groups()
    return f"{{{plain}}}" if plain else f"{{{name}:{kind}}}"


to_starlette = to_falcon  # the same {name} / {name:int} / {name:path} syntax


def make_handler(index: int) -> Callable[..., Any]:
    def handler(*args: Any, **kwargs: Any) -> int:
        return index

    handler.route_index = index  # type: ignore[attr-defined]
    return handler


def build_ours() -> Callable[[str, str], Any]:
    router = Router()
    for index, (method, pattern, _) in enumerate(ROUTES):
        router.add(method, pattern, make_handler(index))
    match = router.match

    def resolve(method: str, path: str) -> Any:
        m = match(method, path)
        return m.handler, m.params

    return resolve


def build_falcon() -> Callable[[str, str], Any]:
    from falcon.routing import CompiledRouter

    templates: dict[str, dict[str, Any]] = {}
    for index, (method, pattern, _) in enumerate(ROUTES):
        templates.setdefault(to_falcon(pattern), {})[method] = make_handler(index)
    router = CompiledRouter()
    for template, methods in templates.items():
        resource = type("Resource", (), {})()
        for method, handler in methods.items():
            setattr(resource, "on_" + method.lower(), handler)
        router.add_route(template, resource)
    find = router.find

    def resolve(method: str, path: str) -> Any:
        _, method_map, params, _ = find(path)
        return method_map[method], params

    return resolve


def build_starlette() -> Callable[[str, str], Any]:
    from starlette.routing import Match, Route

    routes = []
    for index, (method, pattern, _) in enumerate(ROUTES):
        routes.append(Route(to_starlette(pattern), make_handler(index), methods=[method]))
    full = Match.FULL

    def resolve(method: str, path: str) -> Any:
        scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        for route in routes:
            found, child = route.matches(scope)
            if found is full:
                return route.endpoint, child["path_params"]
        raise LookupError(path)

    return resolve


def requests() -> list[tuple[str, str]]:
    return [(method, sample) for method, _, sample in ROUTES]


def check(name: str, resolve: Callable[[str, str], Any], reqs: list[tuple[str, str]]) -> None:
    for index, (method, path) in enumerate(reqs):
        handler, _ = resolve(method, path)
        got = handler.route_index
        if got != index:
            raise SystemExit(
                f"{name}: {method} {path} hit {ROUTES[got][1]}, not {ROUTES[index][1]}"
            )


def time_once(
    resolve: Callable[[str, str], Any], reqs: list[tuple[str, str]], rounds: int
) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        for method, path in reqs:
            resolve(method, path)
    return time.perf_counter() - start


def measure(
    resolvers: dict[str, Callable[[str, str], Any]], reqs: list[tuple[str, str]], rounds: int
) -> dict[str, float]:
    """Best of 7 per router, the routers interleaved so load changes hit all of them."""
    best = dict.fromkeys(resolvers, float("inf"))
    for _ in range(7):
        for name, resolve in resolvers.items():
            best[name] = min(best[name], time_once(resolve, reqs, rounds))
    return {name: rounds * len(reqs) / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="passes over the request mix")
    args = parser.parse_args()
    reqs = requests()
    kinds = {"static": 0, "param": 0, "wildcard": 0}
    for _, pattern, _ in ROUTES:
        kind = "wildcard" if ("*" in pattern or "<path>" in pattern) else "param"
        kinds[kind if ":" in pattern or "*" in pattern else "static"] += 1
    print(f"{len(ROUTES)} routes {kinds}, {len(reqs)} requests per round, {args.rounds} rounds")
    print(f"{platform.python_implementation()} {platform.python_version()}", flush=True)
    routers = {"socketify_router": build_ours}
    try:
        import falcon

        routers[f"falcon {falcon.__version__} CompiledRouter"] = build_falcon
    except ImportError:
        print("falcon not installed: skipped", file=sys.stderr)
    try:
        import starlette

        routers[f"starlette {starlette.__version__} Router"] = build_starlette
    except ImportError:
        print("starlette not installed: skipped", file=sys.stderr)
    resolvers = {}
    for name, build in routers.items():
        resolvers[name] = build()
        check(name, resolvers[name], reqs)
    rates = measure(resolvers, reqs, args.rounds)
    ours = rates["socketify_router"]
    print(f"{'router':<36} {'matches/s':>12} {'ours / this':>12}")
    for name, rate in rates.items():
        print(f"{name:<36} {rate:>12,.0f} {ours / rate:>11.2f}x")


if __name__ == "__main__":
    main()
