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
from urllib.parse import parse_qs, urlsplit

from .errors import ApiError, bad_request

__all__ = [
    "EntityParseError",
    "FormattedText",
    "command_entities",
    "format_message_text",
    "parse_html",
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
#
# A port of tdlib's ``parse_html`` (td/telegram/MessageEntity.cpp), which reads
# a NUL-terminated string: ``at`` returns "\0" past the end and ``_is_space``
# counts "\0" as a space, so the same inputs hit the same error branches.


def _valid_date_format(date_format: str) -> bool:
    """tdlib's FormattedDate::get_date_flags: "r"/"R" or letters of "tTdDwW"."""
    return date_format in ("r", "R") or all(char in "tTdDwW" for char in date_format)


def _is_space(char: str) -> bool:
    return char in " \t\r\n\0\v"


def _is_ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


@dataclass
class _OpenTag:
    name: str
    argument: str
    unix_time: int
    offset: int
    text_start: int


def _decode_html_entity(source: str, index: int) -> tuple[int, int] | None:
    """Decode ``&...`` at ``index`` into (code point, next index), as tdlib does.

    Only ``lt``, ``gt``, ``amp``, ``quot`` and numeric references are known;
    the closing ``;`` is optional.
    """

    def at(position: int) -> str:
        return source[position] if position < len(source) else "\0"

    end = index + 1
    code = 0
    if at(index + 1) == "#":
        end += 1
        if at(index + 2) == "x":
            end += 1
            while at(end) in "0123456789abcdefABCDEF" and at(end) != "\0":
                code = code * 16 + int(at(end), 16)
                end += 1
        else:
            while at(end) in "0123456789" and at(end) != "\0":
                code = code * 10 + int(at(end))
                end += 1
        if code == 0 or code >= 0x10FFFF or end - index >= 10:
            return None
    else:
        while at(end).isascii() and at(end).isalpha():
            end += 1
        name = source[index + 1 : end]
        if name not in _NAMED_HTML_ENTITIES:
            return None
        code = ord(_NAMED_HTML_ENTITIES[name])
    return code, end + 1 if at(end) == ";" else end


def _html_entity(tag: _OpenTag, offset: int, length: int, inner: str) -> dict[str, Any] | None:
    entity: dict[str, Any] = {"offset": offset, "length": length}
    if tag.name == "a":
        # tdlib also turns tg://user?id= into text_mention and normalises the URL.
        entity.update(type="text_link", url=tag.argument or inner)
    elif tag.name == "code":
        entity["type"] = "code"
        if tag.argument:
            entity["language"] = tag.argument  # kept only if a <pre> absorbs it
    elif tag.name == "tg-emoji":
        if not tag.argument.isdigit() or int(tag.argument) == 0 or int(tag.argument) >= 2**63:
            raise EntityParseError("Invalid custom emoji identifier specified")
        entity.update(type="custom_emoji", custom_emoji_id=tag.argument)
    elif tag.name == "tg-time":
        if not _valid_date_format(tag.argument):
            raise EntityParseError("Invalid date format used")
        if tag.unix_time <= 0:
            return None
        entity.update(type="date_time", unix_time=tag.unix_time)
        if tag.argument:
            entity["date_time_format"] = tag.argument
    elif tag.name == "blockquote":
        entity["type"] = "expandable_blockquote" if tag.argument else "blockquote"
    else:
        entity["type"] = _HTML_ENTITY_TYPES[tag.name]
    return entity


def _html_attribute(tag: str, name: str, value: str, open_tag: _OpenTag) -> None:
    """Keep the one attribute tdlib reads for this tag (names are case-sensitive)."""
    if tag == "a" and name == "href":
        open_tag.argument = value
    elif tag == "code" and name == "class" and value.startswith("language-"):
        open_tag.argument = value[len("language-") :]
    elif tag == "span" and name == "class" and value.startswith("tg-"):
        open_tag.argument = value[len("tg-") :]
    elif (tag == "tg-emoji" and name == "emoji-id") or (tag == "tg-time" and name == "format"):
        open_tag.argument = value
    elif tag == "blockquote" and name == "expandable":
        open_tag.argument = "1"
    elif tag == "tg-time" and name == "unix":
        digits = re.match(r"-?\d+", value)
        open_tag.unix_time = int(digits.group(0)) if digits else 0


def parse_html(source: str) -> FormattedText:
    """Parse Telegram-flavoured HTML into plain text and entities."""
    out: list[str] = []
    utf16_offset = 0
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    n = len(source)
    i = 0
    decoded_surrogate = False

    def at(index: int) -> str:
        return source[index] if index < n else "\0"

    def emit(chunk: str) -> None:
        nonlocal utf16_offset
        out.append(chunk)
        utf16_offset += utf16_len(chunk)

    def offset_of(index: int) -> int:
        return _byte_offset(source, index)

    while i < n:
        char = source[i]
        if char == "&":
            decoded = _decode_html_entity(source, i)
            if decoded is not None:
                code, i = decoded
                decoded_surrogate |= 0xD800 <= code <= 0xDFFF
                out.append(chr(code))
                utf16_offset += 2 if code > 0xFFFF else 1
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
        if at(i) != "/":
            while not _is_space(at(i)) and at(i) != ">":
                i += 1
            if at(i) == "\0":
                raise EntityParseError(f"Unclosed start tag at byte offset {offset_of(begin)}")
            name = source[begin + 1 : i].lower()
            if name not in _HTML_TAGS:
                raise EntityParseError(
                    f'Unsupported start tag "{name}" at byte offset {offset_of(begin)}'
                )
            tag = _OpenTag(name, "", 0, utf16_offset, len(out))
            while at(i) != ">":
                while at(i) != "\0" and _is_space(at(i)):
                    i += 1
                if at(i) == ">":
                    break
                attribute_start = i
                while not _is_space(at(i)) and at(i) not in "=>/\"'":
                    i += 1
                attribute = source[attribute_start:i]
                if not attribute:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{name}" at byte offset {offset_of(begin)}'
                    )
                while at(i) != "\0" and _is_space(at(i)):
                    i += 1
                if at(i) != "=":
                    if at(i) == "\0":
                        raise EntityParseError(
                            f'Unclosed start tag "{name}" at byte offset {offset_of(begin)}'
                        )
                    if name == "blockquote" and attribute == "expandable":
                        tag.argument = "1"
                    continue
                i += 1
                while at(i) != "\0" and _is_space(at(i)):
                    i += 1
                if at(i) == "\0":
                    raise EntityParseError(
                        f'Unclosed start tag "{name}" at byte offset {offset_of(begin)}'
                    )
                if at(i) not in "'\"":
                    # A name token: letters, digits, periods or hyphens, not case sensitive.
                    token_start = i
                    while _is_ascii_alnum(at(i)) or at(i) in ".-":
                        i += 1
                    value = source[token_start:i].lower()
                    if not _is_space(at(i)) and at(i) != ">":
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {offset_of(token_start)}"
                        )
                else:
                    quote = at(i)
                    i += 1
                    value_chars: list[str] = []
                    while at(i) != quote and at(i) != "\0":
                        if at(i) == "&":
                            decoded = _decode_html_entity(source, i)
                            if decoded is not None:
                                value_chars.append(chr(decoded[0]))
                                i = decoded[1]
                                continue
                        value_chars.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = "".join(value_chars)
                if at(i) == "\0":
                    raise EntityParseError(f"Unclosed start tag at byte offset {offset_of(begin)}")
                _html_attribute(name, attribute, value, tag)
            i += 1  # the ">"
            if name == "span" and tag.argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {offset_of(begin)}'
                )
            stack.append(tag)
            continue

        # An end tag.
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {offset_of(begin)}")
        while not _is_space(at(i)) and at(i) != ">":
            i += 1
        end_name = source[begin + 2 : i].lower()
        while _is_space(at(i)) and at(i) != "\0":
            i += 1
        if at(i) != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {offset_of(begin)}")
        i += 1
        tag = stack.pop()
        if end_name and end_name != tag.name:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {offset_of(begin)}, "
                f'expected "</{tag.name}>", found "</{end_name}>"'
            )
        if utf16_offset > tag.offset:
            inner = "".join(out[tag.text_start :])
            entity = _html_entity(tag, tag.offset, utf16_offset - tag.offset, inner)
            if entity is not None:
                last = entities[-1] if entities else None
                if (
                    entity["type"] == "pre"
                    and last is not None
                    and last["type"] == "code"
                    and (last["offset"], last["length"]) == (entity["offset"], entity["length"])
                ):
                    # <pre><code class="language-x">: one pre entity with a language.
                    entities.pop()
                    if "language" in last:
                        entity["language"] = last["language"]
                entities.append(entity)

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    if decoded_surrogate:
        raise EntityParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)  # only pre entities carry a language
    return FormattedText("".join(out), _sorted(entities))


# ---------------------------------------------------------------------------
# MarkdownV2
# ---------------------------------------------------------------------------
#
# A port of tdlib's ``parse_markdown_v2`` (same NUL-terminated reading as the
# HTML parser above).  Kinds are tdlib's type names, used verbatim in errors.

_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!\n"
_MD_CODE_KINDS = ("Code", "Pre", "PreCode")
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
    "Date": "date_time",
    "BlockQuote": "blockquote",
    "ExpandableBlockQuote": "expandable_blockquote",
}


@dataclass
class _MdEntity:
    kind: str
    argument: str
    offset: int  # UTF-16 offset in the parsed text
    index: int  # index of the opening marker in the source
    text_start: int  # length of the parsed text when the entity opened


def _tg_link_entity(url: str) -> dict[str, Any]:
    """The fields of a ``![text](tg://emoji?id=...)`` / ``(tg://time?unix=...)`` entity."""
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    if parts.scheme.lower() == "tg" and parts.netloc.lower() == "emoji":
        emoji_id = query.get("id", "")
        if emoji_id.isdigit() and 0 < int(emoji_id) < 2**63:
            return {"type": "custom_emoji", "custom_emoji_id": emoji_id}
    if parts.scheme.lower() == "tg" and parts.netloc.lower() == "time":
        unix = query.get("unix", "")
        if unix.isdigit() and 0 < int(unix) < 2**31 and _valid_date_format(query.get("format", "")):
            fields: dict[str, Any] = {"type": "date_time", "unix_time": int(unix)}
            if query.get("format"):
                fields["date_time_format"] = query["format"]
            return fields
    raise EntityParseError("Invalid tg://emoji or tg://time URL specified")


def parse_markdown_v2(source: str) -> FormattedText:
    """Parse MarkdownV2, enforcing escaping of reserved characters."""
    out: list[str] = []
    utf16_offset = 0
    stack: list[_MdEntity] = []
    entities: list[dict[str, Any]] = []
    n = len(source)
    have_blockquote = False
    can_start_blockquote = True

    def at(index: int) -> str:
        return source[index] if index < n else "\0"

    def reserved(char: str) -> EntityParseError:
        return EntityParseError(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )

    def unclosed(entity: _MdEntity) -> EntityParseError:
        return EntityParseError(
            f"Can't find end of {entity.kind} entity at byte offset "
            f"{_byte_offset(source, entity.index)}"
        )

    def read_url(start: int) -> tuple[str, int]:
        """The URL of ``(...)`` starting at ``start``; returns it and the index of ")"."""
        i = start
        chars: list[str] = []
        while i < n and source[i] != ")":
            if source[i] == "\\" and 0 < ord(at(i + 1)) <= 126:
                chars.append(source[i + 1])
                i += 2
                continue
            chars.append(source[i])
            i += 1
        if at(i) != ")":
            raise EntityParseError(
                f"Can't find end of a URL at byte offset {_byte_offset(source, start)}"
            )
        return "".join(chars), i

    i = -1
    while True:
        i += 1
        if i >= n:
            break
        char = source[i]
        if char == "\\" and 0 < ord(at(i + 1)) <= 126:
            i += 1
            utf16_offset += 1
            out.append(source[i])
            if source[i] != "\r":
                can_start_blockquote = source[i] == "\n"
            continue

        special = "`" if stack and stack[-1].kind in _MD_CODE_KINDS else _MDV2_RESERVED
        if char not in special:
            utf16_offset += utf16_len(char)
            if char != "\r":
                can_start_blockquote = False
            out.append(char)
            continue

        top = stack[-1].kind if stack else None
        if top is None:
            is_end = False
        elif have_blockquote and char == "\n" and (i + 1 == n or source[i + 1] != ">"):
            is_end = True
        else:
            is_end = (
                (top == "Bold" and char == "*")
                or (top == "Italic" and char == "_" and at(i + 1) != "_")
                or (top == "Code" and char == "`")
                or (top in ("Pre", "PreCode") and source.startswith("```", i))
                or (top in ("TextUrl", "CustomEmoji") and char == "]")
                or (top == "Underline" and char == "_" and at(i + 1) == "_")
                or (top == "Strikethrough" and char == "~")
                or (top == "Spoiler" and char == "|" and at(i + 1) == "|")
            )

        if not is_end:
            start = i
            argument = ""
            kind: str | None
            if char == "_":
                kind = "Italic"
                if at(i + 1) == "_":
                    kind = "Underline"
                    i += 1
            elif char == "*":
                kind = "Bold"
            elif char == "~":
                kind = "Strikethrough"
            elif char == "|":
                if at(i + 1) != "|":
                    raise reserved(char)
                i += 1
                kind = "Spoiler"
            elif char == "[":
                kind = "TextUrl"
            elif char == "`":
                kind = "Code"
                if at(i + 1) == "`" and at(i + 2) == "`":
                    i += 3
                    kind = "Pre"
                    language_end = i
                    while not _is_space(at(language_end)) and at(language_end) != "`":
                        language_end += 1
                    if i != language_end and language_end < n and at(language_end) != "`":
                        kind = "PreCode"
                        argument = source[i:language_end]
                        i = language_end
                    # One line break right after the opening ``` is not part of the text.
                    if at(i) in "\n\r" and at(i) != "\0":
                        i += 2 if at(i + 1) in "\n\r" and at(i + 1) not in (at(i), "\0") else 1
                    i -= 1
            elif char == "!":
                if at(i + 1) != "[":
                    raise reserved(char)
                i += 1
                kind = "CustomEmoji"
            elif char == "\n":
                utf16_offset += 1
                out.append("\n")
                can_start_blockquote = True
                kind = None
            elif char == ">":
                if not can_start_blockquote:
                    raise reserved(char)
                kind = None
                if not have_blockquote:
                    kind = "BlockQuote"
                    have_blockquote = True
            else:
                raise reserved(char)
            if kind is not None:
                stack.append(_MdEntity(kind, argument, utf16_offset, start, len(out)))
            continue

        # The end of the innermost entity.
        kind = stack[-1].kind
        if char == "\n" and kind != "BlockQuote":
            # A line break ends the quote; only a "||" right before it (expandable) may be open.
            spoiler = stack[-1]
            if kind != "Spoiler" or not (
                spoiler.index == i - 2 or (spoiler.index == i - 3 and out and out[-1] == "\r")
            ):
                raise unclosed(spoiler)
            stack.pop()
            if stack[-1].kind != "BlockQuote":
                raise unclosed(stack[-1])
            kind = "ExpandableBlockQuote"
        entity = stack[-1]
        skip = utf16_offset == entity.offset
        fields: dict[str, Any] = {"type": _MD_TYPE_NAMES[kind]}
        if kind in ("Underline", "Spoiler"):
            i += 1
        elif kind in ("Pre", "PreCode"):
            i += 2
            if kind == "PreCode":
                fields["language"] = entity.argument
        elif kind == "TextUrl":
            if at(i + 1) == "(":
                url, i = read_url(i + 2)
            else:
                url = "".join(out[entity.text_start :])
            # tdlib also validates and normalises the URL and makes tg://user links mentions.
            if url:
                fields["url"] = url
            else:
                skip = True
        elif kind == "CustomEmoji":
            if at(i + 1) != "(":
                raise EntityParseError("The entity must contain a tg://emoji or tg://time URL")
            url, i = read_url(i + 2)
            fields = _tg_link_entity(url)
        elif kind in ("BlockQuote", "ExpandableBlockQuote"):
            have_blockquote = False
            out.append(char)
            can_start_blockquote = True
            utf16_offset += 1
            skip = False
        if not skip:
            entities.append(
                {"offset": entity.offset, "length": utf16_offset - entity.offset, **fields}
            )
        stack.pop()

    if have_blockquote:
        kind = "BlockQuote"
        if stack[-1].kind == "Spoiler" and stack[-1].index == n - 2:
            stack.pop()
            kind = "ExpandableBlockQuote"
        if stack[-1].kind == "BlockQuote":
            entity = stack.pop()
            if utf16_offset > entity.offset:
                entities.append(
                    {
                        "offset": entity.offset,
                        "length": utf16_offset - entity.offset,
                        "type": _MD_TYPE_NAMES[kind],
                    }
                )
    if stack:
        raise unclosed(stack[-1])
    return FormattedText("".join(out), _sorted(entities))


# ---------------------------------------------------------------------------
# Pipeline
# ---------------------------------------------------------------------------


# tdlib's clean_input_string: control characters become spaces, these disappear.
_CONTROL_CHARS = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f]")
_REMOVED_CHARS = re.compile("[\r\u2028-\u202e\u030a\u0333\u033f]")
# Characters is_empty_string ignores when deciding whether a text is blank.
_BLANK_CHARS = re.compile(
    "[ \n\u00a0\u1680\u180e\u2000-\u200f\u202e\u202f\u205f\u2800\u3000\ufeff\ufffc"
    "\U000e0000-\U000e007f]"
)


def _clean_and_trim(formatted: FormattedText) -> FormattedText:
    """tdlib's fix_formatted_text, as far as text and offsets go.

    Control characters become spaces; ``\\r`` and a few invisible characters
    are removed; then spaces and line breaks are trimmed at the end, and at the
    start only up to the first entity.  Other whitespace (tabs become spaces,
    ideographic spaces stay) is kept, like on Telegram.
    """
    text = _CONTROL_CHARS.sub(" ", formatted.text)
    entities = [dict(entity) for entity in formatted.entities]
    for match in reversed(list(_REMOVED_CHARS.finditer(text))):
        position = utf16_len(text[: match.start()])
        for entity in entities:
            if entity["offset"] > position:
                entity["offset"] -= 1
            elif entity["offset"] + entity["length"] > position:
                entity["length"] -= 1
    text = _REMOVED_CHARS.sub("", text)
    text = text.rstrip(" \n")
    total = utf16_len(text)
    entities = [
        {**entity, "length": min(entity["length"], total - entity["offset"])}
        for entity in entities
        if entity["length"] > 0 and entity["offset"] < total
    ]
    first_entity = min((entity["offset"] for entity in entities), default=total)
    lead = min(len(text) - len(text.lstrip(" \n")), first_entity)
    if lead:
        text = text[lead:]
        entities = [{**entity, "offset": entity["offset"] - lead} for entity in entities]
    return FormattedText(text, _sorted(entities))


_ENTITY_TYPES = frozenset(
    {
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "blockquote",
        "expandable_blockquote",
        "date_time",
    }
)
#: Types Telegram detects by itself: sent ones are ignored, not rejected.
_DETECTED_ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bank_card_number",
    }
)


def _json_int(obj: dict[str, Any], name: str) -> int:
    if name not in obj:
        raise ValueError(f'Can\'t find field "{name}"')
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f'Field "{name}" must be a Number')
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise ValueError(f'Field "{name}" must be a valid Number')


def _json_str(obj: dict[str, Any], name: str, *, required: bool = True) -> str:
    if name not in obj:
        if required:
            raise ValueError(f'Can\'t find field "{name}"')
        return ""
    value = obj[name]
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f'Field "{name}" must be of type String')


def _input_entity(item: Any) -> dict[str, Any] | None:
    """One MessageEntity read like the Bot API does (None: a type it ignores)."""
    if not isinstance(item, dict):
        raise ValueError("expected an Object")
    offset, length = _json_int(item, "offset"), _json_int(item, "length")
    kind = _json_str(item, "type")
    if not kind:
        raise ValueError("Type is not specified")
    if kind in _DETECTED_ENTITY_TYPES:
        return None
    if kind not in _ENTITY_TYPES:
        raise ValueError("Unsupported type specified")
    entity: dict[str, Any] = {"type": kind, "offset": offset, "length": length}
    if kind == "pre" and _json_str(item, "language", required=False):
        entity["language"] = _json_str(item, "language")
    elif kind == "text_link":
        entity["url"] = _json_str(item, "url")
    elif kind == "text_mention":
        if "user" not in item:
            raise ValueError('Can\'t find field "user"')
        user = item["user"]
        if not isinstance(user, dict):
            raise ValueError('Field "user" must be of type Object')
        _json_int(user, "id")
        entity["user"] = user
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = str(_json_int(item, "custom_emoji_id"))
    elif kind == "date_time":
        entity["unix_time"] = _json_int(item, "unix_time")
        if _json_str(item, "date_time_format", required=False):
            entity["date_time_format"] = _json_str(item, "date_time_format")
    return entity


def _validate_entities(raw: Any, text: str) -> list[dict[str, Any]]:
    """``entities`` / ``caption_entities`` sent instead of a parse_mode."""
    if not isinstance(raw, list):
        return []  # the Bot API ignores anything but an array
    entities: list[dict[str, Any]] = []
    for item in raw:
        try:
            entity = _input_entity(item)
        except ValueError as exc:
            raise bad_request(f"can't parse MessageEntity: {exc}") from None
        if entity is not None:
            entities.append(entity)
    for entity in entities:  # tdlib's bounds; entities past the text are clipped later
        if not 0 <= entity["offset"] <= 1000000:
            raise bad_request(f"receive an entity with incorrect offset {entity['offset']}")
        if not 0 <= entity["length"] <= 1000000:
            raise bad_request(f"receive an entity with incorrect length {entity['length']}")
    return _sorted([entity for entity in entities if entity["length"] > 0])


def parse_entities(source: str, parse_mode: str) -> FormattedText:
    """Parse ``source`` in a (non-empty, not "none") parse_mode; ``ApiError`` on bad markup."""
    mode = parse_mode.lower()
    try:
        if mode == "html":
            return parse_html(source)
        if mode == "markdownv2":
            return parse_markdown_v2(source)
    except EntityParseError as exc:
        raise bad_request(f"can't parse entities: {exc}") from exc
    if mode == "markdown":
        # Valid on Telegram (the legacy mode) but used by nothing here: refuse plainly.
        raise ApiError(400, "Bad Request: tgemu does not emulate legacy parse_mode Markdown")
    raise bad_request("unsupported parse_mode")


def format_message_text(
    source: str | None,
    *,
    parse_mode: str | None,
    entities: Any = None,
    caption: bool = False,
) -> FormattedText:
    """Full Telegram pipeline: parse, clean and trim, check emptiness and length.

    An absent text is "message text is empty" (the Bot API's own check); one
    that is blank after parsing is tdlib's "text must be non-empty".  The limit
    counts Unicode code points of the final text.  ``caption=True`` applies
    caption rules: empty is allowed, limit 1024.
    """
    if source is None:
        source = ""
    if not source and not caption:
        raise bad_request("message text is empty")
    if source and parse_mode and parse_mode.lower() != "none":
        formatted = parse_entities(source, parse_mode)  # entities are ignored then
    else:
        formatted = FormattedText(source, _validate_entities(entities, source))
    formatted = _clean_and_trim(formatted)
    if not _BLANK_CHARS.sub("", formatted.text):
        if not caption:
            raise bad_request("text must be non-empty")
        formatted = FormattedText("")
    length = len(formatted.text)
    if caption:
        if length > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
    elif length > MESSAGE_TEXT_LIMIT:
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
