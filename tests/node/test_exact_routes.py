"""node.net.exact_routes: the dict in front of Starlette's route loop answers as the loop does,
route order included."""
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse

from node.net.exact_routes import _exact_index, index_exact_routes


def make_app() -> FastAPI:
    app = FastAPI()

    @app.post("/{pipeline}/x")
    async def shadow(pipeline: str):  # registered first: wins /a/x over the static route below
        return PlainTextResponse(f"param {pipeline}")

    @app.post("/a/x")
    async def shadowed():
        return PlainTextResponse("static a/x")

    @app.post("/text-to-image")
    async def hot():
        return PlainTextResponse("hot")

    @app.get("/healthz")
    async def health():
        return PlainTextResponse("ok")

    sub = FastAPI()

    @sub.get("/inner")
    async def inner():
        return PlainTextResponse("inner")

    app.mount("/m", sub)
    return app


def answers(app) -> list[tuple[int, str, str | None]]:
    client = TestClient(app)
    out = []
    for method, path in [("POST", "/a/x"), ("POST", "/b/x"), ("POST", "/text-to-image"), ("GET", "/text-to-image"),
                         ("GET", "/healthz"), ("HEAD", "/healthz"), ("POST", "/healthz"), ("GET", "/m/inner"),
                         ("GET", "/nowhere"), ("POST", "/text-to-image/")]:
        r = client.request(method, path, follow_redirects=False)
        out.append((r.status_code, r.text, r.headers.get("allow")))
    return out


def test_indexed_app_answers_as_the_route_loop():
    plain, indexed = make_app(), make_app()
    index_exact_routes(indexed)
    assert answers(indexed) == answers(plain)
    assert answers(indexed)[0][1] == "param a"  # the earlier parameter route still wins


def test_index_holds_only_routes_nothing_earlier_matches():
    index = _exact_index(make_app().router.routes)
    assert {"/text-to-image", "/healthz"} <= {path for _, path in index}
    assert ("POST", "/a/x") not in index


def test_routes_added_later_are_indexed():
    app = make_app()
    index_exact_routes(app)
    client = TestClient(app)
    assert client.post("/text-to-image").text == "hot"

    @app.post("/payment")
    async def payment():
        return PlainTextResponse("paid")

    assert client.post("/payment").text == "paid"
