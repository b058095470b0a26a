"""Use cases as plain async functions over an `AsyncSession`.

Services decide; they never import aiogram, never commit (the per-update
middleware does) and never send a message: they write notices to the outbox.
"""
