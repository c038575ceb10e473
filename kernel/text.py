"""Text that people type and other people read: names shown to staff, in receipts, in logs.

:func:`display_text` refuses the characters that make a string look like something else:
control characters (NUL, escapes, C1 codes), Unicode *format* characters (bidirectional
overrides and isolates such as U+202E, zero-width spaces and joiners, the BOM), surrogates,
private-use and unassigned code points. It folds runs of whitespace to one space. Use it in
a pydantic ``field_validator`` so a refusal is a 422 naming the field.
"""

from __future__ import annotations

import unicodedata

# Cc control, Cf format (bidi, zero-width), Cs surrogate, Co private use, Cn unassigned.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def display_text(value: str) -> str:
    """``value`` with whitespace folded; ``ValueError`` naming the first refused character."""
    for ch in value:
        if ch in "\t\n\r":
            continue  # plain whitespace, folded below
        if unicodedata.category(ch) in REFUSED_CATEGORIES:
            raise ValueError(
                f"must not contain control, format or invisible characters (found U+{ord(ch):04X})"
            )
    folded = " ".join(value.split())
    if not folded:
        raise ValueError("must not be blank")
    return folded
