"""Starlette's router tries its routes in order, a regex each, until one matches: the hot paid
routes (/text-to-image, /payment, /segment, ...) are registered after the live and BYOC routers,
so each request paid for tens of regex matches. `index_exact_routes(app)` puts a dict in front of
that loop: a request for a path without parameters goes straight to its route, everything else
(and anything the index is unsure of) takes the router's own loop, so the answer is the same.

A (method, path) is indexed only when no route before its own would fully match it (the order
decides in Starlette: the index must not skip a route that wins), and the index is rebuilt when
routes are added."""
from __future__ import annotations

from starlette.routing import Match, Route


def _exact_index(routes: list) -> dict[tuple[str, str], Route]:
    index: dict[tuple[str, str], Route] = {}
    for i, route in enumerate(routes):
        if not isinstance(route, Route) or route.param_convertors or not route.methods:
            continue
        for method in route.methods:
            scope = {"type": "http", "path": route.path, "root_path": "", "method": method}
            if (method, route.path) not in index and not any(
                    earlier.matches(scope)[0] is Match.FULL for earlier in routes[:i]):
                index[(method, route.path)] = route
    return index


def index_exact_routes(app) -> None:
    """Serve `app`'s (a FastAPI or Starlette app) parameterless routes by dict lookup. Leaves the
    app as it was when its router has middleware of its own (the lookup must replace the route
    loop, innermost)."""
    router = app.router
    if router.middleware_stack != router.app:
        return
    loop = router.app
    state = {"count": -1, "index": {}}

    async def dispatch(scope, receive, send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            if len(router.routes) != state["count"]:
                state["index"], state["count"] = _exact_index(router.routes), len(router.routes)
            route = state["index"].get((scope["method"], scope["path"]))
            if route is not None:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", router)
                    scope["route"] = route
                    scope.update(child_scope)
                    return await route.handle(scope, receive, send)
        return await loop(scope, receive, send)

    router.middleware_stack = dispatch
