"""Mailing lists: one home for what a list is, how it is read and checked, and where lists
are found (newsletter.toml and the database)."""
