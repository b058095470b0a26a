"""Transport-independent access to Bot API request parameters.

Telegram accepts the same parameters as a query string, an url-encoded form, a
multipart form (the way aiogram sends them, with complex values serialized as
JSON strings) or a JSON body (with native types).  :class:`Params` hides that
difference: handlers ask for ``get_int("chat_id")`` and get the same answer
whatever the client sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from .errors import ApiError, bad_request

__all__ = ["JSON_FIELDS", "Params", "UploadedFile"]

#: Parameters whose form-encoded value is a JSON document rather than a plain
#: string.  Decoding is schema-driven (not "looks like JSON") so that a message
#: text such as ``"[1, 2]"`` stays a string.
JSON_FIELDS: frozenset[str] = frozenset(
    {
        "allowed_updates",
        "caption_entities",
        "commands",
        "entities",
        "explanation_entities",
        "inline_keyboard",
        "link_preview_options",
        "media",
        "message_ids",
        "options",
        "reply_markup",
        "reply_parameters",
        "results",
        "scope",
    }
)

_ATTACH_PREFIX = "attach://"


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"UploadedFile({self.filename!r}, {self.content_type!r}, {self.size} bytes)"


class Params(Mapping[str, Any]):
    """Read-only parameter mapping with typed accessors raising Telegram errors."""

    def __init__(
        self,
        values: Mapping[str, Any],
        files: Mapping[str, UploadedFile] | None = None,
    ) -> None:
        self._values: dict[str, Any] = dict(values)
        self._files: dict[str, UploadedFile] = dict(files or {})

    # -- construction -------------------------------------------------------

    @classmethod
    async def from_request(cls, request: web.Request) -> Params:
        """Merge query-string and body parameters of an HTTP request."""
        values: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method == "POST" and request.can_read_body:
            content_type = request.content_type
            if content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise bad_request("can't parse JSON encoded request body") from exc
                if not isinstance(body, dict):
                    raise bad_request("JSON request body must be an object")
                values.update(body)
            elif content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, FileField):
                        files[key] = UploadedFile(
                            filename=value.filename or key,
                            content_type=value.content_type or "application/octet-stream",
                            data=value.file.read(),
                        )
                    elif isinstance(value, str):
                        values[key] = value
                    else:
                        values[key] = bytes(value).decode("utf-8", errors="replace")
        return cls(values, files)

    # -- Mapping protocol (decoded view, used for ApiCall recording) --------

    def __getitem__(self, key: str) -> Any:
        if key in self._values:
            return self._decoded(key)
        return self._files[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._values
        yield from (name for name in self._files if name not in self._values)

    def __len__(self) -> int:
        return len(set(self._values) | set(self._files))

    def snapshot(self) -> dict[str, Any]:
        """A plain dict with JSON fields decoded and ``attach://`` resolved."""
        result: dict[str, Any] = {}
        for key in self._values:
            value = self._decoded(key)
            if isinstance(value, str) and value.startswith(_ATTACH_PREFIX):
                value = self._files.get(value[len(_ATTACH_PREFIX) :], value)
            result[key] = value
        attached = {
            v[len(_ATTACH_PREFIX) :]
            for v in self._values.values()
            if isinstance(v, str) and v.startswith(_ATTACH_PREFIX)
        }
        for key, file in self._files.items():
            if key not in result and key not in attached:
                result[key] = file
        return result

    def _decoded(self, key: str) -> Any:
        value = self._values[key]
        if key in JSON_FIELDS and isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    # -- typed accessors ----------------------------------------------------

    def has(self, name: str) -> bool:
        """True if the parameter was sent with a non-empty value."""
        value = self._values.get(name)
        if value is None:
            return name in self._files
        return bool(value != "")

    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self._values.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        return json.dumps(value, ensure_ascii=False)

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad_request(f'field "{name}" must be of type Integer')

    def require_int(self, name: str, error: ApiError) -> int:
        value = self.get_int(name)
        if value is None:
            raise error
        return value

    def get_float(self, name: str, default: float | None = None) -> float | None:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise bad_request(f'field "{name}" must be of type Float')
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise bad_request(f'field "{name}" must be of type Float')

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return value != 0
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
        raise bad_request(f'field "{name}" must be of type Boolean')

    def get_json(self, name: str, what: str | None = None) -> Any:
        """Decode a JSON-typed parameter; ``what`` names it in the error text."""
        value = self._values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise bad_request(f"can't parse {what or name} JSON object") from exc
        return value

    def get_file_by_key(self, key: str) -> UploadedFile:
        """The upload an ``attach://<key>`` reference (inside a JSON parameter) names."""
        if key not in self._files:
            raise bad_request(f"file {key!r} not found in the request")
        return self._files[key]

    def get_file(self, name: str) -> UploadedFile | str | None:
        """An uploaded file, or the string (file_id / URL) given instead."""
        value = self._values.get(name)
        if isinstance(value, str) and value.startswith(_ATTACH_PREFIX):
            key = value[len(_ATTACH_PREFIX) :]
            if key not in self._files:
                raise bad_request(f"file {key!r} not found in the request")
            return self._files[key]
        if (value is None or value == "") and name in self._files:
            return self._files[name]
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        raise bad_request(f'field "{name}" must be of type String')
