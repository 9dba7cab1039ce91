"""Subscriptions to changes of attributes, and their reliable delivery (docs/subscriptions.md)."""
