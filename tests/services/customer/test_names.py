"""Names are shown to staff (tickets, the kitchen screen) and in receipts: characters that
hide or disguise text are refused at registration and on a profile change (422 naming the
field), never stored."""

from __future__ import annotations

import secrets

import pytest
from customer_testing import PASSWORD, CustomerApi

from bobaku.services.customer.adapters.users import USERS

DISGUISED = {
    "NUL": "Rina\x00Wijaya",
    "escape": "Rina\x1b[31mWijaya",
    "C1 control": "Rina\x85Wijaya",
    "right-to-left override": "Rina \u202egnp.exe",
    "left-to-right isolate": "Rina \u2066Wijaya\u2069",
    "zero-width space": "Ri\u200bna",
    "zero-width joiner": "Ri\u200dna",
    "byte order mark": "\ufeffRina",
    "private use": "Rina \ue000",
}


@pytest.mark.parametrize("name", DISGUISED.values(), ids=DISGUISED.keys())
async def test_a_disguised_name_is_refused_at_registration(api: CustomerApi, name: str) -> None:
    email = f"name-{secrets.token_hex(4)}@example.com"
    body = {"email": email, "password": PASSWORD, "name": name, "language": "id"}
    status, answer = await api.call("POST", "/auth/register", json=body)
    assert status == 422, answer
    assert [f["field"] for f in answer["error"]["details"]["fields"]] == ["name"]
    assert await api.databases.platform[USERS].count_documents({"email_normalized": email}) == 0


@pytest.mark.parametrize("name", DISGUISED.values(), ids=DISGUISED.keys())
async def test_a_disguised_name_is_refused_on_a_profile_change(api: CustomerApi, name: str) -> None:
    session = await api.register(name="Rina")
    token = session["tokens"]["access_token"]
    status, answer = await api.call("PATCH", "/me", token=token, json={"name": name})
    assert status == 422, answer
    assert [f["field"] for f in answer["error"]["details"]["fields"]] == ["name"]
    assert (await api.me(token))["name"] == "Rina"


async def test_names_in_any_script_with_accents_and_emoji_are_kept(api: CustomerApi) -> None:
    for name in ("Siti Nurhaliza", "Đặng Thị Ngọc", "李小龍", "محمد", "Rina 🧋"):
        session = await api.register(name=f"  {name}\t")
        assert session["user"]["name"] == name
