"""Delivery: the outbox sender that renders notices and sends them within Telegram's limits."""
