"""Careful file and image input: regular files only, read with a size limit; image sizes read from the header.

>>> data = read_regular_file("photo.jpg", max_bytes=2**30)   # refuses /dev/zero, a FIFO, a folder, a huge file
>>> image_size(data)                                          # (width, height) from the header, nothing decoded
(640, 480)

A path may name something that is not a file at all: ``/dev/zero`` never ends, a FIFO blocks the reader until
a writer comes (forever), a device node replaced by a rename is gone. :func:`read_regular_file` opens without
blocking, checks the opened file is a regular one and reads at most ``max_bytes``; :func:`file_kind` names what
a path is, for the writers that must replace regular files only.

A few hundred bytes of PNG can claim 30000 x 30000 pixels, which OpenCV would allocate before it finds out the
data is short (``OPENCV_IO_MAX_IMAGE_PIXELS`` caps this only when set before ``cv2`` is first imported).
:func:`image_size` reads the width and height from the header of the formats a labeling tool sends (PNG, JPEG,
WebP, BMP, GIF, TIFF, PNM / PFM, Sun raster), so a caller can refuse an image before decoding it.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

#: Largest image file polyseg reads from disk (bytes).
MAX_IMAGE_FILE_BYTES = 1 << 30

#: Flags for opening an image file: never block (a FIFO), never leak the descriptor to a child process.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class NotRegularFileError(OSError):
    """The path names something other than a regular file (a device, a FIFO, a socket)."""


class FileTooLargeError(OSError):
    """The file is larger than the caller's limit."""


def file_kind(mode: int) -> str:
    """What an ``st_mode`` is, in words: "a regular file", "a folder", "a character device", ..."""
    for test, kind in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` bytes.

    The file is opened without blocking (a FIFO does not hang the reader), checked to be a regular file once
    open (no race with a rename), and read up to the limit (a file that grows while it is read is refused too).

    Raises
    ------
    FileNotFoundError, NotADirectoryError, PermissionError
        As ``open`` does.
    IsADirectoryError
        If ``path`` is a folder.
    NotRegularFileError
        If ``path`` is a device, a FIFO or a socket (the message says which).
    FileTooLargeError
        If the file holds more than ``max_bytes`` bytes.
    """
    fd = os.open(path, _OPEN_FLAGS)
    with os.fdopen(fd, "rb") as f:  # closes fd
        mode, size = os.fstat(fd).st_mode, os.fstat(fd).st_size
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(errno.EINVAL, f"is {file_kind(mode)}, not a regular file", str(path))
        if size > max_bytes:
            raise FileTooLargeError(errno.EFBIG, f"is {size} bytes, more than the {max_bytes} allowed", str(path))
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLargeError(errno.EFBIG, f"holds more than the {max_bytes} bytes allowed", str(path))
    return data


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the header of an encoded image, or None if its format is not one of PNG, JPEG,
    WebP, BMP, GIF, TIFF, PNM / PFM or Sun raster, or its header is cut short.

    Only the header is read; whether the rest decodes is for the decoder to say.
    """
    head = bytes(data[:32])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _unpack(">II", data, 16) if head[12:16] == b"IHDR" else None
    if head.startswith(b"\xff\xd8\xff"):
        return _jpeg(data)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return _webp(data)
    if head.startswith(b"BM"):
        return _bmp(data)
    if head.startswith((b"GIF87a", b"GIF89a")):
        return _unpack("<HH", data, 6)
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return _tiff(data)
    if len(head) > 2 and head[0:1] == b"P" and head[1:2] in b"123456Ff" and head[2:3].isspace():
        return _pnm(data)
    if head.startswith(b"\x59\xa6\x6a\x95"):  # Sun raster
        return _unpack(">II", data, 4)
    return None


def _unpack(fmt: str, data: bytes, offset: int) -> tuple[int, int] | None:
    try:
        w, h = struct.unpack_from(fmt, data, offset)
    except struct.error:
        return None
    return int(w), int(h)


def _jpeg(data: bytes) -> tuple[int, int] | None:
    """The size in the first start-of-frame marker (SOF0..SOF15 but DHT, JPG and DAC)."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header came
            return None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            size = _unpack(">HH", data, i + 5)
            return None if size is None else (size[1], size[0])  # stored as height, width
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = bytes(data[12:16])
    if chunk == b"VP8 ":  # lossy: 3-byte frame tag, start code, 14-bit width and height
        size = _unpack("<HH", data, 26)
        return None if size is None else (size[0] & 0x3FFF, size[1] & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25:  # lossless: 14-bit width - 1 and height - 1
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:  # extended: 24-bit canvas width - 1 and height - 1
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    (header,) = struct.unpack_from("<I", data, 14)  # the size of the DIB header names its kind
    if header == 12:  # BITMAPCOREHEADER: 16-bit sizes
        return _unpack("<HH", data, 18)
    width, height = struct.unpack_from("<ii", data, 18)
    return None if width < 0 else (width, abs(height))  # height < 0: rows stored top-down


def _tiff(data: bytes) -> tuple[int, int] | None:
    """ImageWidth (256) and ImageLength (257) of the first directory, classic TIFF or BigTIFF."""
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    try:
        if big:
            (offset,) = struct.unpack_from(order + "Q", data, 8)
            (count,) = struct.unpack_from(order + "Q", data, offset)
            start, entry, value_at = offset + 8, 20, 12
        else:
            (offset,) = struct.unpack_from(order + "I", data, 4)
            (count,) = struct.unpack_from(order + "H", data, offset)
            start, entry, value_at = offset + 2, 12, 8
        found = {}
        for k in range(min(count, 4096)):
            at = start + k * entry
            tag, kind = struct.unpack_from(order + "HH", data, at)
            if tag in (256, 257):
                code = {3: "H", 4: "I", 16: "Q"}.get(kind)
                if code is None:
                    return None
                (found[tag],) = struct.unpack_from(order + code, data, at + value_at)
    except struct.error:
        return None
    return (int(found[256]), int(found[257])) if len(found) == 2 else None


def _pnm(data: bytes) -> tuple[int, int] | None:
    """Width and height after the magic number, skipping whitespace and ``#`` comments."""
    numbers: list[int] = []
    for line in bytes(data[2:4096]).split(b"\n"):
        for token in line.split(b"#", 1)[0].split():
            if not token.isdigit():
                return None
            numbers.append(int(token))
            if len(numbers) == 2:
                return numbers[0], numbers[1]
    return None
