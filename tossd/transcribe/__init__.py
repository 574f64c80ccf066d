"""Voicemail transcripts: engines behind one small interface, and the daemon's worker."""
