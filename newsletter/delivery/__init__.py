"""Delivery: the outbox's rules, the sender, SMTP and file transports."""
