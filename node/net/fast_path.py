"""The paid hot routes (the AI pipelines, /payment, /segment) served without FastAPI's per-request
machinery: the same endpoint, called with the same Starlette Request behind the same middleware,
so the answer is the same to the byte; only the work FastAPI does around a plain
`endpoint(request) -> Response` is skipped (its telemetry and body-limit wrappers, two exit
stacks, the route's request handler solving dependencies the endpoint does not have). Measured
under uvicorn on one echo route (benchmarks/bench_node.py --layers): FastAPI 130 µs of server CPU
a request, this path 93 µs, a bare ASGI callable 57 µs; what is left over the bare callable is
Starlette's error middleware, the body limit, Request and Response, kept for the same answers.

`serve_fast(app, paths)` makes the app's middleware stack a dispatcher: a POST to one of `paths`
that the router would give to that path's own route (node.net.exact_routes decides, route order
kept) runs

    ServerErrorMiddleware → the app's own middleware (guard_app's BodyLimit) → ExceptionMiddleware
    → route.endpoint(Request) → the Response it returns

built from the app's own configuration (its middleware list and exception handlers), so a 413,
a deep JSON's 400, a dead chain's 503 and a bare 500 come from the code that answers them on the
full stack. Every other request (another method, HEAD, OPTIONS, an unknown path, a lifespan
event, a mounted root path) takes the full FastAPI stack.
"""
from __future__ import annotations

import inspect
from typing import Iterable

from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request

from node.net.exact_routes import _exact_index


def _plain_endpoint(route) -> bool:
    """A route whose endpoint takes only the Request, depends on nothing and returns its own
    Response: FastAPI's request handler only calls it and sends what it returns."""
    dependant = getattr(route, "dependant", None)
    return (dependant is not None and dependant.request_param_name is not None
            and not (dependant.path_params or dependant.query_params or dependant.header_params
                     or dependant.cookie_params or dependant.body_params or dependant.dependencies)
            and dependant.background_tasks_param_name is None and getattr(route, "response_model", None) is None
            and inspect.iscoroutinefunction(route.endpoint))


async def _call_endpoint(scope, receive, send) -> None:
    """What Starlette's request_response does around an async endpoint."""
    response = await scope["endpoint"](Request(scope, receive, send))
    await response(scope, receive, send)


def _fast_stack(app):
    """The full stack's error handling and the app's middleware around `_call_endpoint`."""
    error_handler, handlers = None, {}
    for key, value in app.exception_handlers.items():
        if key in (500, Exception):
            error_handler = value
        else:
            handlers[key] = value
    inner = ExceptionMiddleware(_call_endpoint, handlers=handlers, debug=app.debug)
    for cls, args, kwargs in reversed(app.user_middleware):
        inner = cls(inner, *args, **kwargs)
    return ServerErrorMiddleware(inner, handler=error_handler, debug=app.debug)


def serve_fast(app, paths: Iterable[str], method: str = "POST") -> None:
    """Serve `method` requests to `paths` of a FastAPI `app` on the fast stack (module doc). A path
    whose route is not a plain `endpoint(request: Request)` is refused (ValueError) when the stack
    is built: at the server's start (its lifespan event), or the first request without one."""
    paths = tuple(paths)
    original = app.build_middleware_stack

    def build():
        full, fast = original(), _fast_stack(app)
        router = app.router
        state = {"count": -1, "table": {}}

        def table() -> dict:
            if len(router.routes) != state["count"]:  # routes added since: the router's choice again
                index = _exact_index(router.routes)
                fast_routes = {}
                for path in paths:
                    route = index.get((method, path))
                    if route is None:
                        continue  # an earlier route takes it, or none: the full stack answers
                    if not _plain_endpoint(route):
                        raise ValueError(f"{method} {path}: not a plain endpoint(request) route")
                    fast_routes[path] = route
                state["table"], state["count"] = fast_routes, len(router.routes)
            return state["table"]

        table()  # a misdeclared path fails here, not at some later request

        async def dispatch(scope, receive, send) -> None:
            if scope["type"] == "http" and scope["method"] == method and not scope.get("root_path"):
                route = table().get(scope["path"])
                if route is not None:  # the scope the router would have made
                    scope.update(router=router, route=route, endpoint=route.endpoint, path_params={})
                    return await fast(scope, receive, send)
            return await full(scope, receive, send)

        return dispatch

    app.build_middleware_stack = build
