"""The gateway's OpenAPI document (/openapi.json): the nine batch AI routes with the runner's request
and response models (node.worker.ai.models: one definition of each body), changed where go's
gateway answers otherwise than the runner:

- errors are go's {"error": {"message": ...}} (400, 413, 500, 503), never the runner's
  {"detail": {"msg"}} nor FastAPI's 422;
- image-to-video answers `images` with the URL of each MP4 (go's processImageToVideo; the
  `livepeer-ai` SDK calls this body VideoResponse too), or 202 {"request_id"} with
  `Prefer: respond-async`, whose result is read at /image-to-video/result;
- llm requires `model`, `stream` and `max_tokens` and may answer server-sent events;
- audio-to-text takes no `metadata` (the gateway sends the runner the duration it measured).
"""
from __future__ import annotations

import warnings
from typing import Any, List, Literal, Optional

from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from node.worker.ai.app import openapi_document
from node.worker.ai.models import Media
from node.worker.ai.routes import PIPELINE_ROUTERS

TITLE = "Livepeer AI gateway (lpsim)"
DESCRIPTION = "The gateway's batch AI routes, as go-livepeer's gateway serves them."
ERRORS = {"400": "Bad Request", "413": "Request Entity Too Large",
          "500": "Internal Server Error", "503": "Service Unavailable"}


class GatewayErrorMessage(BaseModel):
    message: str = Field(..., description="The error message (503: \"Service Unavailable Error\").")


class GatewayError(BaseModel):
    """go's AI error body (respondJsonError)."""

    error: GatewayErrorMessage


class VideoResponse(BaseModel):
    """image-to-video through go's gateway: one MP4 per batch, at a URL of the gateway."""

    images: List[Media] = Field(..., description="The generated videos (URLs of MP4 files).")


class AsyncRequest(BaseModel):
    """202 answer to `Prefer: respond-async`, and the body of /image-to-video/result."""

    request_id: str


class AsyncResult(BaseModel):
    """/image-to-video/result: 202 "processing", then 200 "complete" with the result."""

    status: Literal["processing", "complete"]
    result: Optional[Any] = Field(None, description="The VideoResponse, or a GatewayError.")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def ai_document(version: str = "undefined") -> dict:
    """The document of the nine batch routes (built from the runner's routers, then go's
    differences applied)."""
    routes = [r for make in PIPELINE_ROUTERS.values() for r in make().routes]
    doc = openapi_document(routes, title=TITLE, description=DESCRIPTION, version=version)
    schemas = doc["components"]["schemas"]
    for model in (GatewayError, VideoResponse, AsyncRequest, AsyncResult):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for name in ("HTTPError", "APIError", "HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    # go's gateway writes audio-to-text's `metadata` itself (the duration it measured)
    del schemas["Body_genAudioToText"]["properties"]["metadata"]
    # go's LLM handler: 400 "missing required fields" without these (the runner defaults them)
    schemas["LLMRequest"]["required"] = ["messages", "model", "stream", "max_tokens"]
    for path, item in doc["paths"].items():
        op = item["post"]
        ok = op["responses"]["200"]
        op["responses"] = {"200": ok, **{code: _json("GatewayError", text) for code, text in ERRORS.items()}}
        if path == "/image-to-video":
            ok["content"]["application/json"]["schema"].update(_ref("VideoResponse"))
            op["parameters"] = [{"name": "Prefer", "in": "header", "required": False,
                                 "schema": {"type": "string", "enum": ["respond-async"]},
                                 "description": "respond-async: answer 202 at once; the result is "
                                                "read at /image-to-video/result."}]
            op["responses"]["202"] = _json("AsyncRequest", "Accepted (Prefer: respond-async)")
        if path == "/llm":
            ok["content"]["text/event-stream"] = {"schema": {"type": "string"}}
    result = {"requestBody": {"required": True, "content": {"application/json": {"schema": _ref("AsyncRequest")}}},
              "responses": {"200": _json("AsyncResult", "Complete"), "202": _json("AsyncResult", "Processing"),
                            "400": _json("GatewayError", "Bad Request")}}
    doc["paths"]["/image-to-video/result"] = {
        method: {**result, "summary": "Image To Video Result", "operationId": f"imageToVideoResult{suffix}"}
        for method, suffix in (("post", ""), ("get", "Get"))}
    return doc


def gateway_openapi(app, version: str = "undefined") -> dict:
    """The app's document: the AI routes from ai_document, every other route as FastAPI sees it."""
    if app.openapi_schema is None:
        doc = ai_document(version)
        other = [r for r in app.routes if getattr(r, "path", None) not in doc["paths"]]
        with warnings.catch_warnings():  # a route on several methods (go's mux) shares its id
            warnings.simplefilter("ignore", UserWarning)
            rest = get_openapi(title=TITLE, version=version, routes=other)
        for path, item in rest["paths"].items():
            doc["paths"].setdefault(path, item)
        for name, schema in rest.get("components", {}).get("schemas", {}).items():
            doc["components"]["schemas"].setdefault(name, schema)
        app.openapi_schema = doc
    return app.openapi_schema
