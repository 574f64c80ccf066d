"""Notifications: routing, rendering, the delivery ledger and the Apprise edge."""
