"""File storage for uploaded media plus small image helpers.

Telegram identifies a stored file by an opaque ``file_id`` (re-usable in later
sends) and a stable ``file_unique_id``; ``getFile`` turns it into a download
path.  The emulator keeps the bytes in memory, which is all tests and demos
need.  Image dimensions are sniffed from headers (no Pillow dependency) so that
``sendPhoto`` can reject non-images the way Telegram does.
"""

from __future__ import annotations

import itertools
import mimetypes
import secrets
import struct
import zlib
from dataclasses import dataclass, field

__all__ = [
    "FileStore",
    "StoredFile",
    "guess_mime_type",
    "image_size",
    "make_png",
    "photo_sizes",
]

MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024

_FILE_ID_PREFIX = {
    "document": "BQACAgIAAxkBAAI",
    "photo": "AgACAgIAAxkBAAI",
    "sticker": "CAACAgIAAxkBAAI",
    "voice": "AwACAgIAAxkBAAI",
    "video_note": "DQACAgIAAxkBAAI",
}
_DIRECTORY = {
    "document": "documents",
    "photo": "photos",
    "sticker": "stickers",
    "voice": "voice",
    "video_note": "video_notes",
}


@dataclass(eq=False)
class StoredFile:
    """One stored blob; all PhotoSize variants of a photo share it."""

    kind: str  # "document" | "photo" | "sticker" | "voice" | "video_note"
    data: bytes
    file_unique_id: str
    file_path: str
    filename: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None  # seconds, for voice messages and video notes
    file_ids: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def file_id(self) -> str:
        """The primary (largest size) file_id."""
        return self.file_ids[-1]

    def __repr__(self) -> str:
        return f"StoredFile({self.kind}, {self.filename or self.file_path!r}, {self.size} bytes)"


class FileStore:
    """In-memory ``file_id`` → bytes registry."""

    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    def _new_id(self, kind: str) -> str:
        return _FILE_ID_PREFIX[kind] + secrets.token_urlsafe(40)

    def add(
        self,
        kind: str,
        data: bytes,
        *,
        filename: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: int | None = None,
        variants: int = 1,
    ) -> StoredFile:
        """Store bytes; ``variants`` file_ids are minted (photos have several sizes)."""
        number = next(self._counter)
        extension = ""
        if filename and "." in filename:
            extension = filename.rsplit(".", 1)[1].lower()
        elif mime_type:
            extension = (mimetypes.guess_extension(mime_type) or "").lstrip(".")
        if kind == "photo":
            extension = "jpg"
        elif kind == "sticker":
            extension = extension or "webp"
        elif kind == "voice":
            extension = "oga"
        elif kind == "video_note":
            extension = "mp4"
        path = f"{_DIRECTORY[kind]}/file_{number}" + (f".{extension}" if extension else "")
        stored = StoredFile(
            kind=kind,
            data=data,
            file_unique_id="AQAD" + secrets.token_urlsafe(9),
            file_path=path,
            filename=filename,
            mime_type=mime_type,
            width=width,
            height=height,
            duration=duration,
        )
        for _ in range(max(1, variants)):
            file_id = self._new_id(kind)
            stored.file_ids.append(file_id)
            self._by_id[file_id] = stored
        self._by_path[path] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        return self._by_id.get(file_id)

    def by_path(self, path: str) -> StoredFile | None:
        return self._by_path.get(path)


def guess_mime_type(filename: str | None, declared: str | None) -> str:
    """Telegram re-detects the MIME type from the name; clients send octet-stream."""
    if declared and declared != "application/octet-stream":
        return declared
    if filename:
        guessed, _ = mimetypes.guess_type(filename)
        if guessed:
            return guessed
    return "application/octet-stream"


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF, JPEG, WebP or BMP image; None otherwise."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            height = int.from_bytes(data[27:30], "little") + 1
            return width, height
        return None
    if data.startswith(b"\xff\xd8"):
        index = 2
        while index + 9 < len(data):
            if data[index] != 0xFF:
                index += 1
                continue
            marker = data[index + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                index += 1 if marker == 0xFF else 2
                continue
            (length,) = struct.unpack(">H", data[index + 2 : index + 4])
            if marker in (
                0xC0,
                0xC1,
                0xC2,
                0xC3,
                0xC5,
                0xC6,
                0xC7,
                0xC9,
                0xCA,
                0xCB,
                0xCD,
                0xCE,
                0xCF,
            ):
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return width, height
            index += 2 + length
    return None


def photo_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """Thumbnail ladder Telegram generates (s/m/x/y), ending with the original."""
    longest = max(width, height, 1)
    sizes: list[tuple[int, int]] = []
    for bound in (90, 320, 800, 1280):
        if longest > bound:
            scale = bound / longest
            sizes.append((max(1, round(width * scale)), max(1, round(height * scale))))
    if longest > 2560:
        scale = 2560 / longest
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    sizes.append((width, height))
    return sizes


def make_png(
    width: int = 320, height: int = 240, rgb: tuple[int, int, int] = (86, 156, 214)
) -> bytes:
    """A valid solid-colour PNG, used for photos sent by emulated users."""

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + tag
            + payload
            + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    raw = row * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
