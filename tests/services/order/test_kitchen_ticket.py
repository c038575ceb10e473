"""The kitchen's ticket: what ``order.being_prepared`` carries and what
``GET /outlets/{id}/kitchen`` serves, on the in-memory fakes (no servers)."""

from __future__ import annotations

from order_testing import OUTLET, quote_line, world
from test_handlers import CUSTOMER, STAFF, paid, place

from bobaku.kernel.events import default_registry
from bobaku.services.order.domain import kitchen
from bobaku.services.order.domain.commands import MoveInKitchen
from bobaku.services.order.service_layer import handlers
from bobaku.services.order.service_layer.views import read_model

LINE = {
    "menu_id": "m001",
    "name": "Brown Sugar Boba Milk Tea",
    "quantity": 2,
    "station": "tea_bar",
    "sugar_level": 50,
    "ice_level": 30,
    "toppings": ["Pearl"],
}


async def test_being_prepared_carries_each_line_with_its_station_levels_and_topping_names() -> None:
    w = world(
        lines=[
            quote_line(),
            {
                **quote_line("m014", 1, 22000),
                "name": "Mango Smoothie",
                "station": "blender",
                "customizations": {"sugar_level": None, "ice_level": 0, "toppings": []},
            },
        ]
    )
    order = await handlers.place_order(w.ctx, CUSTOMER, place())
    await paid(w, order.id)
    [event] = [e for e in w.orders.streams[w.orders.subject(order.franchise_id, order.id)]
               if e.type == "order.being_prepared"]  # fmt: skip
    assert event.version == "1.1"
    default_registry().validate(event)  # the published contract, not only this test's reading
    assert event.data["lines"] == [
        LINE,
        {
            "menu_id": "m014",
            "name": "Mango Smoothie",
            "quantity": 1,
            "station": "blender",
            "sugar_level": None,
            "ice_level": 0,
            "toppings": [],
        },
    ]


async def test_the_read_models_ticket_keeps_its_start_through_bump_and_recall() -> None:
    w = world()
    order = await handlers.place_order(w.ctx, CUSTOMER, place())
    assert kitchen.ticket(order) is None  # unpaid: not the kitchen's yet
    await paid(w, order.id)
    preparing = await handlers.find_order(w.ctx, order.id)
    ticket = read_model(preparing)["ticket"]
    started = preparing.history[-1]["timestamp"]
    assert ticket == {
        "order_id": order.id,
        "outlet_id": OUTLET,
        "status": "being_prepared",
        "started_at": started,
        "ready_at": None,
        "estimated_completion": preparing.estimated_completion,
        "stations": ["tea_bar"],
        "lines": [LINE],
    }

    ready = await handlers.kitchen_step(w.ctx, STAFF, MoveInKitchen(order.id, "bump"))
    bumped = kitchen.ticket(ready)
    assert bumped is not None
    assert bumped["status"] == "ready"
    assert bumped["ready_at"] == ready.history[-1]["timestamp"]
    assert bumped["started_at"] == started

    back = await handlers.kitchen_step(w.ctx, STAFF, MoveInKitchen(order.id, "recall"))
    recalled = kitchen.ticket(back)
    assert recalled is not None
    assert (recalled["status"], recalled["ready_at"]) == ("being_prepared", None)
    assert recalled["started_at"] == started  # a recall does not restart the SLA clock

    done = await handlers.kitchen_step(w.ctx, STAFF, MoveInKitchen(order.id, "bump"))
    done = await handlers.kitchen_step(w.ctx, STAFF, MoveInKitchen(order.id, "complete"))
    assert kitchen.ticket(done) is None
