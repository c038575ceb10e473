"""The API gateway: the single entry point ``/api/v1/...`` for apps and dashboards."""
