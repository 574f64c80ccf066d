"""tossd: real-time notifications for Tossable Digits virtual numbers."""

from __future__ import annotations

__version__ = "0.1.0"
