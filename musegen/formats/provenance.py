"""Provenance: how a generated piece was made, written into each file in the form its format allows, and read back.

A provenance is a dict of text fields (``musegen`` version, ``model``,
``representation``, ``engine``, ``seed``, ``temperature``, ``primer``,
``piece``, ``command``...).  :func:`embed` adds it to a finished file in
place (the writers call it on their temporary, before it is published) and
:func:`read_provenance` gives it back exactly:

==========  =====================================================================================
format      where
==========  =====================================================================================
ABC         ``N:musegen-KEY: VALUE`` lines in the tune header (before ``K:``)
MIDI        text meta events ``musegen-KEY: VALUE`` at the start of the first track
MusicXML    ``<encoding><software>musegen VERSION`` and ``<miscellaneous-field name="musegen-KEY">``
WAV         a ``LIST``/``INFO`` chunk: ``ISFT`` (software) and ``ICMT`` (one line per field)
PNG         ``iTXt`` chunks, keyword ``musegen-KEY``
SVG         ``<metadata id="musegen-provenance">`` with one line per field
PDF         an incremental update: a new document information dictionary (``/Creator``,
            ``/Subject`` with one line per field, ``/musegen-KEY`` entries)
NPZ         a ``provenance`` member: a string array of ``KEY: VALUE`` lines
==========  =====================================================================================

Values are escaped on one line (``\\\\``, ``\\n``, ``\\r``, ``\\xHH`` for other
control characters and ``%`` (an ABC comment), ``\\uHHHH`` for a lone
surrogate of an undecodable command line), so any text survives every format.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import unescape as xml_unescape

from musegen.errors import MusegenError, UsageError
from musegen.fileio import input_file

PREFIX = "musegen-"  # each field's tag: musegen-seed, musegen-model...
KEY = re.compile(r"[a-z][a-z0-9_]*\Z")
LINE = re.compile(r"musegen-([a-z][a-z0-9_]*): (.*)\Z")
MAX_TEXT = 1 << 20  # characters of provenance read back from one file, at most
SVG_ID = "musegen-provenance"

# --------------------------------------------------------------------------- text lines


_ESCAPE = re.compile(r"[\\\x00-\x1f\x7f%\ud800-\udfff]")
_UNESCAPE = re.compile(r"\\(\\|n|r|x[0-9a-f]{2}|u[0-9a-f]{4})")


def _escape_char(match: re.Match) -> str:
    c = match.group()
    if c == "\\":
        return "\\\\"
    if c in "\n\r":
        return "\\n" if c == "\n" else "\\r"
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def _unescape_code(match: re.Match) -> str:
    code = match.group(1)
    if code in ("\\", "n", "r"):
        return {"\\": "\\", "n": "\n", "r": "\r"}[code]
    return chr(int(code[1:], 16))


def escape(value: str) -> str:
    """``value`` on one printable line (see the module's note); :func:`unescape` undoes it."""
    return _ESCAPE.sub(_escape_char, value)


def unescape(text: str) -> str:
    return _UNESCAPE.sub(_unescape_code, text)


def _checked(fields: dict[str, str]) -> dict[str, str]:
    for key, value in fields.items():
        if not KEY.match(key) or not isinstance(value, str):
            raise UsageError(f"provenance field {key!r}: keys are lower-case words, values text")
    return fields


def to_lines(fields: dict[str, str]) -> list[str]:
    """``["musegen-seed: 0", ...]``: one escaped line per field."""
    return [f"{PREFIX}{key}: {escape(value)}" for key, value in _checked(fields).items()]


def from_lines(lines) -> dict[str, str]:
    """The fields of the ``musegen-KEY: VALUE`` lines among ``lines`` (other lines are skipped)."""
    fields = {}
    for line in lines:
        match = LINE.match(line.strip("\r\n"))
        if match:
            fields[match.group(1)] = unescape(match.group(2))
    return fields


def software(fields: dict[str, str]) -> str:
    return f"musegen {fields['musegen']}" if fields.get("musegen") else "musegen"


# --------------------------------------------------------------------------- ABC


def _embed_abc(data: bytes, fields: dict[str, str]) -> bytes:
    lines = [line for line in data.decode("utf-8").split("\n") if not line.startswith("N:" + PREFIX)]
    notes = ["N:" + line for line in to_lines(fields)]
    at = next((i for i, line in enumerate(lines) if line.startswith("K:")), None)
    if at is None:  # no key line: after the leading X: and T: lines
        at = 0
        while at < len(lines) and lines[at][:2] in ("X:", "T:"):
            at += 1
    return "\n".join(lines[:at] + notes + lines[at:]).encode("utf-8")


def _read_abc(path: Path) -> dict[str, str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return from_lines(line[2:] for line in f.read(MAX_TEXT * 4).split("\n") if line.startswith("N:" + PREFIX))


# --------------------------------------------------------------------------- MIDI


def _varlen(n: int) -> bytes:
    from mido.midifiles.meta import encode_variable_int

    return bytes(encode_variable_int(n))


def _embed_mid(data: bytes, fields: dict[str, str]) -> bytes:
    at = data.find(b"MTrk")
    if not data.startswith(b"MThd") or at < 0 or len(data) < at + 8:
        raise MusegenError("not a MIDI file")
    (length,) = struct.unpack(">I", data[at + 4:at + 8])
    events = b"".join(b"\x00\xff\x01" + _varlen(len(t)) + t for t in (line.encode("utf-8") for line in to_lines(fields)))
    return data[:at + 4] + struct.pack(">I", length + len(events)) + events + data[at + 8:]


def _read_mid(path: Path) -> dict[str, str]:
    from musegen.formats.midi import open_midifile

    mid = open_midifile(path)
    texts = [msg.text for track in mid.tracks[:1] for msg in track if msg.is_meta and msg.type == "text"]
    return from_lines(texts)


# --------------------------------------------------------------------------- MusicXML


def _embed_musicxml(data: bytes, fields: dict[str, str]) -> bytes:
    text = data.decode("utf-8")
    text = re.sub(r"\s*<miscellaneous-field name=\"musegen-[^\"]*\">[^<]*</miscellaneous-field>", "", text)
    text = re.sub(r"\s*<software>musegen[^<]*</software>", "", text)
    text = re.sub(r"\s*<miscellaneous>\s*</miscellaneous>", "", text)
    misc = "".join(f'\n      <miscellaneous-field name="{PREFIX}{key}">{xml_escape(escape(value))}</miscellaneous-field>'
                   for key, value in _checked(fields).items())
    soft = f"<software>{xml_escape(software(fields))}</software>"
    if "</identification>" not in text:
        block = f"<identification>\n    <encoding>{soft}</encoding>\n    <miscellaneous>{misc}\n    </miscellaneous>\n  </identification>"
        after = None
        for tag in ("</work>", "</movement-number>", "</movement-title>"):
            for match in re.finditer(re.escape(tag), text):
                after = max(after or 0, match.end())
        if after is None:
            root = re.search(r"<score-(partwise|timewise)\b[^>]*>", text)
            if root is None:
                raise MusegenError("not a MusicXML score")
            after = root.end()
        return (text[:after] + "\n  " + block + text[after:]).encode("utf-8")
    if "</encoding>" in text:
        text = re.sub(r"\s*</encoding>", f"\n      {soft}\n    </encoding>", text, count=1)
    else:  # the encoding comes before source, relation and miscellaneous
        match = re.search(r"<source>|<relation\b|<miscellaneous>|</identification>", text)
        text = text[:match.start()] + f"<encoding>{soft}</encoding>" + text[match.start():]
    if "</miscellaneous>" in text:
        return re.sub(r"\s*</miscellaneous>", lambda m: misc + "\n    </miscellaneous>", text, count=1).encode("utf-8")
    return text.replace("</identification>", f"  <miscellaneous>{misc}\n    </miscellaneous>\n  </identification>",
                        1).encode("utf-8")


def _read_musicxml(path: Path) -> dict[str, str]:
    if path.suffix.lower() == ".mxl":
        return {}
    text = path.read_text(encoding="utf-8", errors="replace")
    found = re.findall(r"<miscellaneous-field name=\"musegen-([a-z][a-z0-9_]*)\">([^<]*)</miscellaneous-field>", text)
    return {key: unescape(xml_unescape(value, {"&quot;": '"', "&apos;": "'"})) for key, value in found}


# --------------------------------------------------------------------------- WAV


def _chunks(data: bytes, start: int) -> list[tuple[bytes, bytes]]:
    out, at = [], start
    while at + 8 <= len(data):
        cid, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        out.append((cid, data[at + 8:at + 8 + size]))
        at += 8 + size + (size & 1)
    return out


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def _embed_wav(data: bytes, fields: dict[str, str]) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise MusegenError("not a WAV file")
    kept = [(cid, body) for cid, body in _chunks(data, 12) if not (cid == b"LIST" and body[:4] == b"INFO")]
    info = b"INFO" + _chunk(b"ISFT", software(fields).encode("utf-8") + b"\x00") + \
        _chunk(b"ICMT", "\n".join(to_lines(fields)).encode("utf-8") + b"\x00")
    body = b"WAVE" + b"".join(_chunk(cid, b) for cid, b in kept) + _chunk(b"LIST", info)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _read_wav(path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return fields
        while True:  # walk the chunks without reading the samples
            top = f.read(8)
            if len(top) < 8:
                return fields
            cid, size = top[:4], struct.unpack("<I", top[4:])[0]
            if cid == b"LIST" and size <= MAX_TEXT * 4:
                body = f.read(size)
                if body[:4] == b"INFO":
                    for sub, text in _chunks(body, 4):
                        if sub == b"ICMT":
                            fields.update(from_lines(text.rstrip(b"\x00").decode("utf-8", "replace").split("\n")))
                f.seek(size & 1, os.SEEK_CUR)
            else:
                f.seek(size + (size & 1), os.SEEK_CUR)


# --------------------------------------------------------------------------- PNG


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def _png_chunks(data: bytes):
    at = len(PNG_SIGNATURE)
    while at + 12 <= len(data):
        (size,) = struct.unpack(">I", data[at:at + 4])
        yield data[at + 4:at + 8], data[at + 8:at + 8 + size], data[at:at + 12 + size]
        at += 12 + size


def _itxt(keyword: str, text: str) -> bytes:
    return _png_chunk(b"iTXt", keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8"))


def _is_ours(ctype: bytes, body: bytes) -> bool:
    return ctype in (b"iTXt", b"tEXt") and body.startswith(PREFIX.encode())


def _embed_png(data: bytes, fields: dict[str, str]) -> bytes:
    if not data.startswith(PNG_SIGNATURE):
        raise MusegenError("not a PNG file")
    ours = b"".join(_itxt(PREFIX + key, escape(value)) for key, value in _checked(fields).items())
    out = [PNG_SIGNATURE]
    for ctype, body, raw in _png_chunks(data):
        if _is_ours(ctype, body):
            continue
        if ctype == b"IEND":
            out.append(ours)
        out.append(raw)
    return b"".join(out)


def _read_png(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    fields = {}
    if not data.startswith(PNG_SIGNATURE):
        return fields
    for ctype, body, _ in _png_chunks(data):
        if _is_ours(ctype, body):
            keyword, _, rest = body.partition(b"\x00")
            # iTXt: compression flag and method, language tag, translated keyword, text
            text = rest[2:].partition(b"\x00")[2].partition(b"\x00")[2] if ctype == b"iTXt" else rest
            key = keyword.decode("latin-1")[len(PREFIX):]
            if KEY.match(key):
                fields[key] = unescape(text.decode("utf-8", "replace"))
    return fields


# --------------------------------------------------------------------------- SVG


def _embed_svg(data: bytes, fields: dict[str, str]) -> bytes:
    text = re.sub(rf'\s*<metadata id="{SVG_ID}">[^<]*</metadata>', "", data.decode("utf-8"))
    root = re.search(r"<svg\b[^>]*>", text)
    if root is None:
        raise MusegenError("not an SVG file")
    block = f'\n<metadata id="{SVG_ID}">\n' + "\n".join(xml_escape(line) for line in to_lines(fields)) + "\n</metadata>"
    return (text[:root.end()] + block + text[root.end():]).encode("utf-8")


def _read_svg(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    match = re.search(rf'<metadata id="{SVG_ID}">([^<]*)</metadata>', text)
    return from_lines(xml_unescape(match.group(1)).split("\n")) if match else {}


# --------------------------------------------------------------------------- PDF


def _pdf_text(value: str) -> str:
    return "<FEFF" + value.encode("utf-16-be").hex().upper() + ">"


def _embed_pdf(data: bytes, fields: dict[str, str]) -> bytes:
    """An incremental update: a new information dictionary, a one-entry xref section, a trailer pointing back."""
    trailers = list(re.finditer(rb"trailer\s*<<(.*?)>>\s*startxref\s*(\d+)", data, re.S))
    if not data.startswith(b"%PDF") or not trailers:
        raise MusegenError("not a PDF file with a classic cross-reference table")
    trailer, prev = trailers[-1].group(1), int(trailers[-1].group(2))
    size = int(re.search(rb"/Size\s+(\d+)", trailer).group(1))
    root = re.search(rb"/Root\s+(\d+\s+\d+\s+R)", trailer).group(1)
    ident = re.search(rb"/ID\s*(\[[^\]]*\])", trailer)
    entries = {"Creator": software(fields), "Producer": "musegen (svglib, ReportLab)",
               "Subject": "\n".join(f"{key}: {escape(value)}" for key, value in _checked(fields).items()),
               **{PREFIX + key: escape(value) for key, value in fields.items()}}
    info = "<< " + " ".join(f"/{name} {_pdf_text(value)}" for name, value in entries.items()) + " >>"
    body = data if data.endswith(b"\n") else data + b"\n"
    offset = len(body)
    update = f"{size} 0 obj\n{info}\nendobj\n".encode("ascii")
    xref = len(body) + len(update)
    update += (f"xref\n{size} 1\n{offset:010d} 00000 n \ntrailer\n<< /Size {size + 1} /Root {root.decode()} "
               f"/Info {size} 0 R /Prev {prev}" + (f" /ID {ident.group(1).decode('latin-1')}" if ident else "")
               + f" >>\nstartxref\n{xref}\n%%EOF\n").encode("latin-1")
    return body + update


def _read_pdf(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    found = re.findall(rb"/musegen-([a-z][a-z0-9_]*)\s*<FEFF([0-9A-F]*)>", data)
    return {key.decode(): unescape(bytes.fromhex(value.decode()).decode("utf-16-be", "replace")) for key, value in found}


# --------------------------------------------------------------------------- NPZ


def _embed_npz(path: Path, fields: dict[str, str]) -> None:
    import numpy as np

    lines = np.array([f"{key}: {escape(value)}" for key, value in _checked(fields).items()] or [""])
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, lines, allow_pickle=False)
    with zipfile.ZipFile(path) as z:
        entries = [(info.filename, z.read(info)) for info in z.infolist()]
    if any(name == "provenance.npy" for name, _ in entries):
        raise MusegenError(f"{path}: already holds a provenance")
    # written again with one fixed date on every entry (a zip stores when each was written): same call, same bytes
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in [*entries, ("provenance.npy", buffer.getvalue())]:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                       compress_type=zipfile.ZIP_DEFLATED)
    path.write_bytes(out.getvalue())


def _read_npz(path: Path) -> dict[str, str]:
    from musegen.formats.pianoroll import npz_array, open_npz

    with open_npz(path) as data:
        if "provenance" not in data.files:
            return {}
        lines = npz_array(data, "provenance", path, most_bytes=MAX_TEXT * 4)
    if lines.dtype.kind != "U":
        return {}
    return from_lines(f"{PREFIX}{line}" for line in lines.ravel().tolist())


# --------------------------------------------------------------------------- the registry


def _in_memory(embed: Callable[[bytes, dict[str, str]], bytes]) -> Callable[[Path, dict[str, str]], None]:
    def write(path: Path, fields: dict[str, str]) -> None:
        try:
            data = embed(path.read_bytes(), fields)
        except (ValueError, AttributeError, struct.error) as exc:
            raise MusegenError(f"{path}: cannot add the provenance ({exc})") from None
        path.write_bytes(data)

    return write


# suffix -> (embed(path, fields) in place, read(path) -> fields); add an entry for a new format
FORMATS: dict[str, tuple[Callable[[Path, dict[str, str]], None], Callable[[Path], dict[str, str]]]] = {
    ".abc": (_in_memory(_embed_abc), _read_abc),
    ".mid": (_in_memory(_embed_mid), _read_mid),
    ".midi": (_in_memory(_embed_mid), _read_mid),
    ".musicxml": (_in_memory(_embed_musicxml), _read_musicxml),
    ".xml": (_in_memory(_embed_musicxml), _read_musicxml),
    ".mxl": (lambda path, fields: None, _read_musicxml),  # compressed: left as it is
    ".wav": (_in_memory(_embed_wav), _read_wav),
    ".png": (_in_memory(_embed_png), _read_png),
    ".svg": (_in_memory(_embed_svg), _read_svg),
    ".pdf": (_in_memory(_embed_pdf), _read_pdf),
    ".npz": (_embed_npz, _read_npz),
}


def embed(path: str | os.PathLike, fields: dict[str, str]) -> None:
    """Add ``fields`` to the finished file ``path`` in place (call it on a temporary, before publishing).

    Nothing is done when ``fields`` is empty; a suffix with no place for a
    provenance is refused.
    """
    path = Path(path)
    if not fields:
        return
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"{path}: no provenance can be written in a {suffix or 'suffix-less'} file")
    FORMATS[suffix][0](path, dict(fields))


def read_provenance(path: str | os.PathLike) -> dict[str, str]:
    """The provenance written into ``path`` (``{}`` when it holds none).

    Raises
    ------
    MusegenError
        One line for a missing file or a suffix that holds none.
    """
    path = input_file(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise MusegenError(f"{path}: musegen writes no provenance in {suffix or 'suffix-less'} files; "
                           f"it does in {', '.join(sorted(FORMATS))}")
    try:
        return FORMATS[suffix][1](path)
    except MusegenError:
        raise
    except (OSError, ValueError, struct.error) as exc:
        raise MusegenError(f"{path}: cannot read its provenance ({' '.join(str(exc).split())})") from None
