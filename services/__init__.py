"""The aiohttp domain services, one package each. A service imports the kernel and its
own modules only, never another service: it knows the others by their published contracts
(event schemas, OpenAPI)."""
