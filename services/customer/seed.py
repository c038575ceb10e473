"""Demo users and loyalty histories: ``python -m bobaku.services.customer.seed``.

Idempotent: users are matched by email (the unique index makes two seeds racing on one
address harmless), and a customer's ledger history is written only when the ledger is
empty, in one atomic append at sequence 0. Every demo account's password is
``bobaku-demo-123`` (docs/api/customer.md lists the accounts).

Loyalty histories are played through the same domain decisions the service uses, dated in
the past, so tier changes and balances are exactly what the rules give: Rina Wijaya ends
up gold (1,680 points earned in the last year) with 1,230 points to spend.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from bobaku.kernel.auth import Role
from bobaku.kernel.bus import EventBus
from bobaku.kernel.db import Databases
from bobaku.kernel.errors import ConcurrencyConflict
from bobaku.kernel.settings import Settings
from bobaku.kernel.telemetry import configure_logging
from bobaku.services.customer.adapters.loyalty_ledger import LedgerStore
from bobaku.services.customer.adapters.passwords import PasswordHasher
from bobaku.services.customer.adapters.users import UserRepository
from bobaku.services.customer.bootstrap import indexes, password_hasher
from bobaku.services.customer.domain import loyalty
from bobaku.services.customer.domain.errors import EmailTaken
from bobaku.services.customer.domain.events import LoyaltyEvent
from bobaku.services.customer.domain.loyalty import Ledger
from bobaku.services.customer.domain.users import (
    Language,
    User,
    new_customer,
    new_user_id,
    staff_member,
)
from bobaku.services.customer.settings import CustomerSettings

log = logging.getLogger(__name__)

# B105: the demo accounts' documented password (docs/api/customer.md), seeded by `make run` only
DEMO_PASSWORD = "bobaku-demo-123"  # nosec B105

FRANCHISE_OUTLETS: dict[str, tuple[str, ...]] = {
    "fr-jakarta": ("outlet-01", "outlet-02", "outlet-03", "outlet-06"),
    "fr-bandung": ("outlet-04", "outlet-05"),
}


@dataclass(frozen=True)
class Earn:
    days_ago: int
    amount: int
    order: str


@dataclass(frozen=True)
class Redeem:
    days_ago: int
    reward_ids: tuple[str, ...]
    order: str


@dataclass(frozen=True)
class DemoCustomer:
    email: str
    name: str
    phone: str | None
    language: Language
    history: tuple[Earn | Redeem, ...] = ()


@dataclass(frozen=True)
class DemoStaff:
    email: str
    name: str
    role: Role
    franchise_id: str | None = None
    outlet_ids: tuple[str, ...] = ()


CUSTOMERS: tuple[DemoCustomer, ...] = (
    # Gold: 1,680 points earned over the last ten months, 450 spent on rewards -> 1,230.
    DemoCustomer(
        "rina@example.com",
        "Rina Wijaya",
        "+62 812-3456-7890",
        "id",
        (
            Earn(290, 185_000, "a"),
            Earn(250, 240_500, "b"),
            Earn(220, 96_000, "c"),  # 521 earned: silver
            Redeem(180, ("rw-free-topping",), "d"),
            Earn(180, 310_000, "d"),  # earned and redeemed in the same order
            Earn(140, 152_300, "e"),
            Earn(100, 228_000, "f"),
            Redeem(60, ("rw-10k-off",), "g"),
            Earn(60, 175_900, "g"),
            Earn(20, 294_000, "h"),  # 1,680 earned: gold
        ),
    ),
    # Silver: 620 earned, 150 spent -> 470.
    DemoCustomer(
        "budi@example.com",
        "Budi Santoso",
        "+62 813-2222-0101",
        "id",
        (
            Earn(200, 210_000, "a"),
            Earn(120, 265_000, "b"),
            Redeem(30, ("rw-free-topping",), "c"),
            Earn(30, 145_500, "c"),
        ),
    ),
    DemoCustomer(
        "siti@example.com",
        "Siti Rahmawati",
        None,
        "id",
        (Earn(45, 68_000, "a"), Earn(10, 52_000, "b")),
    ),
    DemoCustomer("andi@example.com", "Andi Pratama", "+62 811-7000-555", "en"),
)


def _staff() -> tuple[DemoStaff, ...]:
    staff = [
        DemoStaff("hq@bobaku.id", "Dewi Lestari", Role.HQ_ADMIN),
        DemoStaff("owner.jakarta@bobaku.id", "Hendra Gunawan", Role.FRANCHISE_OWNER, "fr-jakarta"),
        DemoStaff("owner.bandung@bobaku.id", "Ayu Kusuma", Role.FRANCHISE_OWNER, "fr-bandung"),
    ]
    for franchise_id, outlets in FRANCHISE_OUTLETS.items():
        for outlet in outlets:
            number = outlet.removeprefix("outlet-")
            staff.append(
                DemoStaff(
                    f"manager.{outlet}@bobaku.id",
                    f"Manager Outlet {number}",
                    Role.OUTLET_MANAGER,
                    franchise_id,
                    (outlet,),
                )
            )
            staff.append(
                DemoStaff(
                    f"staff.{outlet}@bobaku.id",
                    f"Barista Outlet {number}",
                    Role.STAFF,
                    franchise_id,
                    (outlet,),
                )
            )
    return tuple(staff)


STAFF = _staff()


@dataclass
class SeedReport:
    users_created: list[str] = field(default_factory=list)
    ledgers_written: list[str] = field(default_factory=list)


def history_facts(
    customer_id: str, email: str, history: tuple[Earn | Redeem, ...], now: datetime
) -> list[tuple[datetime, LoyaltyEvent]]:
    """The ledger facts of a demo history, decided by the domain rules at their dates."""
    ledger = Ledger(customer_id)
    dated: list[tuple[datetime, LoyaltyEvent]] = []
    for step in history:
        at = now - timedelta(days=step.days_ago)
        suffix = hashlib.sha256(f"{email}:{step.order}".encode()).hexdigest()[:8]
        order_id = f"ord-{at:%Y%m%d}-{suffix}"
        if isinstance(step, Earn):
            facts = loyalty.earn_for_payment(ledger, order_id=order_id, amount=step.amount, now=at)
        else:
            rewards = [loyalty.REWARDS_BY_ID[r] for r in step.reward_ids]
            facts, _ = loyalty.redeem(ledger, order_id=order_id, rewards=rewards, now=at)
        for fact in facts:
            ledger.apply(fact.type, fact.data, at)
            dated.append((at, fact))
    return dated


async def seed(databases: Databases, bus: EventBus, passwords: PasswordHasher) -> SeedReport:
    report = SeedReport()
    users = UserRepository(databases)
    ledgers = LedgerStore(bus)
    await ledgers.start()
    now = datetime.now(UTC)

    for demo in CUSTOMERS:
        customer = await _ensure_user(
            users,
            passwords,
            demo.email,
            partial(_demo_customer, demo, now),
            report,
        )
        if demo.history and await _write_history(ledgers, customer, demo, now):
            report.ledgers_written.append(demo.email)

    for member in STAFF:
        await _ensure_user(
            users,
            passwords,
            member.email,
            partial(_demo_staff, member, now),
            report,
        )
    return report


def _demo_customer(demo: DemoCustomer, now: datetime, password_hash: str) -> User:
    return new_customer(
        email=demo.email,
        name=demo.name,
        password_hash=password_hash,
        language=demo.language,
        phone=demo.phone,
        now=now,
    )


def _demo_staff(member: DemoStaff, now: datetime, password_hash: str) -> User:
    return staff_member(
        user_id=new_user_id(),
        email=member.email,
        name=member.name,
        password_hash=password_hash,
        role=member.role,
        franchise_id=member.franchise_id,
        outlet_ids=member.outlet_ids,
        now=now,
    )


async def _ensure_user(
    users: UserRepository,
    passwords: PasswordHasher,
    email: str,
    make: Callable[[str], User],
    report: SeedReport,
) -> User:
    """The user with this email, created (with the demo password) if there is none."""
    existing = await users.by_email(email)
    if existing is not None:
        return existing
    user = make(await passwords.hash(DEMO_PASSWORD))
    try:
        await users.add(user)
    except EmailTaken:  # another seed got there between our read and our write
        stored = await users.by_email(email)
        assert stored is not None
        return stored
    report.users_created.append(email)
    return user


async def _write_history(
    ledgers: LedgerStore, customer: User, demo: DemoCustomer, now: datetime
) -> bool:
    _, seq = await ledgers.load(customer.id)
    if seq:
        return False  # the ledger has a history already; never add a second one
    dated = history_facts(customer.id, demo.email, demo.history, now)
    try:
        await ledgers.append_history(customer.id, dated, expected_seq=0)
    except ConcurrencyConflict:
        return False
    return True


async def seed_demo(settings: Settings) -> SeedReport:
    """Seed through this service's own connections (``scripts/seed.py`` calls this)."""
    config = (
        settings
        if isinstance(settings, CustomerSettings)
        else CustomerSettings(**settings.model_dump())
    )
    databases = Databases.from_settings(config, indexes())
    await databases.start()  # the unique email index must exist before we insert
    bus = await EventBus.connect(config)
    passwords = password_hasher(config)
    try:
        report = await seed(databases, bus, passwords)
    finally:
        passwords.close()
        await bus.close()
        await databases.close()
    log.info(
        "customer demo seeded",
        extra={
            "users_created": len(report.users_created),
            "ledgers_written": len(report.ledgers_written),
            "users": len(CUSTOMERS) + len(STAFF),
        },
    )
    return report


async def main() -> None:
    settings = CustomerSettings()
    configure_logging("customer-seed", settings.log_level)
    await seed_demo(settings)


if __name__ == "__main__":
    asyncio.run(main())
