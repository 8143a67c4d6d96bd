"""Subscribers and lists."""
