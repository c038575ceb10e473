"""Routes that document themselves: each service serves its own OpenAPI 3.1 document.

```python
api = Api("order", "Orders, kitchen queue and history")

@api.post("/orders", body=PlaceOrder, response=OrderView, status=201,
          summary="Place an order", errors=(404, 409, 422))
async def place_order(request: web.Request) -> web.Response: ...

api.install(app)   # adds the routes and GET /openapi.json
```

Request and response schemas come from the pydantic models, so the document cannot drift
from what the handlers validate. Every documented error uses the shared error envelope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ERROR_DESCRIPTIONS = {
    400: "Malformed request (e.g. body is not JSON)",
    401: "Missing or invalid access token",
    403: "Authenticated, but not allowed (role or tenant)",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Body larger than the limit",
    415: "Body is not application/json",
    422: "A field is invalid; details.fields names each",
    429: "Rate limited",
    502: "An upstream answered badly",
    503: "A dependency is unavailable",
    504: "An upstream timed out",
}

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["status", "error"],
    "properties": {
        "status": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        },
    },
}


@dataclass
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    tags: tuple[str, ...]
    auth: bool
    query: tuple[tuple[str, str, str], ...]
    upsert: bool = False


@dataclass
class Api:
    service: str
    description: str = ""
    version: str = "0.1.0"
    operations: list[Operation] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        errors: Iterable[int] = (),
        tags: Iterable[str] = (),
        auth: bool = True,
        query: Iterable[tuple[str, str, str]] = (),
        upsert: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register a handler. ``query`` lists ``(name, type, description)`` parameters;
        ``upsert`` documents a PUT that answers 201 when it created the resource and 200
        when it replaced it (both with the success schema)."""

        def register(handler: Handler) -> Handler:
            default_errors = {401, 403} if auth else set()
            if body is not None:
                default_errors |= {400, 413, 415, 422}
            # Every id in the path may name nothing (404: the resource, an outlet, a
            # franchise), and every query parameter may be refused (422 naming it).
            if _path_params(path):
                default_errors.add(404)
            if query:
                default_errors.add(422)
            self.operations.append(
                Operation(
                    method.upper(),
                    path,
                    handler,
                    summary,
                    body,
                    response,
                    status,
                    tuple(sorted(set(errors) | default_errors)),
                    tuple(tags) or (self.service,),
                    auth,
                    tuple(query),
                    upsert,
                )
            )
            return handler

        return register

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)

    def install(self, app: web.Application) -> None:
        for op in self.operations:
            app.router.add_route(op.method, op.path, op.handler)
        document = self.document()

        async def openapi(_: web.Request) -> web.Response:
            return web.json_response(document)

        app.router.add_get("/openapi.json", openapi)

    def document(self) -> dict[str, Any]:
        schemas: dict[str, Any] = {"Error": ERROR_ENVELOPE}
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            entry: dict[str, Any] = {
                "summary": op.summary,
                "operationId": op.handler.__name__,
                "tags": list(op.tags),
                "responses": {},
            }
            params = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _path_params(op.path)
            ]
            params += [
                {
                    "name": n,
                    "in": "query",
                    "required": False,
                    "schema": _query_schema(t),
                    "description": d,
                }
                for n, t, d in op.query
            ]
            if params:
                entry["parameters"] = params
            if op.auth:
                entry["security"] = [{"bearer": []}]
            if op.body is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(op.body, schemas)}},
                }
            ok_schema: dict[str, Any] = {
                "type": "object",
                "required": ["status", "data"],
                "properties": {"status": {"const": "success"}},
            }
            if op.response is not None:
                ok_schema["properties"]["data"] = _ref(op.response, schemas)
            success = {"application/json": {"schema": ok_schema}}
            entry["responses"][str(op.status)] = {"description": "Success", "content": success}
            if op.upsert:
                entry["responses"]["200"] = {"description": "Replaced", "content": success}
                entry["responses"]["201"] = {"description": "Created", "content": success}
            for code in op.errors:
                entry["responses"][str(code)] = {
                    "description": ERROR_DESCRIPTIONS.get(code, "Error"),
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            paths.setdefault(op.path, {})[op.method.lower()] = entry
        bearer = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        return {
            "openapi": "3.1.0",
            "info": {
                "title": f"BobaKu {self.service}",
                "version": self.version,
                "description": self.description,
            },
            "paths": paths,
            "components": {"schemas": schemas, "securitySchemes": {"bearer": bearer}},
        }


# Query parameter types beyond JSON Schema's own: a string in a format.
QUERY_FORMATS = {"date": "date", "date-time": "date-time"}


def _query_schema(kind: str) -> dict[str, Any]:
    if kind in QUERY_FORMATS:
        return {"type": "string", "format": QUERY_FORMATS[kind]}
    return {"type": kind}


def _path_params(path: str) -> list[str]:
    out = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            out.append(part[1:-1].split(":")[0])
    return out


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}
