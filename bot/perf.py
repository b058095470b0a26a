"""Start-up tweaks that keep per-update CPU down.

aiogram parses every Bot API answer with ``Response[method.__returning__]``
(``aiogram.client.session.base.BaseSession.check_response``). pydantic caches a
parametrised generic model only through a ``WeakValueDictionary`` keyed by the
parameters, and a model class sits in reference cycles, so the next cyclic
garbage collection drops it and the following API call rebuilds the whole model
(schema, validator, serializer): a quarter of the bot's CPU in a busy flow.
:func:`pin_response_models` builds each of them once and keeps it alive here;
later ``Response[T]`` look-ups then hit pydantic's cache and return these very
classes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["freeze_startup_objects", "pin_response_models", "pinned_response_models"]

# Strong references: the only thing that keeps pydantic's weak generic cache filled.
_PINNED: dict[Any, type] = {}


def _method_classes() -> list[type]:
    """Every concrete aiogram Bot API method class (known to aiogram, or subclassed since)."""
    import aiogram.methods
    from aiogram.methods.base import TelegramMethod

    found: dict[type, None] = {}
    for name in getattr(aiogram.methods, "__all__", dir(aiogram.methods)):
        candidate = getattr(aiogram.methods, name, None)
        if isinstance(candidate, type) and issubclass(candidate, TelegramMethod):
            found[candidate] = None
    pending = [TelegramMethod]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found[sub] = None
            pending.append(sub)
    # TelegramMethod and its parametrised bases (TelegramMethod[Message]...) leave it abstract.
    return [cls for cls in found if not isinstance(getattr(cls, "__returning__", None), property)]


def pin_response_models() -> int:
    """Build ``Response[T]`` once for every Bot API method's return type and keep it.

    Idempotent; returns how many distinct response models are pinned (methods
    sharing a return type share one model).
    """
    from aiogram.methods.base import Response

    for method in _method_classes():
        returning = method.__returning__
        if returning in _PINNED:
            continue
        # The very expression check_response evaluates, so the cache key is identical.
        _PINNED[returning] = Response[returning]  # type: ignore[valid-type]
    return len(_PINNED)


def pinned_response_models() -> dict[Any, type]:
    """A copy of what is pinned: return type -> ``Response[return type]``."""
    return dict(_PINNED)


def freeze_startup_objects() -> None:
    """Move what start-up built (aiogram's and pydantic's models, routers, catalogues)
    out of the garbage collector's sight, and collect the young generation less often.

    Every update allocates many short-lived objects; each collection of the older
    generations would otherwise walk the hundreds of thousands of long-lived ones
    again. Both are CPython's documented knobs (gc.freeze, gc.set_threshold).
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(5_000, 20, 20)
