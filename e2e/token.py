"""Make the e2e's signing keys and mint a customer's access token.

python e2e/token.py keys  DIR          # DIR/private.pem, DIR/public.pem (Ed25519)
python e2e/token.py mint  DIR SUBJECT  # prints a customer token signed with DIR/private.pem
python e2e/token.py service DIR        # prints a role-service token (SERVICE_TOKEN), 30 days
python e2e/token.py staff DIR FRANCHISE OUTLET  # prints a barista's token at that outlet
"""

from __future__ import annotations

import sys
from pathlib import Path

from bobaku.kernel.auth import (
    Role,
    TokenIssuer,
    generate_private_key,
    load_private_key,
    private_key_pem,
    public_key_pem,
)
from bobaku.kernel.settings import Settings


def main() -> None:
    command, directory = sys.argv[1], Path(sys.argv[2])
    if command == "keys":
        directory.mkdir(parents=True, exist_ok=True)
        key = generate_private_key()
        (directory / "private.pem").write_bytes(private_key_pem(key))
        (directory / "public.pem").write_bytes(public_key_pem(key.public_key()))
    elif command in ("mint", "service", "staff"):
        settings = Settings()
        issuer = TokenIssuer(
            load_private_key((directory / "private.pem").read_bytes()),
            kid=settings.jwt_key_id,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        if command == "mint":
            print(issuer.issue(sys.argv[3], [Role.CUSTOMER], ttl_s=1800))
        elif command == "staff":
            franchise, outlet = sys.argv[3], sys.argv[4]
            staff = issuer.issue(
                "u-e2eba0000001",
                [Role.STAFF],
                franchise_id=franchise,
                outlet_ids=[outlet],
                ttl_s=1800,
            )
            print(staff)
        else:
            print(issuer.issue("bobaku-e2e", [Role.SERVICE], ttl_s=30 * 86400), end="")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
