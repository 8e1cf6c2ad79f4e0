"""The OpenAPI document made to match what the gateway really answers.

FastAPI documents a 422 for every validated input; the gateway answers bad input with an
OpenAI-shaped 400 instead (api/errors.py), a wrong content type with 415, an unknown path
parameter with 404, and the chat routes stream Server-Sent Events when `stream` is true.
"""

from __future__ import annotations

from typing import Any

from annas_gift.api.schemas.openai import ErrorResponse

STREAMING_ROUTES = ("/v1/chat/completions", "/api/v1/chat")
# Routes whose bodies `routes/common.read_body` parses: they answer 415 for a non-JSON type.
STRICT_JSON_ROUTES = (*STREAMING_ROUTES, "/api/v1/classify")
_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}
_DESCRIPTIONS = {
    "400": "Invalid request (the field is named in `error.param`)",
    "401": "Missing or unknown gateway key",
    "403": "A client key on an admin route (insufficient_permissions)",
    "404": "Not found (e.g. a model the catalog lacks)",
    "413": "Request body too large",
    "409": "A key with that name already exists",
    "415": "Unsupported Content-Type (send application/json)",
    "429": "Rate limited (see Retry-After)",
    "502": "The provider failed",
    "503": "No model could serve the request, or a service is down",
    "504": "The provider timed out",
}
# Admin routes: a client key gets 403, no key 401; creating or renaming a key may conflict.
ADMIN_ROUTES = ("/api/v1/keys", "/api/v1/vpn")
KEY_ROUTES = ("/api/v1/keys",)
# Bodies that name something which may not exist (not a path parameter).
_NAMES_IN_BODY = ("/api/v1/vpn/rotate",)
# What a chat request can end in, whichever of the chat routes it went to.
_CHAT_ERRORS = ("400", "401", "404", "413", "415", "429", "502", "503", "504")


def _error(code: str) -> dict[str, Any]:
    return {"description": _DESCRIPTIONS[code], "content": {"application/json": {"schema": _ERROR}}}


def _admin_errors(path: str, has_body: bool, responses: dict[str, Any]) -> None:
    codes = ["401", "403"]
    if has_body:
        codes.append("415")  # `api.deps.JsonBody`
        if path.startswith(KEY_ROUTES):
            codes.append("409")
    for code in codes:
        responses.setdefault(code, _error(code))


def match_behaviour(spec: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the responses of every operation in `spec` in place; returns `spec`."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas.setdefault("ErrorResponse", error_schema)
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            params = operation.get("parameters", [])
            if params or "requestBody" in operation:
                responses.setdefault("400", _error("400"))
            if path in _NAMES_IN_BODY or any(p.get("in") == "path" for p in params):
                responses.setdefault("404", _error("404"))
            if path.startswith(ADMIN_ROUTES):
                _admin_errors(path, "requestBody" in operation, responses)
            if path in STRICT_JSON_ROUTES and "requestBody" in operation:
                for code in _CHAT_ERRORS:
                    responses.setdefault(code, _error(code))
            if path in STREAMING_ROUTES and "200" in responses:
                content = responses["200"].setdefault("content", {})
                content["text/event-stream"] = {
                    "schema": {  # one event: `data:` a JSON chunk, and last `data: [DONE]`
                        "type": "object",
                        "properties": {"data": {"type": "string"}},
                        "required": ["data"],
                    }
                }
    return spec
