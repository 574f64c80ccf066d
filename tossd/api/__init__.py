"""The Tossable Digits API client: the only code that knows the wire format."""
