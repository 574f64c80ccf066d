"""From the API into the store: translation of wire records, windows, the poller."""
