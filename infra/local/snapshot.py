"""Keep the local stack's state across a restart (docs/local-stack.md, "What survives a restart").

The moto server dumps its state (infra/local/moto_state.py: DynamoDB items, SQS messages, Secrets Manager
secrets, KMS keys) to `<state dir>/state.json` every LOCAL_SNAPSHOT_SECONDS (default 30; 0 = only on stop)
and on stop, after the API and the workers stopped. The file is written atomically (a temporary file, then a
rename) with mode 0600: a reader or a crash mid-write never sees half a state. On start, and when a crashed
moto server is restarted, the stack creates the resources of template.yaml and then loads the file into them,
before seeding. `--fresh` deletes it first.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from infra.local.moto_state import PATH

STATE_FILE = "state.json"
DEFAULT_INTERVAL_S = 30.0


def interval_from_env() -> float:
    raw = os.environ.get("LOCAL_SNAPSHOT_SECONDS", "").strip()
    return float(raw) if raw else DEFAULT_INTERVAL_S


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # channel secrets and key material: the owner only
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)  # atomic on POSIX


def dump(moto_url: str, timeout: float = 60.0) -> bytes:
    with urllib.request.urlopen(moto_url + PATH, timeout=timeout) as reply:  # noqa: S310 - the local moto server
        return reply.read()


def restore(moto_url: str, path: Path, timeout: float = 120.0) -> dict[str, int] | None:
    """Load `path` into the moto server; None when there is no snapshot."""
    if not path.exists():
        return None
    request = urllib.request.Request(moto_url + PATH, data=path.read_bytes(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310 - the local moto server
        return json.loads(reply.read())


def describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in counts.items() if value) or "empty"


class Snapshots:
    """The periodic snapshot thread, and the final one on stop. `paused()` holds it off (a moto restart)."""

    def __init__(self, moto_url: str, path: Path, *, interval: float, say: Callable[[str], None]) -> None:
        self.moto_url, self.path, self.interval, self.say = moto_url, path, interval, say
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self.taken = 0

    def take(self) -> bool:
        with self._lock:
            try:
                data = dump(self.moto_url)
            except Exception as error:
                if not self._failing:  # once per outage, not every interval
                    self.say(f"snapshot failed (keeping the last one): {error!r}")
                self._failing = True
                return False
            write_atomically(self.path, data)
            self._failing = False
            self.taken += 1
            return True

    def start(self) -> Snapshots:
        self.take()  # a baseline at once: a moto crash before the first interval still has the seeded state
        if self.interval > 0:
            self._thread = threading.Thread(target=self._run, name="snapshots", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.take()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No snapshot while held: a restarted, still empty moto server must not overwrite the last state."""
        with self._lock:
            yield

    def close(self) -> None:
        """Stop the thread and take the final snapshot."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        if self.take():
            self.say(f"state saved to {self.path}")


def open_state(state_dir: Path, moto_url: str, *, fresh: bool, persist: bool,
               say: Callable[[str], None]) -> dict[str, int] | None:
    """On start, after the template's resources exist: load the last snapshot (None: a fresh stack)."""
    from infra.local.reseed import SEEDED_FILE

    path = state_dir / STATE_FILE
    if fresh:
        for name in (STATE_FILE, SEEDED_FILE):
            (state_dir / name).unlink(missing_ok=True)
    if not persist or not path.exists():
        return None
    try:
        counts = restore(moto_url, path)
    except Exception as error:
        detail = error.read().decode(errors="replace") if hasattr(error, "read") else repr(error)
        raise RuntimeError(f"{path} could not be loaded ({detail}); `--fresh` starts from nothing") from error
    say(f"state restored from {path} ({describe(counts or {})}); --fresh starts from nothing")
    return counts
