"""Channels: API keys, webhook secrets, the outbox of deliveries and their signing."""
