"""What go's net/http does for the handlers the node mirrors, where a client can see it."""
from __future__ import annotations

from fastapi.responses import Response

# the methods a go mux route without a method pattern takes: the handler checks the method itself
ANY_METHOD = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


def go_error(message: str, status: int, headers: dict | None = None) -> Response:
    """go's http.Error: the message and a newline, as plain text, with nosniff."""
    return Response(message + "\n", status_code=status, media_type="text/plain; charset=utf-8",
                    headers={"X-Content-Type-Options": "nosniff", **(headers or {})})
