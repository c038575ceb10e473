"""Self-documenting routes: the OpenAPI document follows the handlers' models."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel, Field

from bobaku.kernel.openapi import Api
from bobaku.kernel.settings import Settings
from bobaku.kernel.web import RequestBody, create_app, ok, read_json


class Topping(BaseModel):
    name: str
    price: int


class NewItem(RequestBody):
    name: str = Field(min_length=1)
    toppings: list[str] = []


class ItemView(BaseModel):
    id: str
    name: str
    toppings: list[Topping]


api = Api("menu", "Catalog")


@api.post("/items", body=NewItem, response=ItemView, status=201, summary="Add an item")
async def add_item(request: web.Request) -> web.Response:
    body = await read_json(request, NewItem)
    return ok({"id": "m1", "name": body.name, "toppings": []}, status=201)


@api.get("/items/{item_id}", response=ItemView, summary="One item", errors=(404,), auth=False)
async def get_item(request: web.Request) -> web.Response:
    return ok({"id": request.match_info["item_id"], "name": "Taro", "toppings": []})


async def test_the_document_describes_routes_bodies_and_errors(settings: Settings) -> None:
    app = create_app(settings)
    api.install(app)
    async with TestClient(TestServer(app)) as client:
        doc: dict[str, Any] = await (await client.get("/openapi.json")).json()
        created = await client.post("/items", json={"name": "Taro"})
        assert created.status == 201
    assert doc["openapi"] == "3.1.0"
    post = doc["paths"]["/items"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewItem"
    }
    assert set(post["responses"]) == {"201", "400", "401", "403", "413", "415", "422"}
    assert post["security"] == [{"bearer": []}]
    get = doc["paths"]["/items/{item_id}"]["get"]
    assert get["parameters"][0]["name"] == "item_id"
    assert set(get["responses"]) == {"200", "404"}
    assert "security" not in get
    schemas = doc["components"]["schemas"]
    assert {"NewItem", "ItemView", "Topping", "Error"} <= set(schemas)
    assert schemas["NewItem"]["properties"]["name"]["minLength"] == 1


def test_an_id_in_the_path_documents_a_404_and_a_query_a_422() -> None:
    docs = Api("order")

    @docs.get("/outlets/{outlet_id}/orders", summary="x", query=(("status", "string", "s"),))
    async def outlet_orders(request: web.Request) -> web.Response:
        return ok({})

    @docs.get("/orders", summary="y")
    async def orders(request: web.Request) -> web.Response:
        return ok({})

    paths = docs.document()["paths"]
    assert set(paths["/outlets/{outlet_id}/orders"]["get"]["responses"]) == {
        "200",
        "401",
        "403",
        "404",
        "422",
    }
    assert set(paths["/orders"]["get"]["responses"]) == {"200", "401", "403"}


def test_an_upsert_documents_both_created_and_replaced() -> None:
    docs = Api("supply")

    @docs.put("/suppliers/{supplier_id}", summary="x", upsert=True)
    async def put_supplier(request: web.Request) -> web.Response:
        return ok({})

    @docs.put("/outlets/{outlet_id}/hours", summary="y")
    async def put_hours(request: web.Request) -> web.Response:
        return ok({})

    paths = docs.document()["paths"]
    upsert = paths["/suppliers/{supplier_id}"]["put"]["responses"]
    assert {"200", "201"} <= set(upsert)
    assert upsert["201"]["content"] == upsert["200"]["content"]
    assert "201" not in paths["/outlets/{outlet_id}/hours"]["put"]["responses"]


def test_a_date_query_parameter_is_a_string_in_the_date_format() -> None:
    docs = Api("analytics")

    @docs.get("/sales", summary="x", query=(("from", "date", "first day"),))
    async def sales(request: web.Request) -> web.Response:
        return ok({})

    (param,) = docs.document()["paths"]["/sales"]["get"]["parameters"]
    assert param["schema"] == {"type": "string", "format": "date"}
