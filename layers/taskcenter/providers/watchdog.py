"""The deadline of one outbound HTTP exchange (providers/http.py, `total_timeout`): a timer that cuts the
socket of a server that trickles bytes slower than the read timeout would notice."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any


class Watchdog:
    """Shuts the response's socket down when the exchange's time is up (a blocked read then returns)."""

    def __init__(self, resp: Any, seconds: float) -> None:
        self.fired = False
        self._resp = resp
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        conn = getattr(self._resp, "connection", None)
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing to cut
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()
