"""A decode guard: native image decoders run in a persistent worker process with a timeout.

Decoders of JPEG (libjpeg), JPEG 2000 (OpenJPEG), WebP (libwebp), AVIF (libavif/dav1d/aom) and
HEIF (libheif/libde265) are C libraries. On a stream damaged by the channel they may raise, but a
native library can also segfault, abort, loop or try to allocate gigabytes, and no Python
``try``/``except`` survives that. :class:`DecodeGuard` therefore keeps one long-lived child
process (started on first use, restarted when it dies) that decodes under a memory limit, and
waits for each reply at most ``timeout_s`` seconds; a child that crashes or hangs is killed and the
call raises :class:`~semcom.errors.CodecError`. The parent never imports a native decoder for a
guarded call.

Cost (measured on this project's 2-core CPU machine, see ``docs/codecs.md``): for a 512x512
image, about 1 ms per decode on top of the decode itself when the machine is idle (best of 40),
8-13 ms median when the 2 cores are oversubscribed (load ~15: scheduling latency of the second
process), plus a one-off 0.4 s start of the worker.

Example:
    >>> from semcom.codecs.guard import DecodeGuard
    >>> guard = DecodeGuard()
    >>> try:
    ...     guard.decode(b"not an image", "JPEG")
    ... except Exception as exc:
    ...     print(type(exc).__name__)
    CodecError
    >>> guard.close()
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from semcom.errors import CodecError, InputError

from . import _native

#: Largest image (pixels) a guarded decode accepts; checked from the header before decoding.
MAX_PIXELS = 64 * 1024 * 1024
#: Largest stream (bytes) accepted for decoding.
MAX_STREAM_BYTES = 256 * 1024 * 1024
#: Address-space limit of the worker process (bytes).
WORKER_MEMORY_LIMIT = 4 * 1024**3

_BOOT = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


class DecodeGuard:
    """Decode image streams in a persistent, restartable worker process.

    Args:
        timeout_s: seconds to wait for one decode before the worker is killed (CodecError).
        max_pixels: refuse streams whose header announces more pixels than this.
        memory_limit: address-space limit of the worker, in bytes (POSIX only; ignored elsewhere).

    Thread-safe (one decode at a time per guard). After ``fork`` the child process starts its own
    worker. Call :meth:`close` to stop the worker (also done at interpreter exit).
    """

    def __init__(self, timeout_s: float = 10.0, max_pixels: int = MAX_PIXELS, memory_limit: int = WORKER_MEMORY_LIMIT):
        if not timeout_s > 0:
            raise InputError(f"timeout_s must be > 0, got {timeout_s}")
        self.timeout_s = float(timeout_s)
        self.max_pixels = int(max_pixels)
        self.memory_limit = int(memory_limit)
        self._proc: subprocess.Popen | None = None
        self._owner_pid = -1
        self._lock = threading.Lock()
        #: Number of worker (re)starts so far, for tests and diagnostics.
        self.starts = 0

    def __getstate__(self) -> dict:  # picklable (e.g. sent to a sweep worker): the process stays behind
        state = self.__dict__.copy()
        state.update(_proc=None, _owner_pid=-1, _lock=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- worker life cycle -------------------------------------------------------------------
    def _alive(self) -> bool:
        return self._proc is not None and self._owner_pid == os.getpid() and self._proc.poll() is None

    def _start(self) -> None:
        script = str(Path(_native.__file__).resolve())
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, script, str(self.memory_limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self._owner_pid = os.getpid()
        self.starts += 1

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or self._owner_pid != os.getpid():
            return
        try:
            proc.kill()
            proc.wait(timeout=5)
        except (OSError, subprocess.SubprocessError):  # pragma: no cover
            pass
        for f in (proc.stdin, proc.stdout):
            try:
                if f:
                    f.close()
            except OSError:  # pragma: no cover
                pass

    def close(self) -> None:
        """Stop the worker process (a later decode starts a new one)."""
        with self._lock:
            self._kill()

    def __del__(self):  # pragma: no cover - best effort at garbage collection
        try:
            self._kill()
        except Exception:
            pass

    # -- decoding ----------------------------------------------------------------------------
    def _read(self, n: int, deadline: float) -> bytes:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        chunks = []
        remaining = n
        while remaining > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def decode(self, data: bytes, fmt: str, allow_truncated: bool = False) -> tuple[np.ndarray, bool]:
        """Decode ``data`` (format ``fmt``) to RGB uint8 ``[H, W, 3]``; returns ``(pixels, truncated)``.

        Raises :class:`CodecError` when the stream is corrupt, too large, or when the decoder
        crashed or did not answer within ``timeout_s`` (the worker is then restarted).
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"data must be bytes, got {type(data).__name__}")
        data = bytes(data)
        if fmt not in _native.FORMATS:
            raise InputError(f"unknown format {fmt!r}; known: {_native.FORMATS}")
        if len(data) == 0:
            raise CodecError("empty stream")
        if len(data) > MAX_STREAM_BYTES:
            raise CodecError(f"stream of {len(data)} bytes exceeds the {MAX_STREAM_BYTES}-byte limit")
        header = json.dumps({"fmt": fmt, "max_pixels": self.max_pixels, "allow_truncated": bool(allow_truncated)}).encode()
        request = struct.pack("<I", len(header)) + header + struct.pack("<Q", len(data)) + data
        with self._lock:
            if not self._alive():
                self._kill()
                self._start()
            assert self._proc is not None and self._proc.stdin is not None
            deadline = time.monotonic() + self.timeout_s
            try:
                self._proc.stdin.write(request)
                self._proc.stdin.flush()
                (hlen,) = struct.unpack("<I", self._read(4, deadline))
                reply = json.loads(self._read(hlen, deadline))
                pixels = self._read(reply["h"] * reply["w"] * 3, deadline) if reply["ok"] else b""
            except TimeoutError:
                self._kill()
                raise CodecError(f"{fmt} decoder did not finish within {self.timeout_s:g} s (worker restarted)") from None
            except (EOFError, BrokenPipeError, OSError, ValueError, KeyError) as exc:
                code = self._proc.poll() if self._proc is not None else None
                self._kill()
                why = f"exit status {code}" if code is not None else type(exc).__name__
                raise CodecError(f"{fmt} decoder crashed ({why}); worker restarted") from None
        if not reply["ok"]:
            raise CodecError(reply["error"])
        arr = np.frombuffer(pixels, dtype=np.uint8).reshape(reply["h"], reply["w"], 3)
        return arr, bool(reply["truncated"])


_INPROCESS_LOCK = threading.Lock()


def decode_inprocess(data: bytes, fmt: str, allow_truncated: bool = False, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, bool]:
    """Decode in this process (fast, but a native crash or hang would take the caller down).

    Meant for streams known to be intact (e.g. just encoded). Same return and errors as
    :meth:`DecodeGuard.decode`.
    """
    if len(data) == 0:
        raise CodecError("empty stream")
    with _INPROCESS_LOCK:  # the truncation switch of Pillow is module-global
        try:
            return _native.decode_array(bytes(data), fmt, max_pixels, allow_truncated)
        except _native.NativeDecodeError as exc:
            raise CodecError(str(exc)) from None
        except MemoryError:
            raise CodecError("decoder ran out of memory") from None


_DEFAULT: DecodeGuard | None = None
_DEFAULT_LOCK = threading.Lock()


def default_guard() -> DecodeGuard:
    """The process-wide guard shared by the codecs (its worker starts on first use)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = DecodeGuard()
        return _DEFAULT
