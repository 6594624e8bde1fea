"""SPDY/3.1 framing for the server side of a kubectl stream connection (port-forward).

kubectl tunnels SPDY inside a WebSocket (subprotocol `SPDY/3.1+portforward.k8s.io`): each
binary message carries bytes of one SPDY byte stream. The client opens streams with
SYN_STREAM (headers in a zlib block compressed with the SPDY/3 dictionary, one zlib stream
per direction), the server answers SYN_REPLY; DATA frames with the FIN flag half-close a
stream, RST_STREAM ends it, PING is echoed. Flow control (WINDOW_UPDATE) is not enforced.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Callable

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9,
)  # fmt: skip
FLAG_FIN = 0x01
RST_CANCEL = 5

_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type", "date",
    "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match",
    "if-range", "if-unmodified-since", "last-modified", "location", "max-forwards", "pragma",
    "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after", "server", "te",
    "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
    "public", "set-cookie", "keep-alive", "origin",
)  # fmt: skip
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417"
    "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
    "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
    "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
    "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
    "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
    "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    """The SPDY/3 header dictionary: length-prefixed words, then a run of plain text."""
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


DICTIONARY = _dictionary()


def encode_headers(headers: dict[str, str]) -> bytes:
    """An uncompressed SPDY/3 name/value block."""
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_headers(block: bytes) -> dict[str, str]:
    """Names and values of an uncompressed block (several values are NUL-separated)."""
    (count,), pos, headers = struct.unpack_from(">I", block), 4, {}
    for _ in range(count):
        (size,) = struct.unpack_from(">I", block, pos)
        name = block[pos + 4 : pos + 4 + size].decode()
        pos += 4 + size
        (size,) = struct.unpack_from(">I", block, pos)
        headers[name] = block[pos + 4 : pos + 4 + size].decode()
        pos += 4 + size
    return headers


class FrameError(ValueError):
    """The client's bytes are not SPDY/3 frames this server can read."""


class Stream:
    """One SPDY stream as the server sees it: read() gives b"" once the client has sent FIN."""

    def __init__(self, session: Session, stream_id: int, headers: dict[str, str]) -> None:
        self.session, self.id, self.headers = session, stream_id, headers
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = False

    async def read(self) -> bytes:
        return await self.incoming.get()

    def write(self, data: bytes) -> None:
        for start in range(0, len(data), 0xFFFF):
            self.session.data(self.id, data[start : start + 0xFFFF])

    def close(self) -> None:
        """Half-close: no more data from the server."""
        if not self.closed:
            self.closed = True
            self.session.data(self.id, b"", fin=True)


class Session:
    """Parses the client's frames from `feed()`; writes frames with `send`; hands every
    new stream, already answered with SYN_REPLY, to `on_stream`."""

    def __init__(self, send: Callable[[bytes], None], on_stream: Callable[[Stream], None]) -> None:
        self.send, self.on_stream = send, on_stream
        self.buffer = bytearray()
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.deflate = zlib.compressobj(zdict=DICTIONARY)
        self.streams: dict[int, Stream] = {}

    def feed(self, data: bytes) -> None:
        """Handle every complete frame buffered so far; FrameError if one is malformed."""
        self.buffer += data
        while len(self.buffer) >= 8:
            length = int.from_bytes(self.buffer[5:8], "big")
            if len(self.buffer) < 8 + length:
                return
            head, flags = bytes(self.buffer[:4]), self.buffer[4]
            payload = bytes(self.buffer[8 : 8 + length])
            del self.buffer[: 8 + length]
            try:
                if head[0] & 0x80:
                    self._control(int.from_bytes(head[2:4], "big"), flags, payload)
                else:
                    self._data(int.from_bytes(head, "big") & 0x7FFFFFFF, flags, payload)
            except (zlib.error, struct.error, UnicodeDecodeError) as exc:
                raise FrameError(str(exc)) from None

    def _control(self, kind: int, flags: int, payload: bytes) -> None:
        if kind == SYN_STREAM:
            stream_id = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            headers = decode_headers(self.inflate.decompress(payload[10:]))
            stream = self.streams[stream_id] = Stream(self, stream_id, headers)
            self._frame(SYN_REPLY, 0, payload[:4] + self._compress({}))
            if flags & FLAG_FIN:
                stream.incoming.put_nowait(b"")
            self.on_stream(stream)
        elif kind == RST_STREAM:
            stream_id = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            gone = self.streams.pop(stream_id, None)
            if gone is not None:
                gone.closed = True
                gone.incoming.put_nowait(b"")
        elif kind == PING:
            self._frame(PING, 0, payload)
        elif kind == HEADERS:
            self.inflate.decompress(payload[4:])  # keeps the zlib stream in step

    def _data(self, stream_id: int, flags: int, payload: bytes) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        if payload:
            stream.incoming.put_nowait(payload)
        if flags & FLAG_FIN:
            stream.incoming.put_nowait(b"")

    def _compress(self, headers: dict[str, str]) -> bytes:
        raw = encode_headers(headers)
        return self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    def _frame(self, kind: int, flags: int, payload: bytes) -> None:
        self.send(struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(payload)) + payload)

    def data(self, stream_id: int, data: bytes, fin: bool = False) -> None:
        flags = FLAG_FIN if fin else 0
        self.send(struct.pack(">II", stream_id, flags << 24 | len(data)) + data)

    def reset(self, stream_id: int) -> None:
        if self.streams.pop(stream_id, None) is not None:
            self._frame(RST_STREAM, 0, struct.pack(">II", stream_id, RST_CANCEL))
