"""The Apprise edge: the only code importing apprise."""
