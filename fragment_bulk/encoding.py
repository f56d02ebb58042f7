"""Text files: which encoding a file's bytes are in, and where its lines begin.

The encoding is the one a byte-order mark names, else guessed from a sample: UTF-8 when it
decodes, Western European (cp1252) when the text it gives looks so, else none (better to ask
than to garble). Lines are found in bytes, whatever the encoding, so that a reader can start at
a header below the first line. Used by the CSV and JSON Lines readers (:mod:`fragment_bulk.readers`).
"""

from __future__ import annotations

import codecs
import re
import sys
from pathlib import Path

from fragment_bulk.errors import InputError


def text_encoding(name: str, source: str) -> str:
    """``name`` if it is a codec of text; else a one-line InputError."""
    try:
        codec = codecs.lookup(name)
    except LookupError:
        raise InputError(f"{source}: unknown encoding {name!r}") from None
    if not codec._is_text_encoding:  # rot13, base64...: codecs, but not of text
        raise InputError(f"{source}: {name!r} is not a text encoding")
    return name


def bom_encoding(head: bytes) -> str | None:
    """The codec of the byte-order mark ``head`` starts with (a codec that drops it), or None."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: FF FE starts both
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def detect_encoding(sample: bytes, *, complete: bool) -> str | None:
    """BOM, else UTF-8 if the sample decodes (a character cut at its end is fine), else cp1252
    if the text it gives looks Western European; None when unsure: better to ask than garble."""
    if bom := bom_encoding(sample) or utf16_without_bom(sample):
        return bom
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
        return "utf-8"
    except UnicodeDecodeError as exc:
        if _mostly_utf8(sample):
            raise MixedEncoding(exc.start) from None
    try:
        text = sample.decode("cp1252")
    except UnicodeDecodeError:
        return None  # bytes cp1252 leaves undefined: latin-1 would read them as control characters
    return "cp1252" if _looks_western(text) else None


def utf16_without_bom(sample: bytes) -> str | None:
    """``utf-16-le`` or ``utf-16-be`` if ``sample`` looks like it, with no BOM: its ASCII characters
    (the delimiters and line breaks of a CSV, at least) have a zero byte in every other place, and
    other text none in the other places."""
    if 0 not in sample:  # (one quick scan: most files are no UTF-16, and their slices cost milliseconds)
        return None
    pairs = len(sample) // 2
    for encoding, zeros_at in (("utf-16-le", 1), ("utf-16-be", 0)):
        text, zeros = sample[1 - zeros_at:pairs * 2:2], sample[zeros_at:pairs * 2:2]
        if pairs >= 2 and 0 not in text and zeros.count(0) > pairs * 0.2 and _decodes(sample[:pairs * 2], encoding):
            return encoding
    return None


def byte_order(encoding: str, head: bytes) -> str:
    """``encoding`` for reading past the file's start, where no BOM tells UTF-16 or UTF-32 their
    byte order: the codec of the order the BOM ``head`` starts with gave (else the one Python
    assumes); any other encoding as it is."""
    name = codecs.lookup(encoding).name
    if name not in ("utf-16", "utf-32"):
        return encoding
    if head.startswith(codecs.BOM_UTF16_BE if name == "utf-16" else codecs.BOM_UTF32_BE):
        return f"{name}-be"
    if head.startswith(codecs.BOM_UTF16_LE):  # (which begins UTF-32's little-endian BOM too)
        return f"{name}-le"
    return f"{name}-{'le' if sys.byteorder == 'little' else 'be'}"  # what Python reads without a BOM


def line_codec(encoding: str, head: bytes) -> str:
    """A codec that finds the line breaks of text in ``encoding``, one byte for one byte of the
    file: UTF-16 and UTF-32 in their byte order, and latin-1 for the others, which write a line
    break as the ASCII byte (and, UTF-8, Shift-JIS, GB18030 or Big5 alike, never use that byte
    within another character)."""
    ordered = byte_order(encoding, head)
    return ordered if codecs.lookup(ordered).name.startswith(("utf-16", "utf-32")) else "latin-1"


LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as the CSV readers take them (a spreadsheet's are \r\n)


def line_offset(path: Path, lines: int, codec: str) -> int | None:
    """The byte at which line ``lines + 1`` of the file begins, its characters read in ``codec``
    (see :func:`line_codec`); None if the file has fewer line breaks. Physical lines: the lines
    above a header are a title or notes, not records with a quoted cell over several lines."""
    # A code unit that does not decode is one U+FFFD, which takes as many bytes in UTF-16 or
    # UTF-32 (latin-1 decodes any byte): the bytes are counted right, whatever they hold.
    decoder = codecs.getincrementaldecoder(codec)("replace")
    offset, held = 0, ""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(1 << 20)
            text = held + decoder.decode(block)
            held = "\r" if block and text.endswith("\r") else ""  # maybe half of a \r\n cut by the block
            text = text[:len(text) - len(held)]
            for found in LINE_BREAK.finditer(text):
                lines -= 1
                if not lines:
                    return offset + len(text[:found.end()].encode(codec))
            offset += len(text.encode(codec))
            if not block:
                return None


def first_undecodable_line(path: Path, encoding: str, *, start: int = 0, first_line: int = 1) -> int | None:
    """The line (1-based) of the file's first bytes that ``encoding`` cannot read; None if none.
    Only once a read has failed: it reads the file again from ``start`` (line ``first_line``)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = first_line
    with open(path, "rb") as handle:
        handle.seek(start)
        while block := handle.read(1 << 20):
            try:
                lines += decoder.decode(block).count("\n")
            except UnicodeDecodeError as exc:  # what decodes before it (the block, and bytes held from the last)
                before = codecs.getincrementaldecoder(encoding)().decode(exc.object[:exc.start], final=False)
                return lines + before.count("\n")
            except UnicodeError:  # a codec that cannot start (UTF-16 without a BOM): no line to name
                return None
    return None


class MixedEncoding(ValueError):
    """UTF-8 text holding a few bytes of another encoding (a row pasted from elsewhere), at ``offset``."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _mostly_utf8(sample: bytes) -> bool:
    """Whether bytes that do not decode as UTF-8 still hold more UTF-8 characters (é as C3 A9)
    than stray bytes: read as cp1252, every one of those characters would be garbled (Ã©)."""
    characters = len(_UTF8_SEQUENCE.findall(sample))
    stray = sum(1 for byte in _UTF8_SEQUENCE.sub(b"", sample) if byte >= 0x80)
    return characters >= 2 and characters >= 2 * stray  # (cp1252 text can hold a pair that looks like one: É®)


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _looks_western(text: str) -> bool:
    """Whether non-ASCII letters mostly stand alone or in pairs, as accents in Western words do
    (Orléans, Müßiggang, Sæþór); Cyrillic, Greek or CJK bytes read as cp1252 come in longer runs
    (Москва is Ìîñêâà), and Shift-JIS katakana as ƒ before ASCII (テスト is ƒeƒXƒg). Short words
    in those scripts and Central European cp1250 can still pass: --encoding settles it."""
    if len(re.findall(r"ƒ[\x21-\x7e]", text)) >= 2:
        return False
    runs = [len(run) for run in re.findall(r"[^\x00-\x7f]+", text)]
    return sum(length for length in runs if length >= 4) <= sum(runs) / 2
