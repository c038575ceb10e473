"""JWT verification with asymmetric keys, and the role and tenant checks."""

from __future__ import annotations

import logging
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bobaku.kernel.auth import (
    Role,
    TokenIssuer,
    TokenVerifier,
    generate_private_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
)
from bobaku.kernel.errors import Forbidden, TenantForbidden, Unauthorized

ISSUER, AUDIENCE = "bobaku-customer", "bobaku"


def issuer_and_verifier(key=None) -> tuple[TokenIssuer, TokenVerifier]:  # type: ignore[no-untyped-def]
    issuer = TokenIssuer(key or generate_private_key(), kid="k1", issuer=ISSUER, audience=AUDIENCE)
    verifier = TokenVerifier({"k1": issuer.public_key()}, issuer=ISSUER, audience=AUDIENCE)
    return issuer, verifier


@pytest.mark.parametrize(
    "key",
    [
        generate_private_key(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec.generate_private_key(ec.SECP256R1()),
    ],
    ids=["EdDSA", "RS256", "ES256"],
)
def test_a_token_carries_roles_and_tenant_claims_through_verification(key) -> None:  # type: ignore[no-untyped-def]
    issuer, verifier = issuer_and_verifier(key)
    token = issuer.issue("u-staff-1", [Role.STAFF], franchise_id="fr-jkt", outlet_ids=["outlet-23"])
    who = verifier.verify(token)
    assert who.subject == "u-staff-1"
    assert who.roles == {Role.STAFF}
    assert who.franchise_id == "fr-jkt"
    assert who.outlet_ids == {"outlet-23"}


def test_a_token_signed_by_another_key_is_refused() -> None:
    forger, _ = issuer_and_verifier()
    _, verifier = issuer_and_verifier()
    with pytest.raises(Unauthorized, match="invalid token"):
        verifier.verify(forger.issue("u1", [Role.HQ_ADMIN]))


def test_an_expired_token_is_refused() -> None:
    issuer, verifier = issuer_and_verifier()
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(issuer.issue("u1", [Role.CUSTOMER], ttl_s=-10))


def test_a_symmetric_token_cannot_pass_as_asymmetric() -> None:
    _, verifier = issuer_and_verifier()
    forged = jwt.encode(
        {
            "sub": "u1",
            "roles": ["hq_admin"],
            "iss": ISSUER,
            "aud": AUDIENCE,
            "exp": 2**40,
            "iat": 1,
        },
        "s" * 32,
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    with pytest.raises(Unauthorized):
        verifier.verify(forged)


def test_garbage_and_unknown_kids_are_unauthorized() -> None:
    issuer, verifier = issuer_and_verifier()
    with pytest.raises(Unauthorized, match="malformed"):
        verifier.verify("not-a-jwt")
    other = TokenIssuer(issuer.key, kid="k9", issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(Unauthorized, match="unknown key"):
        verifier.verify(other.issue("u1", [Role.CUSTOMER]))


def test_the_jwks_document_verifies_the_same_tokens() -> None:
    issuer, verifier = issuer_and_verifier()
    from_jwks = TokenVerifier.from_jwks(verifier.jwks(), issuer=ISSUER, audience=AUDIENCE)
    assert from_jwks.verify(issuer.issue("u1", [Role.CUSTOMER])).subject == "u1"
    (jwk,) = verifier.jwks()["keys"]
    assert jwk["kid"] == "k1"
    assert jwk["alg"] == "EdDSA"
    assert "d" not in jwk  # never the private part


def test_keys_survive_pem_round_trips() -> None:
    key = generate_private_key()
    assert private_key_pem(load_private_key(private_key_pem(key))) == private_key_pem(key)
    assert public_key_pem(load_public_key(public_key_pem(key.public_key()))) == public_key_pem(
        key.public_key()
    )


def test_an_owner_reaches_only_their_franchise_and_the_attempt_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer, verifier = issuer_and_verifier()
    owner = verifier.verify(issuer.issue("u-own", [Role.FRANCHISE_OWNER], franchise_id="fr-a"))
    owner.require_franchise("fr-a")
    with caplog.at_level(logging.WARNING, logger="bobaku.security"), pytest.raises(TenantForbidden):
        owner.require_franchise("fr-b")
    (record,) = caplog.records
    assert record.__dict__["security_event"] == "tenant_violation"
    assert record.__dict__["target_franchise"] == "fr-b"


def test_another_users_things_are_refused_and_the_attempt_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer, verifier = issuer_and_verifier()
    customer = verifier.verify(issuer.issue("u-a", [Role.CUSTOMER]))
    customer.require_user("u-a", "not yours", order_id="ord-1")
    with caplog.at_level(logging.WARNING, logger="bobaku.security"):
        for owner in ("u-b", None):
            with pytest.raises(Forbidden) as refused:
                customer.require_user(owner, "not yours", order_id="ord-1")
            assert refused.value.details == {"order_id": "ord-1"}
    assert [r.__dict__["security_event"] for r in caplog.records] == ["user_violation"] * 2
    assert caplog.records[0].__dict__["target"] == {"order_id": "ord-1"}


def test_hq_reaches_every_franchise_and_staff_only_their_outlets() -> None:
    issuer, verifier = issuer_and_verifier()
    hq = verifier.verify(issuer.issue("u-hq", [Role.HQ_ADMIN]))
    hq.require_franchise("fr-anything")
    staff = verifier.verify(
        issuer.issue("u-st", [Role.STAFF], franchise_id="fr-a", outlet_ids=["o1"])
    )
    staff.require_outlet("fr-a", "o1")
    with pytest.raises(TenantForbidden):
        staff.require_outlet("fr-a", "o2")
    with pytest.raises(Forbidden, match="hq_admin"):
        staff.require_role(Role.HQ_ADMIN)


def test_an_unknown_role_in_a_token_is_refused() -> None:
    issuer, verifier = issuer_and_verifier()
    with pytest.raises(Unauthorized, match="unknown role"):
        verifier.verify(issuer.issue("u1", ["emperor"]))


def test_role_groups_nest_from_staff_up_to_hq() -> None:
    from bobaku.kernel.auth import FRANCHISE_MANAGERS, OUTLET_MANAGERS, OUTLET_STAFF

    assert set(FRANCHISE_MANAGERS) == {Role.FRANCHISE_OWNER, Role.HQ_ADMIN}
    assert set(OUTLET_MANAGERS) == {Role.OUTLET_MANAGER, *FRANCHISE_MANAGERS}
    assert set(OUTLET_STAFF) == {Role.STAFF, *OUTLET_MANAGERS}
    assert Role.CUSTOMER not in OUTLET_STAFF
    assert Role.SERVICE not in OUTLET_STAFF


# ------------------------------------------------------------- remembered tokens ---


def test_a_verified_token_is_remembered_and_not_verified_again() -> None:
    issuer, verifier = issuer_and_verifier()
    token = issuer.issue("u1", [Role.CUSTOMER])
    assert verifier.remembered(token) is None  # never verified: not known
    first = verifier.verify(token)
    # The same Principal object: the second call was a lookup, not a new verification.
    assert verifier.verify(token) is first
    assert verifier.remembered(token) is first


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    issuer, verifier = issuer_and_verifier()
    token = issuer.issue("u1", [Role.CUSTOMER], ttl_s=1)
    verifier.verify(token)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    while time.time() <= exp:  # exp is whole seconds: wait until it has passed
        time.sleep(0.1)
    assert verifier.remembered(token) is None
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)


def test_withdrawing_a_key_revokes_the_tokens_it_verified() -> None:
    issuer, verifier = issuer_and_verifier()
    token = issuer.issue("u1", [Role.HQ_ADMIN])
    verifier.verify(token)
    del verifier.keys["k1"]
    assert verifier.remembered(token) is None
    with pytest.raises(Unauthorized, match="unknown key"):
        verifier.verify(token)
    # A key replaced under the same kid does not vouch for what the old one verified.
    verifier.keys["k1"] = generate_private_key().public_key()
    with pytest.raises(Unauthorized, match="invalid token"):
        verifier.verify(token)


def test_a_refused_token_is_not_remembered() -> None:
    forger, _ = issuer_and_verifier()
    _, verifier = issuer_and_verifier()
    token = forger.issue("u1", [Role.HQ_ADMIN])
    for _ in range(2):
        with pytest.raises(Unauthorized, match="invalid token"):
            verifier.verify(token)


def test_the_verifier_remembers_a_bounded_number_of_tokens() -> None:
    issuer, _ = issuer_and_verifier()
    verifier = TokenVerifier(
        {"k1": issuer.public_key()}, issuer=ISSUER, audience=AUDIENCE, remember=2
    )
    tokens = [issuer.issue(f"u{n}", [Role.CUSTOMER]) for n in range(3)]
    first = [verifier.verify(t) for t in tokens]
    # The oldest fell out and is verified again; the two most recent are still known.
    assert verifier.verify(tokens[0]) is not first[0]
    assert verifier.verify(tokens[0]) == first[0]
    assert verifier.verify(tokens[2]) is first[2]
