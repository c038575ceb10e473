"""Identifier rules shared by every service (docs/contracts.md, "Ids").

An outlet's id is its Outlet resource's name when the operator registers it
(``jkt-selatan-senopati``), or a demo id such as ``outlet-23``: lower-case letters, digits
and inner hyphens, at most 56 characters; the Outlet CRD (crds/outlet.yaml) checks the
same rule on the resource's name.
"""

from __future__ import annotations

import re

OUTLET_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,54}[a-z0-9])?$"
OUTLET_ID = re.compile(OUTLET_ID_PATTERN)
