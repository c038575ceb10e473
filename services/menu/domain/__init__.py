"""The menu's business rules: catalog, outlets, the effective menu, pricing and stock.
Plain Python without I/O."""
