"""A franchise database made by the operator takes what the silo services write into it.

The operator creates the indexes the writers declare (imported, not copied). On a real
MongoDB a unique index on a field the writer never sets treats every document as ``null``
there, so the second document fails; FerretDB 1.24 accepts it, so this checks that no
declared index is unique. Orders and payments keep their read models in Redis (the storage
rule of docs/architecture.md): projecting two of each leaves this database alone.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from support import seed_order_data

from bobaku.kernel.db import Databases
from bobaku.kernel.events import new_event
from bobaku.kernel.listings import Listings
from bobaku.kernel.settings import Settings
from bobaku.operator.database import TenantDatabases
from bobaku.operator.model import Franchise
from bobaku.operator.plan import FRANCHISE_INDEXES, SILO_INDEXES, Environment, plan_database
from bobaku.services.order.domain.model import Order, apply
from bobaku.services.order.service_layer.views import OrderViews
from bobaku.services.payment.adapters.read_models import PaymentViews


def test_the_operator_creates_exactly_the_writers_declarations() -> None:
    franchise_specs = [s for s in SILO_INDEXES if s.scope == "franchise"]
    assert FRANCHISE_INDEXES.specs == franchise_specs
    assert all(s.collection not in ("orders", "payments") for s in SILO_INDEXES)


def _order(franchise_id: str, n: int) -> Order:
    created = new_event(
        "order.created",
        seed_order_data(
            order_id=f"ord-{n}",
            franchise_id=franchise_id,
            user_id=f"cust-{n}",
            outlet_id="outlet-1",
            lines=[
                {
                    "menu_id": "m001",
                    "name": "Brown Sugar Boba",
                    "unit_price": 28000,
                    "quantity": 1,
                    "customizations": {},
                    "subtotal": 28000,
                    "station": "tea",
                }
            ],
        ),
        source="order-service",
        tenant=franchise_id,
    )
    order = apply(Order(id=f"ord-{n}"), created)
    order.version = 1
    return order


def _payment(franchise_id: str, n: int) -> dict[str, object]:
    return {
        "intent_id": f"pi-{n}",
        "order_id": f"ord-{n}",
        "franchise_id": franchise_id,
        "outlet_id": "outlet-1",
        "amount": 28000,
        "provider": "gopay",
        "status": "completed",
    }


async def test_an_operator_made_database_is_all_the_silo_services_need_of_mongodb(
    settings: Settings, databases: Databases, redis: Any
) -> None:
    franchise_id = f"fr-{secrets.token_hex(3)}"
    franchise = Franchise.from_body(
        {
            "metadata": {"name": franchise_id, "uid": "u-1", "generation": 1},
            "spec": {"displayName": "Test"},
        }
    )
    plan = plan_database(franchise, Environment(db_prefix=settings.mongodb_db_prefix))
    outcome = await TenantDatabases(databases).ensure(plan, secrets.token_hex(8))
    assert outcome.created
    db = databases.client[plan.name]
    assert db.name == (await databases.franchise(franchise_id)).name
    assert plan.name in await databases.client.list_database_names()

    # Orders and payments project into Redis (the storage rule), not into this database.
    namespace = f"test-{secrets.token_hex(4)}"
    orders = OrderViews(Listings(redis, f"{namespace}:order:views"))
    payments = PaymentViews(Listings(redis, f"{namespace}:payment:payments"))
    for n in (1, 2):
        assert await orders.project(_order(franchise_id, n))
        await payments.save(franchise_id, _payment(franchise_id, n), datetime.now(UTC), 1)
    queue = await orders.outlet_page(
        franchise_id, "outlet-1", status=None, date=None, start=0, limit=10
    )
    assert {o["id"] for o in queue} == {"ord-1", "ord-2"}
    listed = await payments.page(
        franchise_id, outlets=None, status=None, provider=None, limit=10, after=None
    )
    assert {p["intent_id"] for p in listed} == {"pi-1", "pi-2"}
    assert not {"orders", "payments"} & set(await db.list_collection_names())

    # What a real MongoDB would refuse: a unique index on a field the writer leaves out.
    for collection, models in FRANCHISE_INDEXES.for_scope("franchise").items():
        assert not any(m.document.get("unique") for m in models), collection
        declared = {m.document["name"] for m in models}
        present = {ix["name"] async for ix in await db[collection].list_indexes()}
        assert declared <= present
