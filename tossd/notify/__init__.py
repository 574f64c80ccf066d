"""Notifications: routing and quiet hours, rendering, the delivery ledger's workers."""
