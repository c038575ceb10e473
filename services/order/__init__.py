"""The order service: orders, the order saga, the kitchen queue and order history."""
