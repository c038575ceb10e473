"""Simulated push providers: Firebase Cloud Messaging (HTTP v1) and Apple Push Notification
service (provider API), for local runs and tests. Outside world only: our services never
share code with it."""
