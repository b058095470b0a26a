"""Message text parsing with Telegram's rules and error texts.

Telegram does not store the markup a bot sends: it parses ``parse_mode`` text
into plain text plus entities, trims surrounding whitespace and only then
checks the length limits.  Bots get these details wrong all the time (an
unescaped ``<`` in a user-provided name, a 4097-character list), so the
emulator follows the same pipeline and reproduces the error messages of the
reference implementation (tdlib's ``parse_html`` / ``parse_markdown_v2``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import bad_request

__all__ = [
    "EntityParseError",
    "FormattedText",
    "command_entities",
    "format_message_text",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "utf16_len",
]

MESSAGE_TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "tg-time",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_HTML_SPECIAL = re.compile(r"[<&]")
_NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


class EntityParseError(Exception):
    """Raised by the parsers; the message is tdlib's text without prefixes."""


@dataclass(frozen=True)
class FormattedText:
    """Plain text and MessageEntity dicts (offsets in UTF-16 code units)."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _sorted(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------


@dataclass
class _OpenTag:
    name: str
    attributes: dict[str, str]
    offset: int


def _decode_html_entity(source: str, index: int) -> tuple[str, int] | None:
    """Decode ``&...;`` at ``index``; tdlib only knows 4 names plus numerics."""
    end = source.find(";", index + 1, index + 12)
    if end == -1:
        return None
    body = source[index + 1 : end]
    if body.startswith("#"):
        digits = body[1:]
        try:
            code = int(digits[1:], 16) if digits[:1] in ("x", "X") else int(digits, 10)
        except ValueError:
            return None
        if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code), end - index + 1
    if body in _NAMED_HTML_ENTITIES:
        return _NAMED_HTML_ENTITIES[body], end - index + 1
    return None


def _html_entity(tag: _OpenTag, offset: int, length: int) -> dict[str, Any] | None:
    attributes = tag.attributes
    entity: dict[str, Any] = {"offset": offset, "length": length}
    if tag.name == "a":
        href = attributes.get("href", "")
        if not href:
            return None
        entity.update(type="text_link", url=href)
    elif tag.name == "code":
        entity["type"] = "code"
        css_class = attributes.get("class", "")
        if css_class.startswith("language-") and len(css_class) > len("language-"):
            entity["language"] = css_class[len("language-") :]
    elif tag.name == "tg-emoji":
        emoji_id = attributes.get("emoji-id", "")
        if not emoji_id:
            return None
        entity.update(type="custom_emoji", custom_emoji_id=emoji_id)
    elif tag.name == "tg-time":
        try:
            unix_time = int(attributes.get("unix", ""))
        except ValueError:
            return None
        entity.update(type="date_time", unix_time=unix_time)
        if attributes.get("format"):
            entity["date_time_format"] = attributes["format"]
    elif tag.name == "blockquote":
        entity["type"] = "expandable_blockquote" if "expandable" in attributes else "blockquote"
    else:
        entity["type"] = _HTML_ENTITY_TYPES[tag.name]
    return entity


def parse_html(source: str) -> FormattedText:
    """Parse Telegram-flavoured HTML into plain text and entities."""
    out: list[str] = []
    utf16_offset = 0
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    n = len(source)
    i = 0

    def emit(chunk: str) -> None:
        nonlocal utf16_offset
        out.append(chunk)
        utf16_offset += utf16_len(chunk)

    def error(message: str) -> EntityParseError:
        return EntityParseError(message)

    while i < n:
        char = source[i]
        if char == "&":
            decoded = _decode_html_entity(source, i)
            if decoded is not None:
                emit(decoded[0])
                i += decoded[1]
                continue
        if char != "<":
            # Copy the whole run of plain text up to the next markup character.
            special = _HTML_SPECIAL.search(source, i + 1)
            end = special.start() if special else n
            emit(source[i:end])
            i = end
            continue

        begin = i
        i += 1
        if i < n and source[i] == "/":
            if not stack:
                raise error(f"Unexpected end tag at byte offset {_byte_offset(source, begin)}")
            i += 1
            name_start = i
            while i < n and not source[i].isspace() and source[i] != ">":
                i += 1
            end_name = source[name_start:i].lower()
            while i < n and source[i].isspace():
                i += 1
            if i >= n or source[i] != ">":
                raise error(f"Unclosed end tag at byte offset {_byte_offset(source, begin)}")
            i += 1
            tag = stack.pop()
            if end_name and end_name != tag.name:
                raise error(
                    f"Unmatched end tag at byte offset {_byte_offset(source, begin)}, "
                    f'expected "</{tag.name}>", found "</{end_name}>"'
                )
            if utf16_offset > tag.offset:
                entity = _html_entity(tag, tag.offset, utf16_offset - tag.offset)
                if entity is not None:
                    last = entities[-1] if entities else None
                    if (
                        entity["type"] == "pre"
                        and last is not None
                        and last["type"] == "code"
                        and last["offset"] == entity["offset"]
                        and last["length"] == entity["length"]
                    ):
                        # <pre><code class="language-x"> collapses into one entity.
                        entities.pop()
                        if "language" in last:
                            entity["language"] = last["language"]
                    entities.append(entity)
            continue

        name_start = i
        while i < n and not source[i].isspace() and source[i] != ">":
            i += 1
        if i >= n:
            raise error(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
        name = source[name_start:i].lower()
        if name not in _HTML_TAGS:
            raise error(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, begin)}'
            )
        attributes: dict[str, str] = {}
        while True:
            while i < n and source[i].isspace():
                i += 1
            if i >= n:
                raise error(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
            if source[i] == ">":
                i += 1
                break
            attr_start = i
            while i < n and not source[i].isspace() and source[i] not in "=>":
                i += 1
            attr_name = source[attr_start:i].lower()
            if not attr_name:
                raise error(
                    f'Empty attribute name in the tag "{name}" at byte offset '
                    f"{_byte_offset(source, begin)}"
                )
            while i < n and source[i].isspace():
                i += 1
            if i >= n:
                raise error(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
            if source[i] != "=":
                attributes[attr_name] = ""  # flag attribute, e.g. <blockquote expandable>
                continue
            i += 1
            while i < n and source[i].isspace():
                i += 1
            if i >= n:
                raise error(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
            if source[i] in "\"'":
                quote = source[i]
                i += 1
                value_chars: list[str] = []
                while i < n and source[i] != quote:
                    if source[i] == "&":
                        decoded = _decode_html_entity(source, i)
                        if decoded is not None:
                            value_chars.append(decoded[0])
                            i += decoded[1]
                            continue
                    value_chars.append(source[i])
                    i += 1
                if i >= n:
                    raise error(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
                i += 1
                value = "".join(value_chars)
            else:
                value_start = i
                while i < n and (
                    (source[i].isascii() and source[i].isalnum()) or source[i] in ".-"
                ):
                    i += 1
                value = source[value_start:i].lower()
                if i < n and not source[i].isspace() and source[i] != ">":
                    offset = _byte_offset(source, value_start)
                    raise error(f"Unexpected end of name token at byte offset {offset}")
            attributes[attr_name] = value
        if name == "span" and attributes.get("class") != "tg-spoiler":
            offset = _byte_offset(source, begin)
            raise error(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        stack.append(_OpenTag(name, attributes, utf16_offset))

    if stack:
        raise error(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return FormattedText("".join(out), _sorted(entities))


# ---------------------------------------------------------------------------
# MarkdownV2
# ---------------------------------------------------------------------------

_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"


@dataclass
class _MdEntity:
    kind: str  # tdlib type name, used verbatim in error messages
    offset: int
    byte_offset: int
    text_start: int
    argument: str = ""


_MD_TYPE_NAMES = {
    "Bold": "bold",
    "Italic": "italic",
    "Underline": "underline",
    "Strikethrough": "strikethrough",
    "Spoiler": "spoiler",
    "Code": "code",
    "Pre": "pre",
    "PreCode": "pre",
    "TextUrl": "text_link",
    "CustomEmoji": "custom_emoji",
}


def parse_markdown_v2(source: str) -> FormattedText:
    """Parse MarkdownV2, enforcing escaping of reserved characters."""
    out: list[str] = []
    utf16_offset = 0
    stack: list[_MdEntity] = []
    entities: list[dict[str, Any]] = []
    n = len(source)
    i = 0
    quote_start: int | None = None

    def at(index: int) -> str:
        return source[index] if index < n else ""

    def emit(chunk: str) -> None:
        nonlocal utf16_offset
        out.append(chunk)
        utf16_offset += utf16_len(chunk)

    def close_quote() -> None:
        nonlocal quote_start
        if quote_start is not None:
            end = utf16_offset
            # The trailing newline of the last quoted line is not part of the quote.
            if out and out[-1] == "\n":
                end -= 1
            if end > quote_start:
                entities.append(
                    {"type": "blockquote", "offset": quote_start, "length": end - quote_start}
                )
            quote_start = None

    while i < n:
        char = source[i]
        line_start = i == 0 or source[i - 1] == "\n"
        in_code = bool(stack) and stack[-1].kind in ("Code", "Pre", "PreCode")
        if line_start and not stack:
            if char == ">":
                if quote_start is None:
                    quote_start = utf16_offset
                i += 1
                continue
            close_quote()
        if char == "\\" and i + 1 < n and 0 < ord(source[i + 1]) <= 126:
            emit(source[i + 1])
            i += 2
            continue
        if in_code and char != "`":
            emit(char)
            i += 1
            continue
        if char not in _MDV2_RESERVED:
            emit(char)
            i += 1
            continue

        top = stack[-1].kind if stack else None
        is_end = (
            (top == "Bold" and char == "*")
            or (top == "Italic" and char == "_" and at(i + 1) != "_")
            or (top == "Code" and char == "`")
            or (top in ("Pre", "PreCode") and source.startswith("```", i))
            or (top in ("TextUrl", "CustomEmoji") and char == "]")
            or (top == "Underline" and source.startswith("__", i))
            or (top == "Strikethrough" and char == "~")
            or (top == "Spoiler" and source.startswith("||", i))
        )
        if not is_end:
            byte_offset = _byte_offset(source, i)
            argument = ""
            if char == "_":
                if at(i + 1) == "_":
                    kind = "Underline"
                    i += 1
                else:
                    kind = "Italic"
            elif char == "*":
                kind = "Bold"
            elif char == "~":
                kind = "Strikethrough"
            elif char == "|" and at(i + 1) == "|":
                kind = "Spoiler"
                i += 1
            elif char == "[":
                kind = "TextUrl"
            elif char == "!" and at(i + 1) == "[":
                kind = "CustomEmoji"
                i += 1
            elif char == "`":
                if source.startswith("```", i):
                    i += 3
                    kind = "Pre"
                    language_end = i
                    while (
                        language_end < n
                        and not source[language_end].isspace()
                        and source[language_end] != "`"
                    ):
                        language_end += 1
                    if language_end != i and language_end < n and source[language_end] != "`":
                        kind = "PreCode"
                        argument = source[i:language_end]
                        i = language_end
                    if at(i) in ("\n", "\r"):
                        i += 2 if at(i + 1) in ("\n", "\r") and at(i + 1) != at(i) else 1
                    i -= 1
                else:
                    kind = "Code"
            else:
                raise EntityParseError(
                    f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
                )
            stack.append(_MdEntity(kind, utf16_offset, byte_offset, len(out), argument))
            i += 1
            continue

        entity = stack.pop()
        if entity.kind in ("Underline", "Spoiler"):
            i += 1
        elif entity.kind in ("Pre", "PreCode"):
            i += 2
        entity_type = _MD_TYPE_NAMES[entity.kind]
        extra: dict[str, Any] = {}
        if entity.kind in ("TextUrl", "CustomEmoji"):
            if at(i + 1) == "(":
                i += 2
                url_start = i
                url_chars: list[str] = []
                while i < n and source[i] != ")":
                    if source[i] == "\\" and i + 1 < n and 0 < ord(source[i + 1]) <= 126:
                        url_chars.append(source[i + 1])
                        i += 2
                        continue
                    url_chars.append(source[i])
                    i += 1
                if i >= n:
                    raise EntityParseError(
                        f"Can't find end of a URL at byte offset {_byte_offset(source, url_start)}"
                    )
                url = "".join(url_chars)
            else:
                url = "".join(out[entity.text_start :])
            if entity.kind == "CustomEmoji":
                prefix = "tg://emoji?id="
                if not url.startswith(prefix):
                    raise EntityParseError("Custom emoji URL must have scheme tg and host emoji")
                extra["custom_emoji_id"] = url[len(prefix) :]
            else:
                extra["url"] = url
        elif entity.kind == "PreCode":
            extra["language"] = entity.argument
        length = utf16_offset - entity.offset
        if length > 0:
            entities.append(
                {"type": entity_type, "offset": entity.offset, "length": length, **extra}
            )
        i += 1

    if stack:
        top_entity = stack[-1]
        raise EntityParseError(
            f"Can't find end of {top_entity.kind} entity at byte offset {top_entity.byte_offset}"
        )
    close_quote()
    return FormattedText("".join(out), _sorted(entities))


# ---------------------------------------------------------------------------
# Legacy Markdown
# ---------------------------------------------------------------------------


def _unclosed(source: str, begin: int) -> EntityParseError:
    return EntityParseError(
        f"Can't find end of the entity starting at byte offset {_byte_offset(source, begin)}"
    )


def parse_markdown(source: str) -> FormattedText:
    """Parse legacy Markdown (``*bold* _italic_ `code` ```pre``` [t](url)``)."""
    out: list[str] = []
    utf16_offset = 0
    entities: list[dict[str, Any]] = []
    n = len(source)
    i = 0

    def emit(chunk: str) -> None:
        nonlocal utf16_offset
        out.append(chunk)
        utf16_offset += utf16_len(chunk)

    while i < n:
        char = source[i]
        if char == "\\" and i + 1 < n and source[i + 1] in "_*`[":
            emit(source[i + 1])
            i += 2
            continue
        if char not in "_*`[":
            emit(char)
            i += 1
            continue
        begin = i
        start_offset = utf16_offset
        if char == "[":
            close = source.find("]", i + 1)
            if close == -1:
                raise _unclosed(source, begin)
            label = source[i + 1 : close]
            emit(label)
            i = close + 1
            if i < n and source[i] == "(":
                url_end = source.find(")", i + 1)
                if url_end == -1:
                    raise _unclosed(source, begin)
                url = source[i + 1 : url_end]
                i = url_end + 1
                if label and url:
                    entities.append(
                        {
                            "type": "text_link",
                            "offset": start_offset,
                            "length": utf16_len(label),
                            "url": url,
                        }
                    )
            continue
        if source.startswith("```", i):
            end = source.find("```", i + 3)
            if end == -1:
                raise _unclosed(source, begin)
            body = source[i + 3 : end]
            language = ""
            first_newline = body.find("\n")
            if first_newline > 0 and not any(c.isspace() for c in body[:first_newline]):
                language = body[:first_newline]
                body = body[first_newline + 1 :]
            elif body.startswith("\n"):
                body = body[1:]
            emit(body)
            i = end + 3
            if body:
                entity: dict[str, Any] = {
                    "type": "pre",
                    "offset": start_offset,
                    "length": utf16_len(body),
                }
                if language:
                    entity["language"] = language
                entities.append(entity)
            continue
        end = source.find(char, i + 1)
        if end == -1:
            raise _unclosed(source, begin)
        body = source[i + 1 : end]
        emit(body)
        i = end + 1
        if body:
            kind = {"*": "bold", "_": "italic", "`": "code"}[char]
            entities.append({"type": kind, "offset": start_offset, "length": utf16_len(body)})
    return FormattedText("".join(out), _sorted(entities))


# ---------------------------------------------------------------------------
# Pipeline
# ---------------------------------------------------------------------------


def _trim(formatted: FormattedText) -> FormattedText:
    """Strip surrounding whitespace and clip entities, as Telegram does."""
    text = formatted.text
    stripped = text.strip()
    if stripped == text:
        return formatted
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    entities: list[dict[str, Any]] = []
    for entity in formatted.entities:
        start = max(0, entity["offset"] - lead)
        end = min(total, entity["offset"] + entity["length"] - lead)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    return FormattedText(stripped, entities)


def _validate_entities(raw: Any, text: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request("can't parse entities JSON object")
    total = utf16_len(text)
    entities: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise bad_request('can\'t parse MessageEntity: Field "type" must be of type String')
        offset, length = item.get("offset"), item.get("length")
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length <= 0:
            raise bad_request("can't parse MessageEntity: wrong offset or length")
        if offset + length > total:
            continue  # Telegram silently drops entities that point past the text
        entities.append(dict(item))
    return _sorted(entities)


def parse_entities(source: str, parse_mode: str | None) -> FormattedText:
    """Dispatch on ``parse_mode``; raises ``ApiError`` on malformed markup."""
    mode = (parse_mode or "").strip()
    try:
        lowered = mode.lower()
        if not mode or lowered == "none":
            return FormattedText(source)
        if lowered == "html":
            return parse_html(source)
        if lowered == "markdownv2":
            return parse_markdown_v2(source)
        if lowered == "markdown":
            return parse_markdown(source)
    except EntityParseError as exc:
        raise bad_request(f"can't parse entities: {exc}") from exc
    raise bad_request("unsupported parse_mode")


def format_message_text(
    source: str | None,
    *,
    parse_mode: str | None,
    entities: Any = None,
    caption: bool = False,
) -> FormattedText:
    """Full Telegram pipeline: parse, trim, validate length.

    ``caption=True`` applies caption rules: empty is allowed, limit 1024.
    """
    if source is None:
        source = ""
    if entities is not None and not parse_mode:
        formatted = FormattedText(source, _validate_entities(entities, source))
    else:
        formatted = parse_entities(source, parse_mode)
    formatted = _trim(formatted)
    length = len(formatted.text)
    if caption:
        if length > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
    else:
        if length == 0:
            raise bad_request("message text is empty")
        if length > MESSAGE_TEXT_LIMIT:
            raise bad_request("message is too long")
    return formatted


def command_entities(text: str) -> list[dict[str, Any]]:
    """``bot_command`` entities Telegram attaches to user-typed ``/commands``."""
    entities: list[dict[str, Any]] = []
    for match in _COMMAND_RE.finditer(text):
        name = match.group(0)[1:].split("@", 1)[0]
        if len(name) > 32:
            continue
        entities.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group(0)),
            }
        )
    return entities
