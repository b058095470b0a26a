"""Use cases as plain async functions over an `AsyncSession`.

Services decide; they never import aiogram, never commit (the update's work is
committed before its first reply, see bot/transaction.py), never read the wall
clock (callers pass `now` from bot/clock.py) and never send a message: they
write notices to the outbox.
"""
