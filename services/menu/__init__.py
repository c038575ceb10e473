"""The menu service: the HQ brand catalog, franchise prices, outlet availability, opening
hours and stock, the effective menu of each outlet, and the prices the order service
charges (``POST /internal/quotes``)."""
