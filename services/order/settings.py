"""The order service's settings: the kernel's, typed, read once in ``__main__``."""

from __future__ import annotations

from bobaku.kernel.settings import Settings


class OrderSettings(Settings):
    """Nothing of its own yet: the order service reads the kernel's fields (upstream URLs,
    ``SERVICE_TOKEN``, ``OUTLET_DIRECTORY_TTL_S``…). Add the service's own here."""
