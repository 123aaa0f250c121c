"""Torch's channel noise drawn while the compiled chain receives (private: :class:`~semcom.link.nr.NRLink`'s
fused AWGN path with ``noise="torch"`` on two or more threads).

``torch.randn`` runs on one thread (the generator's draws are sequential: a second torch thread
does not make it faster, ``benchmarks/results/torch_noise.json``) and takes about a third of the
decoder's time for slot-sized QPSK TBs at high SNR. Drawn whole before the receiver starts, it
holds the chain for that long on every core. Here the calling thread draws the noise in chunks
of rows while one side thread sends each chunk already drawn (encodes its TBs, scales the noise,
maps, adds, demaps in one kernel per TB, then decodes and checks), on one thread; when the last
chunk is drawn, the calling thread takes every chunk the side thread has not claimed and sends
them on all the kernel threads.

Results equal one draw of all rows, float for float: torch's CPU ``normal_`` fills the tensor with
uniforms from the generator, then transforms them in blocks of 16 floats (a size that is not a
multiple of 16 gets its last 16 values redrawn), so consecutive draws whose sizes are multiples of
16 (the last one at least 16) give the values and generator state of one draw of them all
(:func:`draw_bounds`; ``tests/link/test_pipeline.py`` checks it on this torch, and
``tests/link/test_awgn_fused.py`` the link's results). Which thread receives which rows does not
change them.
"""

from __future__ import annotations

import math
import threading
import numpy as np
import torch

from semcom.link._threads import side_pool
from semcom.link.base import normal_pairs

#: About this many floats per drawn chunk (two slot-sized QPSK TBs, about 0.2 ms of torch.randn):
#: the side thread starts on the first soon, and the last one it claims ends soon after the draw.
CHUNK_FLOATS = 60_000
#: torch's CPU normal_ transforms its uniforms in blocks of this many floats.
_TORCH_BLOCK = 16


def draw_bounds(rows: int, num_re: int, chunk_floats: int | None = None) -> list[tuple[int, int]]:
    """Row ranges of ``[0, rows)`` whose draws ``[b - a, num_re, 2]``, made one after the other,
    give the values of one draw ``[rows, num_re, 2]``: every range but the last holds a multiple of
    16 floats, the last at least 16 (else one range). About ``chunk_floats`` floats each (default
    :data:`CHUNK_FLOATS`)."""
    chunk_floats = CHUNK_FLOATS if chunk_floats is None else chunk_floats
    per_row = 2 * num_re
    step = _TORCH_BLOCK // math.gcd(per_row, _TORCH_BLOCK)  # rows per whole number of blocks
    size = step * max(1, math.ceil(chunk_floats / (per_row * step)))
    bounds = [(a, min(rows, a + size)) for a in range(0, rows, size)]
    if len(bounds) > 1 and (bounds[-1][1] - bounds[-1][0]) * per_row < _TORCH_BLOCK:
        bounds[-2:] = [(bounds[-2][0], rows)]
    return bounds


class _Chunks:
    """Which chunks are drawn and which the side thread has claimed (one lock, one condition)."""

    def __init__(self, total: int) -> None:
        self.cond = threading.Condition()
        self.total = total
        self.drawn = 0  # chunks [0, drawn) are drawn
        self.next = 0  # chunks [0, next) are claimed
        self.closed = False

    def mark_drawn(self, count: int) -> None:
        with self.cond:
            self.drawn = count
            self.cond.notify_all()

    def claim(self) -> int | None:
        """The next chunk (waits for its draw), or ``None`` once closed or all claimed."""
        with self.cond:
            self.cond.wait_for(lambda: self.closed or self.next >= self.total or self.drawn > self.next)
            if self.closed or self.next >= self.total:
                return None
            self.next += 1
            return self.next - 1

    def close(self) -> int:
        """No more claims; the first chunk the side thread did not claim."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
            return self.next


def receive_while_drawing(codec, u: torch.Tensor, no: float, gen: torch.Generator, decode_rows: int,
                          bar=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fused AWGN channel with torch's noise for the TBs ``u`` ``[N, TBS]`` of one layout
    (``codec``: the link's ``_FastTBCodec``), drawn from ``gen`` in chunks while the side thread
    sends the chunks drawn (module docstring): (bits ``[N, TBS]`` float32, cb_ok ``[N, C]``, tb_ok ``[N]``).

    ``decode_rows``: rows per decoder call on the calling thread. The calling thread waits for the
    side thread before it returns or raises (its own error, else the side thread's).
    """
    n, num_re = u.shape[0], codec.lay.num_re
    bounds = draw_bounds(n, num_re)
    outs = codec.outputs(n)
    out_np = tuple(t.numpy() for t in outs)
    z = torch.empty((n, num_re, 2))
    chunks = _Chunks(len(bounds))
    side = side_pool().submit(_side, codec, u, z, no, bounds, chunks, out_np, bar)
    try:
        for i, (a, b) in enumerate(bounds):
            normal_pairs((b - a, num_re), gen, out=z[a:b])
            chunks.mark_drawn(i + 1)
        # After the draw the calling thread claims chunks beside the side thread, each on one thread
        # (taking every chunk left on all the kernel threads was slower on 2 cores in a trial: the
        # kernel threads then compete with the side thread's last chunk). If the side thread has not
        # started (the pool busy), everything left is sent here.
        if not side.cancel():
            while (i := chunks.claim()) is not None:
                _send(codec, u, z, no, bounds[i], 1, out_np, bar)
        elif (first := chunks.close()) < len(bounds):
            for a in range(bounds[first][0], n, decode_rows):
                _send(codec, u, z, no, (a, min(n, a + decode_rows)), None, out_np, bar)
    finally:
        chunks.close()  # on an error: the side thread claims no more
        side.cancel()  # if it has not started (the side thread busy): nothing left for it
        error = None if side.cancelled() else side.exception()  # waits for the side thread, on an error too
    if error is not None:
        raise error
    return outs


def _send(codec, u: torch.Tensor, z: torch.Tensor, no: float, rows: tuple[int, int], threads: int | None,
          out: tuple[np.ndarray, ...], bar) -> None:
    """Send ``rows`` ``(a, b)`` of ``u`` with their noise ``z`` (``codec.send_noisy``: encode, channel,
    receive) into those rows of ``out``; advance ``bar``."""
    a, b = rows
    codec.send_noisy(u[a:b], z[a:b], no, threads, tuple(o[a:b] for o in out))
    if bar is not None:
        bar.update((b - a) * codec.lay.num_cb)


def _side(codec, u: torch.Tensor, z: torch.Tensor, no: float, bounds: list[tuple[int, int]], chunks: _Chunks,
          out: tuple[np.ndarray, ...], bar) -> None:
    """The side thread: send the drawn chunks it claims (encode, channel, receive), on one thread."""
    while (i := chunks.claim()) is not None:
        _send(codec, u, z, no, bounds[i], 1, out, bar)
