"""Seed the demo brand: 2 franchises, 5 outlets, the menu, customers and staff.

Each service owns its data and its seed (``bobaku.services.<name>.seed.seed_demo``); this
script runs them in dependency order with that service's own settings. Every seed is
idempotent, so `make run` calls it on every start.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from bobaku.kernel.settings import Settings

ORDER = ("customer", "menu", "supply", "payment", "order")


def settings_of(env: Mapping[str, str]) -> Settings:
    """The settings a process started with ``env`` (on top of ours) would read."""
    fields = {k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields}
    return Settings(**fields)


async def seed_demo_brand(envs: Mapping[str, Mapping[str, str]]) -> list[str]:
    seeded = []
    for name in ORDER:
        if name not in envs:
            continue
        try:
            module = importlib.import_module(f"bobaku.services.{name}.seed")
        except ModuleNotFoundError:
            continue
        await module.seed_demo(settings_of(envs[name]))
        seeded.append(name)
    print(f"[seed] demo brand loaded by: {', '.join(seeded) or 'nothing yet'}", flush=True)
    return seeded
