"""Untrusted text made safe, phone numbers, time zones and masking (pure)."""
