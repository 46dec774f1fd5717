"""uvicorn's HTTP/1.1 protocol (h11) with the read deadlines uvicorn lacks.

uvicorn closes a connection that stays idle after a response (``timeout_keep_alive``) but has no deadline for
reading a request: a client that sends its headers or its body a byte a second, or never sends anything, keeps
its connection (and its memory) for as long as it likes, and 16 such clients are cheap. :func:`protocol_class`
returns a subclass of uvicorn's ``H11Protocol`` that also

- closes a connection whose request headers are not complete ``header_timeout`` seconds after it opened or
  after its previous response (408 if part of a request came);
- answers 408 and closes when a request body is not complete ``body_timeout`` seconds after its headers;
- answers 413 at once when a chunk of a chunked body declares more than ``max_body_bytes`` bytes, instead of
  waiting for them (this reads h11's chunk reader, ``Connection._reader._bytes_in_chunk``; should h11 rename
  it, the body deadline still ends the wait).

The time the application takes to answer is not limited: the deadlines stop once the whole request is read.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

#: Seconds a connection may take to send a request's headers (from its opening, or from the previous response).
HEADER_TIMEOUT = 10.0
#: Seconds a request body may take to arrive, after the headers.
BODY_TIMEOUT = 60.0
#: Largest request head (request line and headers), bytes (h11's own default).
MAX_HEAD_BYTES = 16 * 1024


def _raw_response(status: int, reason: str, error: str) -> bytes:
    body = json.dumps({"error": error}, separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\nconnection: close\r\n"
            f"content-length: {len(body)}\r\n\r\n")
    return head.encode() + body


def protocol_class(
    *, header_timeout: float = HEADER_TIMEOUT, body_timeout: float = BODY_TIMEOUT, max_body_bytes: int | None = None
) -> type[asyncio.Protocol]:
    """An ``H11Protocol`` subclass with read deadlines, for ``uvicorn.run(app, http=...)``.

    Parameters
    ----------
    header_timeout, body_timeout : float
        Seconds for a request's headers, and then for its body.
    max_body_bytes : int, optional
        Answer 413 as soon as a chunked body declares a chunk larger than this.
    """
    import h11  # uvicorn's dependency: imported here, so that this module's constants need no server extras
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class DeadlineH11Protocol(H11Protocol):
        _phase: str | None = None
        _timer: asyncio.TimerHandle | None = None
        _received = False  # bytes of the current request arrived

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            self._received = self._received or bool(data)
            super().data_received(data)
            if not self.transport.is_closing():
                self._refuse_a_huge_chunk()
                self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            """Start the deadline of the phase the request is in (headers, body) unless it runs already."""
            state = self.conn.their_state
            phase = "headers" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
            if phase == self._phase or self.transport.is_closing():
                return
            self._disarm()
            self._phase = phase
            if phase == "headers":
                self._received = False
            if phase is not None:
                seconds = header_timeout if phase == "headers" else body_timeout
                self._timer = self.loop.call_later(seconds, self._expire, phase, seconds)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._phase = None

        def _expire(self, phase: str, seconds: float) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            if self._received and self._unanswered():  # a request began and nothing was answered
                self.transport.write(_raw_response(408, "Request Timeout", f"request {phase} not received within "
                                                                           f"{seconds:g} s"))
            self.logger.info("closed a connection whose request %s took over %g s", phase, seconds)
            self.transport.close()

        def _unanswered(self) -> bool:
            """No byte of a response to the current request was sent (h11: before or just after its head)."""
            return self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE)

        def _refuse_a_huge_chunk(self) -> None:
            pending = getattr(getattr(self.conn, "_reader", None), "_bytes_in_chunk", 0)
            if max_body_bytes is None or not isinstance(pending, int) or pending <= max_body_bytes:
                return
            if not self._unanswered():
                return
            self.transport.write(_raw_response(413, "Content Too Large",
                                               f"request body larger than {max_body_bytes} bytes"))
            self.transport.close()

    return DeadlineH11Protocol
