"""A small async client for the Kubernetes API, on aiohttp.

The operator needs a handful of verbs: get, list by label, server-side apply, merge-patch of
status, delete, and a few raw posts. Server-side apply (``PATCH`` with
``application/apply-patch+yaml``, one field manager, ``force``) is what makes reconciling
idempotent: applying the same desired object twice changes nothing, and applying it after
someone edited or deleted the object puts it back.

Resources are addressed by ``apiVersion`` and ``kind``, as they appear in manifests; their
URL paths come from API discovery, asked once per group-version and kept for the life of
the client (a cache of the cluster's API shape, not of any object).

Credentials come from the kubeconfig (``KUBECONFIG``) or, inside a pod, from the service
account; they are loaded by the ``kubernetes`` package, which knows every kubeconfig form,
and reloaded once when the server answers 401 (projected service-account tokens rotate).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

Manifest = dict[str, Any]
MAX_THROTTLED = 10


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 1), 0.1), 10.0)
    except ValueError:
        return 1.0


class KubeError(Exception):
    """The API server refused a request; ``status`` and ``reason`` are the server's."""

    def __init__(self, status: int, reason: str, message: str, body: Any = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    pass


class Forbidden(KubeError):
    pass


class Invalid(KubeError):
    """422: the object does not pass the schema, a CEL rule or a field validation."""


def _error_for(status: int, body: Any, text: str) -> KubeError:
    reason = body.get("reason", "") if isinstance(body, dict) else ""
    message = body.get("message", text) if isinstance(body, dict) else text
    cls = {404: NotFound, 409: Conflict, 403: Forbidden, 422: Invalid}.get(status, KubeError)
    return cls(status, reason or str(status), message, body)


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and who we are to it."""

    server: str
    ca_path: str | None = None
    cert_path: str | None = None
    key_path: str | None = None
    token: str | None = None
    insecure: bool = False

    @classmethod
    def load(cls, kubeconfig: Path | None = None) -> Credentials:
        """From ``kubeconfig`` if given, else in-cluster, else the default kubeconfig."""
        import kubernetes.client
        import kubernetes.config

        config = kubernetes.client.Configuration()
        if kubeconfig is not None:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), client_configuration=config, persist_config=False
            )
        else:
            try:
                kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=config
                )
            except kubernetes.config.ConfigException:
                kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                    client_configuration=config, persist_config=False
                )
        header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix(
            "authorization"
        )
        token = header.split(" ", 1)[-1] if header else None
        return cls(
            server=str(config.host).rstrip("/"),
            ca_path=config.ssl_ca_cert or None,
            cert_path=config.cert_file or None,
            key_path=config.key_file or None,
            token=token,
            insecure=not config.verify_ssl,
        )

    def ssl_context(self) -> ssl.SSLContext | bool:
        if self.insecure:
            return False
        context = ssl.create_default_context(cafile=self.ca_path)
        if self.cert_path and self.key_path:
            context.load_cert_chain(self.cert_path, self.key_path)
        return context


@dataclass(frozen=True)
class ResourceInfo:
    plural: str
    namespaced: bool


def api_prefix(api_version: str) -> str:
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


class Kube:
    """One connection pool to the API server; use as ``async with Kube(...) as kube``."""

    def __init__(
        self,
        credentials: Callable[[], Credentials],
        *,
        field_manager: str = "bobaku-operator",
        timeout_s: float = 30.0,
    ) -> None:
        self._load_credentials = credentials
        self._credentials = credentials()
        self.field_manager = field_manager
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._resources: dict[tuple[str, str], ResourceInfo] = {}
        self._discovery_lock = asyncio.Lock()

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._credentials.ssl_context(), limit=64)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    # ------------------------------------------------------------------ raw requests ---

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Any:
        reauthenticated = False
        throttled = 0
        while True:
            headers = {"Accept": accept}
            if self._credentials.token:
                headers["Authorization"] = f"Bearer {self._credentials.token}"
            data = None
            if body is not None:
                headers["Content-Type"] = content_type
                data = json.dumps(body)
            session = self._open()
            url = self._credentials.server + path
            async with session.request(
                method, url, params=params, data=data, headers=headers
            ) as response:
                text = await response.text()
                if response.status == 401 and not reauthenticated:
                    reauthenticated = True
                    await self._reload_credentials()
                    continue
                if response.status == 429 and throttled < MAX_THROTTLED:
                    # API priority and fairness: come back when the server says.
                    throttled += 1
                    await asyncio.sleep(_retry_after(response.headers.get("Retry-After")))
                    continue
                try:
                    payload = json.loads(text) if text else None
                except json.JSONDecodeError:
                    payload = None
                if response.status >= 400:
                    raise _error_for(response.status, payload, text)
                return payload

    async def _reload_credentials(self) -> None:
        self._credentials = await asyncio.to_thread(self._load_credentials)
        await self.close()

    # ---------------------------------------------------------------------- discovery ---

    async def resource(self, api_version: str, kind: str) -> ResourceInfo:
        key = (api_version, kind)
        if key not in self._resources:
            async with self._discovery_lock:
                if key not in self._resources:
                    listing = await self.request("GET", api_prefix(api_version))
                    for entry in listing.get("resources", []):
                        if "/" not in entry["name"]:
                            self._resources[(api_version, entry["kind"])] = ResourceInfo(
                                entry["name"], bool(entry["namespaced"])
                            )
        if key not in self._resources:
            raise NotFound(404, "NotFound", f"the server has no resource {kind} in {api_version}")
        return self._resources[key]

    async def path(
        self,
        api_version: str,
        kind: str,
        name: str | None = None,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> str:
        info = await self.resource(api_version, kind)
        parts = [api_prefix(api_version)]
        if info.namespaced:
            if not namespace:
                raise ValueError(f"{kind} is namespaced: give a namespace")
            parts.append(f"namespaces/{quote(namespace)}")
        parts.append(info.plural)
        if name is not None:
            parts.append(quote(name))
        if subresource is not None:
            parts.append(subresource)
        return "/".join(parts)

    # --------------------------------------------------------------------------- verbs ---

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Manifest | None:
        try:
            result: Manifest = await self.request(
                "GET", await self.path(api_version, kind, name, namespace)
            )
        except NotFound:
            return None
        return result

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[Manifest]:
        """Every object of a kind (in ``namespace``, or everywhere), optionally selected."""
        info = await self.resource(api_version, kind)
        if info.namespaced and namespace:
            path = f"{api_prefix(api_version)}/namespaces/{quote(namespace)}/{info.plural}"
        else:
            path = f"{api_prefix(api_version)}/{info.plural}"
        params: dict[str, str] = {"limit": "500"}
        if labels:
            params["labelSelector"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        if fields:
            params["fieldSelector"] = ",".join(f"{k}={v}" for k, v in sorted(fields.items()))
        items: list[Manifest] = []
        while True:
            page = await self.request("GET", path, params=params)
            for item in page.get("items", []):
                # Lists omit each item's apiVersion and kind; put them back.
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                items.append(item)
            token = page.get("metadata", {}).get("continue")
            if not token:
                return items
            params["continue"] = token

    async def apply(
        self, manifest: Manifest, *, force: bool = True, dry_run: bool = False
    ) -> Manifest:
        """Server-side apply: create the object or bring the fields we manage to ``manifest``."""
        meta = manifest["metadata"]
        path = await self.path(
            manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace")
        )
        params = {"fieldManager": self.field_manager, "force": "true" if force else "false"}
        if dry_run:
            params["dryRun"] = "All"
        result: Manifest = await self.request(
            "PATCH", path, params=params, body=manifest, content_type="application/apply-patch+yaml"
        )
        return result

    async def create(self, manifest: Manifest, *, dry_run: bool = False) -> Manifest:
        meta = manifest["metadata"]
        path = await self.path(
            manifest["apiVersion"], manifest["kind"], None, meta.get("namespace")
        )
        params = {"dryRun": "All"} if dry_run else None
        result: Manifest = await self.request("POST", path, params=params, body=manifest)
        return result

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Manifest,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> Manifest:
        """JSON merge patch; put ``metadata.resourceVersion`` in it to make it conditional."""
        path = await self.path(api_version, kind, name, namespace, subresource)
        result: Manifest = await self.request(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )
        return result

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
    ) -> bool:
        """Delete; ``False`` when there was nothing to delete."""
        path = await self.path(api_version, kind, name, namespace)
        try:
            await self.request(
                "DELETE",
                path,
                body={
                    "kind": "DeleteOptions",
                    "apiVersion": "v1",
                    "propagationPolicy": propagation,
                },
            )
        except NotFound:
            return False
        return True
