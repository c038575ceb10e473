"""One OpenAPI document for the whole public API, and a Swagger UI page for it.

Each upstream serves its own ``/openapi.json``; the gateway rewrites their paths into its
public form (``/orders`` → ``/api/v1/orders``), drops internal ones, and merges them.
"""

from __future__ import annotations

import time
from typing import Any

from bobaku.kernel.client import ServiceClient
from bobaku.services.gateway.routing import match

# Swagger UI's assets come from the swagger-ui-bundle-v2 package (served by the gateway
# under SWAGGER_ASSETS), so the API docs need no network beyond the gateway.
SWAGGER_ASSETS = "/api/docs/assets"
SWAGGER_PAGE = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>BobaKu API</title>
<link rel="stylesheet" href="{SWAGGER_ASSETS}/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="{SWAGGER_ASSETS}/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "/api/v1/openapi.json", dom_id: "#ui"}});</script>
</body></html>"""


_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
RATE_LIMITED = {
    "description": "Too many requests (per client, per account on login)",
    "headers": _RETRY_AFTER,
    "content": _ERROR,
}
UNAVAILABLE = {
    "description": "A service or data server is unavailable; retry later",
    "headers": _RETRY_AFTER,
    "content": _ERROR,
}


class ApiDocs:
    def __init__(self, upstreams: dict[str, ServiceClient], ttl_s: float = 30.0) -> None:
        self.upstreams = upstreams
        self.ttl_s = ttl_s
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def document(self, own: dict[str, Any]) -> dict[str, Any]:
        if self._cached and time.monotonic() - self._cached[0] < self.ttl_s:
            return self._cached[1]
        merged: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": "BobaKu API", "version": own["info"]["version"]},
            "paths": {},
            "components": {"schemas": {}, "securitySchemes": own["components"]["securitySchemes"]},
            "x-unavailable": [],
        }
        for name, client in self.upstreams.items():
            try:
                reply = await client.call("GET", "/openapi.json")
                doc = reply.json() if reply.status == 200 else None
            except Exception:
                doc = None
            if not isinstance(doc, dict):
                merged["x-unavailable"].append(name)
                continue
            for path, ops in doc.get("paths", {}).items():
                public = (
                    "/webhooks" + path[len("/webhooks") :]
                    if path.startswith("/webhooks")
                    else f"/api/v1{path}"
                )
                route = match(public.replace("{", "").replace("}", ""))
                if path.startswith("/internal") or route is None or route.service != name:
                    continue
                merged["paths"].setdefault(public, {}).update(ops)
            merged["components"]["schemas"].update(
                (doc or {}).get("components", {}).get("schemas", {})
            )
        # The gateway's own routes (the composite order view) describe what clients get.
        for path, ops in own["paths"].items():
            merged["paths"].setdefault(path, {}).update(ops)
        # What the gateway itself may answer on any route: its rate limits (429 with
        # Retry-After) and an upstream that is down or shedding load (503).
        for ops in merged["paths"].values():
            for op in ops.values():
                if isinstance(op, dict) and "responses" in op:
                    op["responses"].setdefault("429", RATE_LIMITED)
                    op["responses"].setdefault("503", UNAVAILABLE)
        self._cached = (time.monotonic(), merged)
        return merged
