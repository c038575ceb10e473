"""JWT verification with asymmetric keys, and the role and tenant checks built on it.

Tokens are signed by the customer service with a private key (RS256/ES256/EdDSA) and carry
``sub``, ``roles``, ``franchise_id`` (staff and owners) and ``outlet_ids`` (outlet staff).
Every other process holds only public keys, by ``kid``, from a file or the JWKS endpoint.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from bobaku.kernel.errors import Forbidden, TenantForbidden, Unauthorized
from bobaku.kernel.lru import LruMap

security_log = logging.getLogger("bobaku.security")

ALGORITHMS = ("RS256", "ES256", "EdDSA")

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class Role(StrEnum):
    HQ_ADMIN = "hq_admin"
    FRANCHISE_OWNER = "franchise_owner"
    OUTLET_MANAGER = "outlet_manager"
    STAFF = "staff"
    CUSTOMER = "customer"
    # Another platform process calling an internal endpoint (service-to-service).
    SERVICE = "service"


# Role groups: who may do what, named once (pass them as ``require_role(*GROUP)``).
# Whoever runs a franchise: its owner, and HQ over every franchise.
FRANCHISE_MANAGERS: tuple[Role, ...] = (Role.FRANCHISE_OWNER, Role.HQ_ADMIN)
# Whoever manages an outlet (refunds, hours, availability): its manager and those above.
OUTLET_MANAGERS: tuple[Role, ...] = (Role.OUTLET_MANAGER, *FRANCHISE_MANAGERS)
# Everyone who works an outlet (kitchen, counter), and those above.
OUTLET_STAFF: tuple[Role, ...] = (Role.STAFF, *OUTLET_MANAGERS)


@dataclass(frozen=True)
class Principal:
    """Who is calling, as their verified token says."""

    subject: str
    roles: frozenset[Role]
    franchise_id: str | None = None
    outlet_ids: frozenset[str] = field(default_factory=frozenset)
    claims: Mapping[str, Any] = field(default_factory=dict)

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    def require_role(self, *roles: Role) -> None:
        if not self.has_role(*roles):
            raise Forbidden(
                "this action needs one of the roles: " + ", ".join(sorted(roles)),
                details={"required_roles": sorted(roles), "roles": sorted(self.roles)},
            )

    def require_franchise(self, franchise_id: str) -> None:
        """HQ reaches every franchise; everyone else only their own. Violations are logged."""
        if Role.HQ_ADMIN in self.roles or self.franchise_id == franchise_id:
            return
        security_log.warning(
            "cross-tenant access refused",
            extra={
                "security_event": "tenant_violation",
                "subject": self.subject,
                "caller_franchise": self.franchise_id,
                "target_franchise": franchise_id,
            },
        )
        raise TenantForbidden(
            "you may not access another franchise's data",
            details={"franchise_id": franchise_id},
        )

    def require_user(self, owner_id: str | None, message: str, **target: str) -> None:
        """Only the user ``owner_id`` (a customer's order, a device token). Violations are
        logged like a cross-tenant one: another user's id is someone probing."""
        if owner_id is not None and self.subject == owner_id:
            return
        security_log.warning(
            "cross-user access refused",
            extra={"security_event": "user_violation", "subject": self.subject, "target": target},
        )
        raise Forbidden(message, details=dict(target))

    def require_outlet(self, franchise_id: str, outlet_id: str) -> None:
        self.require_franchise(franchise_id)
        if self.has_role(Role.HQ_ADMIN, Role.FRANCHISE_OWNER) or outlet_id in self.outlet_ids:
            return
        security_log.warning(
            "cross-outlet access refused",
            extra={
                "security_event": "outlet_violation",
                "subject": self.subject,
                "target_outlet": outlet_id,
            },
        )
        raise TenantForbidden(
            "you may not access another outlet's data", details={"outlet_id": outlet_id}
        )


def load_public_key(pem: bytes) -> PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise ValueError("unsupported public key type; use RSA, EC P-256 or Ed25519")
    return key


def load_private_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise ValueError("unsupported private key type; use RSA, EC P-256 or Ed25519")
    return key


def algorithm_for(key: PublicKey | PrivateKey) -> str:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return "ES256"
    return "EdDSA"


def generate_private_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def jwk_of(key: PublicKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPublicKey):
        jwk = json.loads(RSAAlgorithm.to_jwk(key))
    elif isinstance(key, ec.EllipticCurvePublicKey):
        jwk = json.loads(ECAlgorithm.to_jwk(key))
    else:
        jwk = json.loads(OKPAlgorithm.to_jwk(key))
    jwk.update({"kid": kid, "use": "sig", "alg": algorithm_for(key)})
    return dict(jwk)


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    expires_at: float
    kid: str
    key: PublicKey  # the key that verified it: withdrawn or replaced, the entry is void


class TokenVerifier:
    """Verifies bearer tokens against a set of public keys chosen by the token's ``kid``.

    A token that verified is remembered (the last ``remember`` distinct ones, least recently
    used out first) until its ``exp``, so a caller's next requests cost a dict lookup
    instead of a signature check. A remembered token is refused once it expires or once
    the key that signed it is no longer in :attr:`keys` (a key withdrawn revokes its
    tokens), exactly as a fresh verification would; a refused token is never remembered.
    """

    def __init__(
        self,
        keys: Mapping[str, PublicKey],
        *,
        issuer: str,
        audience: str,
        remember: int = 4096,
    ) -> None:
        if not keys:
            raise ValueError("a token verifier needs at least one public key")
        self.keys = dict(keys)
        self.issuer = issuer
        self.audience = audience
        self._verified: LruMap[str, _Verified] = LruMap(remember)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any], *, issuer: str, audience: str) -> TokenVerifier:
        keys: dict[str, PublicKey] = {}
        for entry in jwks.get("keys", []):
            key = jwt.PyJWK(entry).key
            keys[entry["kid"]] = key
        return cls(keys, issuer=issuer, audience=audience)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [jwk_of(k, kid) for kid, k in self.keys.items()]}

    def remembered(self, token: str) -> Principal | None:
        """The caller of a token that verified before and would verify now (not expired,
        its key still held), without a signature check; None for any other token."""
        known = self._verified.get(token)
        if known is None:
            return None
        if known.expires_at > time.time() and self.keys.get(known.kid) is known.key:
            return known.principal
        self._verified.forget(token)
        return None

    def verify(self, token: str) -> Principal:
        known = self.remembered(token)
        if known is not None:
            return known
        principal, kid, key = self._verify(token)
        self._verified.put(token, _Verified(principal, float(principal.claims["exp"]), kid, key))
        return principal

    def _verify(self, token: str) -> tuple[Principal, str, PublicKey]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"malformed token: {exc}") from exc
        kid = str(header.get("kid"))
        key = self.keys.get(kid)
        if key is None:
            raise Unauthorized(
                "token signed with an unknown key", details={"kid": header.get("kid")}
            )
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm_for(key)],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        return principal_from_claims(claims), kid, key


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    try:
        roles = frozenset(Role(r) for r in claims.get("roles", []))
    except ValueError as exc:
        raise Unauthorized(f"token carries an unknown role: {exc}") from exc
    return Principal(
        subject=str(claims["sub"]),
        roles=roles,
        franchise_id=claims.get("franchise_id"),
        outlet_ids=frozenset(claims.get("outlet_ids", [])),
        claims=dict(claims),
    )


class TokenIssuer:
    """Signs access tokens. Only the customer service (and tests) hold a private key."""

    def __init__(self, key: PrivateKey, *, kid: str, issuer: str, audience: str) -> None:
        self.key = key
        self.kid = kid
        self.issuer = issuer
        self.audience = audience

    def public_key(self) -> PublicKey:
        return self.key.public_key()

    def issue(
        self,
        subject: str,
        roles: Iterable[Role | str],
        *,
        franchise_id: str | None = None,
        outlet_ids: Iterable[str] = (),
        ttl_s: int = 900,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": subject,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
            "roles": [str(r) for r in roles],
        }
        if franchise_id:
            claims["franchise_id"] = franchise_id
        if outlet_ids:
            claims["outlet_ids"] = list(outlet_ids)
        claims.update(extra or {})
        return jwt.encode(
            claims, self.key, algorithm=algorithm_for(self.key), headers={"kid": self.kid}
        )
