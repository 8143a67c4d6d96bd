"""Bounces and complaints that come back: return paths, reading, rules and sources."""
