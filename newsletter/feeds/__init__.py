"""Feeds beyond email: Atom per list and language, and CAP 1.2 alerts."""
