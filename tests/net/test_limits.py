"""node.net.limits: the JSON depth bound every listening surface checks before parsing (a nesting
bomb overflowed the C stack under py_ecc's recursion limit), linear and without recursion."""
import json

import pytest

from node.net.limits import MAX_JSON_DEPTH, JSONTooDeep, json_depth_ok, loads

D = MAX_JSON_DEPTH


@pytest.mark.parametrize("text, fits", [
    ("[" * 200_000, False), ("[" * (D + 1) + "]" * (D + 1), False), ("[" * D + "]" * D, True),
    ("{\"a\":" * (D + 1) + "1" + "}" * (D + 1), False),
    ('["' + "[" * 10_000 + '"]', True),  # brackets inside a string do not nest
    ('["\\"' + "[" * 10_000 + '"]', True),  # nor after an escaped quote
    ('["\\\\"' + ", [" * 200 + "]" * 200 + "]", False),  # an escaped backslash ends no string
    ("[[]," * 10_000 + "[]" + "]" * 10_000, False), ("[[]]," * 10_000, True),
    ("[]" * 3_000_000 + "[" * (D + 1), False),  # past the first slice of the scan
])
def test_depth_bound(text, fits):
    assert json_depth_ok(text) is fits
    assert json_depth_ok(text.encode()) is fits
    if fits:
        try:
            json.loads(text)
        except ValueError:
            pass  # not JSON: refused by the parser either way


def test_loads_refuses_what_is_too_deep_and_parses_the_rest():
    assert loads(b'{"messages": [{"role": "user", "content": "[[[["}]}') == \
        {"messages": [{"role": "user", "content": "[[[["}]}
    with pytest.raises(JSONTooDeep, match=f"deeper than {D} levels"):
        loads("[" * 400_000)


def _body_seen_by_app(path: str, chunks: list[bytes]) -> tuple[list[bytes], int | None]:
    """Run BodyLimit with a streamed prefix over an app that records what it reads before the
    client has sent everything; returns (chunks the app saw while more were pending, reply status)."""
    import asyncio

    from node.net.limits import BodyLimit

    pending = list(chunks)
    seen_early: list[bytes] = []
    status: list[int] = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            if pending:  # the client still has chunks to send: the body is being streamed
                seen_early.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {"type": "http", "path": path, "headers": [(b"content-type", b"application/json")]}
    guarded = BodyLimit(app, limit=lambda p: 1 << 20, streamed=("/ai/trickle/",))
    asyncio.run(guarded(scope, receive, send))
    return seen_early, status[0] if status else None


def test_trickle_json_bodies_stream_through_and_other_json_is_read_whole():
    messages = [json.dumps({"keep": "alive"}).encode() + b"\n", json.dumps({"prompt": "x"}).encode() + b"\n"]
    early, status = _body_seen_by_app("/ai/trickle/abcd1234-control/0", list(messages))
    assert status == 200 and early == messages[:1]  # the first message reached the app before the second left
    early, status = _body_seen_by_app("/live-video-to-video", list(messages))
    assert status == 200 and early == []  # read whole (depth check) before the app sees it
