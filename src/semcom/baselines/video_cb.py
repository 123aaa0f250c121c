"""The H.265 baseline over code blocks: a CBR video stream carried by the semantic stream's grant.

prt (Griessel et al., "Importance-Driven Semantic Resilience for Challenging Future 6G Channels"),
Sec. V, Figs. 3-4: the keypoint video call is compared with H.265 video at a matched bit rate over
the same lossy code blocks. Data flow::

    frames [T,3,H,W] --x265 CBR, low delay--> Annex-B stream (one access unit per frame)
      --frame each AU with an index NAL--> byte pipe --cut into T intervals x K blocks of C_j bits-->
      link (cb_ok per block) --depacketize: drop lost blocks and every NAL unit they touch-->
      intact AUs + frame index --ffmpeg (guarded: timeout, never hangs)--> decoded frames + pts
      --map to frame indices--> [T,3,H,W], failures replaced by the last good frame (mid-grey first)

**Encoder.** :class:`semcom.codecs.video.VideoCodec` (``"h265"``: libx265 in the bundled ffmpeg,
near-exact CBR ``-b:v Nk -x265-params strict-cbr=1:vbv-maxrate=N:vbv-bufsize=N``) with the
low-delay settings a video call uses, added to its x265 parameters: no B-frames (decode order =
display order = frame index), parameter sets repeated at every key frame (so decoding restarts at
the next key frame after a loss), closed GOPs, no x265 version SEI (2.4 kB of text per key frame).
``gop`` is the key-frame interval (default: one second of frames).

**Bit accounting (what crosses the channel).** The grant carries ``B = sum_j C_j`` bits per frame
interval, so the matched bit rate is ``B * fps``. The video is a byte pipe over the grant: interval
t carries stream bits ``[t B, (t+1) B)`` (CBR; the decoding delay this implies is at most the
1-second VBV buffer and is not penalised here). Framing: each access unit is preceded by an *index
NAL unit* of 8 bytes (3-byte start code, 2-byte NAL header of the unspecified type 48, the frame
index in three 7-bit bytes with the top bit set, so it never emulates a start code); this is the
role of an RTP timestamp and costs :data:`FRAMING_BITS_PER_FRAME` = 64 bits per frame. The encoder
gets ``T B - 64 T`` bits for the whole video (:meth:`VideoCodec.encode_to_budget`); the rest of the
``T B`` channel bits is zero padding. All of it is reported (:class:`PackedVideo`).

**Depacketizer (our choice, after RFC 7798).** The receiver knows which blocks failed their CRC
(and so which byte ranges are lost: a byte is lost if any of its bits is). Bytes of lost blocks are
never read. A NAL unit is kept only if it lies wholly in received bytes and its end is seen (the
next start code in the same received run, or the end of the pipe), as an RTP receiver drops a
fragmented NAL unit with a missing fragment; splicing the halves of two NAL units would hand the
decoder garbage. NAL units are attributed to the frame of the last index NAL before them; after a
lost range, NAL units are dropped until the next index NAL (their frame is unknown). The kept access
units go to ffmpeg in an IVF container with the frame index as the timestamp, and ffmpeg's
per-frame statistics (``-stats_enc_pre``) say which indices came out.

**Failures.** A frame the decoder does not output (its AU or a reference was lost: ffmpeg skips a
P-frame with a missing reference) is a failure; the documented fallback shows the last good frame
(a player's freeze), or mid-grey 0.5 before the first good frame. ``decoded[t]`` reports per-frame
success. A stream that makes ffmpeg fail or time out gives all-fallback frames, never an exception.

Example:
    >>> import torch
    >>> from semcom.semantics.symbols import CodeBlockGrant
    >>> frames = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)).repeat(6, 1, 1, 1)
    >>> tx = H265OverCodeBlocks(CodeBlockGrant.uniform(2, 4000), fps=10)
    >>> packed = tx.pack(frames)
    >>> packed.blocks.shape, packed.channel_bits == 6 * 8000
    (torch.Size([6, 8000]), True)
    >>> out = tx.unpack(packed.blocks, torch.ones(6, 2, dtype=torch.bool), packed)
    >>> bool(out.decoded.all()), out.frames.shape
    (True, torch.Size([6, 3, 32, 32]))
"""

from __future__ import annotations

import dataclasses
import os
import re
import struct
import tempfile
from typing import Any, Callable

import numpy as np
import torch

from semcom.codecs.video import VideoCodec, _ffmpeg_exe, _frames_to_uint8, _parse_ppm_stream
from semcom.errors import CodecError, InputError
from semcom.semantics.symbols import CodeBlockGrant

__all__ = [
    "FRAMING_BITS_PER_FRAME",
    "FALLBACK_GREY",
    "LowDelayH265",
    "PackedVideo",
    "ReceivedVideo",
    "H265OverCodeBlocks",
    "split_nal_units",
    "group_access_units",
    "index_nal",
    "depacketize",
    "link_channel",
]

#: Bits of framing per frame: the 8-byte index NAL unit in front of every access unit.
FRAMING_BITS_PER_FRAME = 64
#: Grey level shown before the first frame that decodes.
FALLBACK_GREY = 0.5
#: Largest frame index the 21-bit index NAL carries.
MAX_FRAMES = (1 << 21) - 1
_INDEX_NAL_TYPE = 48
_START = b"\x00\x00\x01"
_LOW_DELAY_X265 = "bframes=0:repeat-headers=1:open-gop=0:info=0"


class LowDelayH265(VideoCodec):
    """:class:`VideoCodec` ``"h265"`` with the low-delay x265 settings of a video call.

    Adds ``bframes=0:repeat-headers=1:open-gop=0:info=0`` to the x265 parameters (``encoder_params``);
    the same ffmpeg command and guarded run otherwise.
    """

    def __init__(self, preset: str = "medium", gop: int | None = None, timeout_s: float = 60.0):
        super().__init__("h265", preset=preset, gop=gop, timeout_s=timeout_s, encoder_params=_LOW_DELAY_X265)


# --------------------------------------------------------------------------------------------
# Annex-B parsing
# --------------------------------------------------------------------------------------------


def split_nal_units(stream: bytes) -> list[tuple[int, int, int]]:
    """NAL units of an Annex-B stream as ``(start, stop, nal_unit_type)``; ``start`` is the first
    byte after the start code, ``stop`` excludes trailing zero bytes (start-code prefixes / padding).

    Example:
        >>> split_nal_units(b"\\x00\\x00\\x00\\x01\\x40\\x01\\xaa\\x00\\x00\\x01\\x02\\x01\\xbb\\x00")
        [(4, 7, 32), (10, 13, 1)]
    """
    starts = [m.end() for m in re.finditer(re.escape(_START), stream)]
    out = []
    for k, s in enumerate(starts):
        stop = starts[k + 1] - 3 if k + 1 < len(starts) else len(stream)
        while stop > s and stream[stop - 1] == 0:
            stop -= 1
        if stop - s >= 2:
            out.append((s, stop, (stream[s] >> 1) & 0x3F))
    return out


def group_access_units(stream: bytes) -> list[list[tuple[int, int]]]:
    """Group the NAL units of an H.265 stream into access units (one per picture), in decode order.

    A picture starts at its first VCL NAL unit (types 0-31) with ``first_slice_segment_in_pic_flag``
    set; the non-VCL units just before it (parameter sets, prefix SEI, AUD) belong to it.
    Returns per AU the ``(start, stop)`` byte ranges of its NAL units (without start codes).
    """
    aus: list[list[tuple[int, int]]] = []
    pending: list[tuple[int, int]] = []
    for s, e, t in split_nal_units(stream):
        if t < 32:
            first = e - s > 2 and bool(stream[s + 2] & 0x80)
            if first or not aus:
                aus.append(pending + [(s, e)])
                pending = []
            else:
                aus[-1].append((s, e))
        elif t in (40, 38, 37) and aus and not pending:  # suffix SEI, FD, EOB: end of the current AU
            aus[-1].append((s, e))
        else:
            pending.append((s, e))
    if pending and aus:
        aus[-1].extend(pending)
    return aus


def index_nal(index: int) -> bytes:
    """The 8-byte index NAL unit: start code, NAL header (type 48), frame index in 3 x 7 bits.

    Example:
        >>> index_nal(5).hex()
        '0000016001808085'
    """
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index <= MAX_FRAMES:
        raise InputError(f"frame index must be an int in [0, {MAX_FRAMES}], got {index!r}")
    i = int(index)
    return _START + bytes([_INDEX_NAL_TYPE << 1, 0x01, 0x80 | (i >> 14), 0x80 | ((i >> 7) & 0x7F), 0x80 | (i & 0x7F)])


def _read_index(payload: bytes) -> int | None:
    if len(payload) != 5 or payload[1] != 0x01 or not all(b & 0x80 for b in payload[2:5]):
        return None
    return ((payload[2] & 0x7F) << 14) | ((payload[3] & 0x7F) << 7) | (payload[4] & 0x7F)


def depacketize(data: bytes, byte_ok: np.ndarray) -> list[tuple[int, bytes]]:
    """The intact access units of a received byte pipe: ``[(frame_index, annexb_bytes), ...]``.

    Args:
        data: the received pipe (bytes of lost blocks are present but never read).
        byte_ok: bool ``[len(data)]``, True where every bit of the byte came in a block whose CRC passed.

    See the module docstring for the rules (whole NAL units only, attribution by index NAL).
    """
    byte_ok = np.asarray(byte_ok, dtype=bool)
    if byte_ok.shape != (len(data),):
        raise InputError(f"byte_ok must have one flag per byte ({len(data)}), got shape {byte_ok.shape}")
    n = len(data)
    # runs of received bytes
    edges = np.flatnonzero(np.diff(np.concatenate([[0], byte_ok.astype(np.int8), [0]])))
    runs = list(zip(edges[0::2].tolist(), edges[1::2].tolist()))
    aus: dict[int, list[bytes]] = {}
    current: int | None = None
    for a, b in runs:
        if a > 0:  # a lost range precedes this run: the frame of what follows is unknown
            current = None
        chunk = data[a:b]
        starts = [m.end() for m in re.finditer(re.escape(_START), chunk)]
        for k, s in enumerate(starts):
            if k + 1 < len(starts):
                stop = starts[k + 1] - 3
            elif b == n:
                stop = len(chunk)  # the end of the pipe ends the last NAL unit
            else:
                current = None  # this NAL unit runs into a lost range: dropped, and so is the rest
                break
            while stop > s and chunk[stop - 1] == 0:
                stop -= 1
            if stop - s < 2:
                continue
            nal = chunk[s:stop]
            if (nal[0] >> 1) & 0x3F == _INDEX_NAL_TYPE:
                current = _read_index(nal)
                if current is not None:
                    aus.setdefault(current, [])
                continue
            if current is not None:
                aus[current].append(b"\x00\x00\x00\x01" + nal)
    return [(i, b"".join(parts)) for i, parts in sorted(aus.items()) if parts]


def _ivf(packets: list[tuple[int, bytes]], width: int, height: int) -> bytes:
    """An IVF container (fourcc HEVC, time base 1 s) whose packet timestamps are frame indices."""
    head = b"DKIF" + struct.pack("<HH4sHHIIII", 0, 32, b"HEVC", width, height, 1, 1, len(packets), 0)
    return head + b"".join(struct.pack("<IQ", len(d), pts) + d for pts, d in packets)


# --------------------------------------------------------------------------------------------
# The baseline
# --------------------------------------------------------------------------------------------


class BlockRates:
    """The rates of a video packed into code blocks, shared by the strict and the resilient baselines
    (their dataclasses have ``blocks``, ``grant``, ``shape``, ``fps`` and ``stream_bits``)."""

    @property
    def channel_bits(self) -> int:
        """Payload bits that cross the channel: ``T * sum_j C_j`` (stream, framing, padding and any FEC)."""
        return int(self.blocks.numel())

    @property
    def matched_kbps(self) -> float:
        """The grant's bit rate ``sum_j C_j * fps`` in kbit/s."""
        return self.grant.total_bits * self.fps / 1000.0

    @property
    def stream_kbps(self) -> float:
        """The video stream's own bit rate in kbit/s."""
        return self.stream_bits / (self.shape[0] / self.fps) / 1000.0


@dataclasses.dataclass(frozen=True)
class PackedVideo(BlockRates):
    """What the transmitter sends: ``blocks [T, sum_j C_j]`` (interval t, block j at ``grant.ranges[j]``).

    Attributes:
        blocks: float 0/1 ``[T, B]``, ``B = grant.total_bits``.
        grant: the per-interval grant.
        shape: ``(T, H, W)`` of the video.
        fps: frames per second.
        stream_bits: bits of the x265 stream (``8 * len``, parameter sets and SEI included).
        framing_bits: index NAL units (:data:`FRAMING_BITS_PER_FRAME` per frame).
        padding_bits: zero padding filling the last intervals.
        frame_bytes: bytes of each frame's access unit in the stream (start codes included, index NAL
            excluded), ``[T]``; they sum to ``stream_bits / 8``.
        clean: the encoder's own decode of the stream (no loss), ``[T, 3, H, W]``, or None.
    """

    blocks: torch.Tensor
    grant: CodeBlockGrant
    shape: tuple[int, int, int]
    fps: float
    stream_bits: int
    framing_bits: int
    padding_bits: int
    frame_bytes: tuple[int, ...]
    stream: bytes = dataclasses.field(repr=False, default=b"")
    clean: torch.Tensor | None = dataclasses.field(repr=False, default=None)

    def accounting(self) -> dict:
        """The bit budget as a dict (all in bits per video, and kbit/s)."""
        return {"channel_bits": self.channel_bits, "stream_bits": self.stream_bits, "framing_bits": self.framing_bits,
                "padding_bits": self.padding_bits, "matched_kbps": self.matched_kbps, "stream_kbps": self.stream_kbps,
                "bits_per_interval": self.grant.total_bits, "frames": self.shape[0], "fps": self.fps,
                "frame_bits": [8 * b for b in self.frame_bytes]}


@dataclasses.dataclass(frozen=True)
class ReceivedVideo:
    """What the receiver shows: frames ``[T, 3, H, W]``, ``decoded [T]`` (False: fallback shown)."""

    frames: torch.Tensor
    decoded: torch.Tensor
    frames_received: int
    decoder_log: str = ""

    @property
    def success_rate(self) -> float:
        """Fraction of frames the decoder output."""
        return float(self.decoded.float().mean())


class H265OverCodeBlocks:
    """H.265 video over a code-block grant: :meth:`pack`, a link, :meth:`unpack` (module docstring).

    Args:
        grant: the K code blocks granted per frame interval (``C_j`` bits each).
        fps: frames per second; the matched bit rate is ``grant.total_bits * fps``.
        gop: key-frame interval in frames (default ``round(fps)``, one second).
        preset: x265 speed preset.
        timeout_s: limit of one ffmpeg run (encode or decode), seconds.
    """

    def __init__(self, grant: CodeBlockGrant, fps: float, gop: int | None = None, preset: str = "medium",
                 timeout_s: float = 60.0):
        if not isinstance(grant, CodeBlockGrant):
            raise InputError(f"grant must be a CodeBlockGrant, got {type(grant).__name__}")
        fps = VideoCodec._check_fps(fps)
        self.grant, self.fps = grant, fps
        self.gop = max(1, int(round(fps))) if gop is None else gop
        self.codec = LowDelayH265(preset=preset, gop=self.gop, timeout_s=timeout_s)

    def __repr__(self) -> str:
        return f"H265OverCodeBlocks(grant={self.grant.capacities}, fps={self.fps:g}, gop={self.gop})"

    # -- transmitter ---------------------------------------------------------------------------
    def pack(self, frames: torch.Tensor, clean_decode: bool = False) -> PackedVideo:
        """Encode ``frames [T, 3, H, W]`` to fit ``T * B`` bits with framing, cut into ``[T, B]`` blocks.

        Raises:
            InputError: bad frames (shape, range, odd sizes), more than :data:`MAX_FRAMES` frames.
            CodecBudgetError: even the encoder's smallest stream does not fit the grant.
            CodecError: the encoder failed or its stream has not one access unit per frame.
        """
        u8 = _frames_to_uint8(frames)
        t, h, w, _ = u8.shape
        if t > MAX_FRAMES:
            raise InputError(f"at most {MAX_FRAMES} frames, got {t}")
        b = self.grant.total_bits
        budget = t * b - FRAMING_BITS_PER_FRAME * t
        if budget < 8:
            raise InputError(f"the grant ({b} bits per frame) does not even carry the framing "
                             f"({FRAMING_BITS_PER_FRAME} bits per frame)")
        for _ in range(3):
            stream = self.codec.encode_to_budget(frames, fps=self.fps, max_bits=int(budget))
            pipe, frame_bytes = self._frame(stream, t)
            if 8 * len(pipe) <= t * b:
                break
            budget -= 8 * len(pipe) - t * b  # cannot happen with exact framing; kept as a guard
        else:  # pragma: no cover
            raise CodecError("framed stream does not fit the grant")
        bits = np.unpackbits(np.frombuffer(pipe, dtype=np.uint8))
        full = np.zeros(t * b, dtype=np.float32)
        full[: bits.size] = bits
        clean = self.codec.decode_robust(stream, (t, h, w), fallback=FALLBACK_GREY).image if clean_decode else None
        return PackedVideo(
            blocks=torch.from_numpy(full.reshape(t, b)), grant=self.grant, shape=(t, h, w), fps=self.fps,
            stream_bits=8 * len(stream), framing_bits=FRAMING_BITS_PER_FRAME * t, padding_bits=t * b - bits.size,
            frame_bytes=tuple(frame_bytes), stream=stream, clean=clean,
        )

    @staticmethod
    def _frame(stream: bytes, t: int) -> tuple[bytes, list[int]]:
        """The pipe: every access unit (its bytes in the stream, start codes included) after its index NAL."""
        aus = group_access_units(stream)
        if len(aus) != t:
            raise CodecError(f"x265 stream has {len(aus)} access units for {t} frames")
        begins = []
        for i, au in enumerate(aus):
            s = au[0][0] - 3
            if i == 0:
                s = 0
            elif s > 0 and stream[s - 1] == 0:
                s -= 1
            begins.append(s)
        ends = begins[1:] + [len(stream)]
        pipe = bytearray()
        for i, (s, e) in enumerate(zip(begins, ends)):
            pipe += index_nal(i) + stream[s:e]
        return bytes(pipe), [e - s for s, e in zip(begins, ends)]

    # -- receiver ------------------------------------------------------------------------------
    def unpack(self, bits: Any, cb_ok: Any, packed: PackedVideo) -> ReceivedVideo:
        """Depacketize the received ``bits [T, B]`` given ``cb_ok [T, K]`` and decode (never raises on loss).

        ``packed`` provides only what the receiver knows from signalling: the grant, ``(T, H, W)``
        and fps (the sent bits are not read).
        """
        t, h, w = packed.shape
        b, k = self.grant.total_bits, self.grant.n_blocks
        bits = torch.as_tensor(bits).detach().to("cpu")
        if tuple(bits.shape) != (t, b):
            raise InputError(f"received bits must be shaped [T, B] = [{t}, {b}], got {tuple(bits.shape)}")
        ok = torch.as_tensor(cb_ok).detach().to("cpu")
        if tuple(ok.shape) != (t, k):
            raise InputError(f"cb_ok must be shaped [T, K] = [{t}, {k}], got {tuple(ok.shape)}")
        if ok.dtype != torch.bool and not bool(((ok == 0) | (ok == 1)).all()):  # NaN, 0.5, 2: not a CRC flag
            raise InputError("cb_ok must hold booleans or 0/1")
        ok = ok.to(torch.bool).numpy()
        bit_ok = np.zeros((t, b), dtype=bool)
        for j, (s, e) in enumerate(self.grant.ranges):
            bit_ok[:, s:e] = ok[:, j : j + 1]
        flat = bits.reshape(-1).numpy()
        if not np.isin(flat, (0, 1)).all():
            raise InputError("received bits must be 0/1")
        nbytes = flat.size // 8
        data = np.packbits(flat[: nbytes * 8].astype(np.uint8)).tobytes()
        byte_ok = bit_ok.reshape(-1)[: nbytes * 8].reshape(nbytes, 8).all(axis=1)
        packets = [(i, d) for i, d in depacketize(data, byte_ok) if i < t]
        return self._decode(packets, t, h, w)

    def _decode(self, packets: list[tuple[int, bytes]], t: int, h: int, w: int) -> ReceivedVideo:
        decoded = torch.zeros(t, dtype=torch.bool)
        frames_by_index: dict[int, np.ndarray] = {}
        log = ""
        if packets:
            with tempfile.TemporaryDirectory(prefix="semcom-h265-") as tmp:
                stats = os.path.join(tmp, "frames.txt")
                cmd = [
                    _ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-threads", "1", "-f", "ivf", "-c:v", "hevc",
                    "-i", "-", "-fps_mode", "passthrough", "-enc_time_base", "demux", "-stats_enc_pre", stats,
                    "-stats_enc_pre_fmt", "{pts}", "-f", "image2pipe", "-c:v", "ppm", "-",
                ]
                try:
                    out = self.codec._run(cmd, _ivf(packets, w, h))
                    images = _parse_ppm_stream(out.stdout)
                    log = out.stderr.decode(errors="replace").strip()[:500]
                    pts = _read_pts(stats)
                except CodecError as exc:
                    images, pts, log = [], [], str(exc)
            if len(pts) != len(images):
                pts = pts[: len(images)] if len(pts) > len(images) else pts
                images = images[: len(pts)]
            for p, im in zip(pts, images):
                if 0 <= p < t and im.shape == (h, w, 3) and p not in frames_by_index:
                    frames_by_index[p] = im
        out_frames = torch.empty(t, 3, h, w, dtype=torch.float32)
        last = None
        for i in range(t):
            if i in frames_by_index:
                arr = np.ascontiguousarray(frames_by_index[i].transpose(2, 0, 1))
                last = torch.from_numpy(np.divide(arr, 255.0, dtype=np.float32))
                decoded[i] = True
            out_frames[i] = last if last is not None else FALLBACK_GREY
        return ReceivedVideo(frames=out_frames, decoded=decoded, frames_received=len(packets), decoder_log=log)

    # -- the whole chain -----------------------------------------------------------------------
    def transmit(self, packed: PackedVideo, channel: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> ReceivedVideo:
        """``channel(blocks [T, B]) -> (bits [T, B], cb_ok [T, K])`` (e.g. :func:`link_channel`), then :meth:`unpack`."""
        bits, ok = channel(packed.blocks)
        return self.unpack(bits, ok, packed)


def _read_pts(path: str) -> list[int]:
    try:
        with open(path) as fh:
            lines = fh.read().split()
    except OSError:
        return []
    out = []
    for tok in lines:
        try:
            out.append(int(tok))
        except ValueError:
            out.append(-1)
    return out


def link_channel(link: Any, grant: CodeBlockGrant, snr_db: float = 0.0, generator: Any = None):
    """A channel for :meth:`H265OverCodeBlocks.transmit` over a ``semcom.link`` link.

    The link's code-block layout for a ``[T, B]`` payload must equal the grant (e.g. an erasure or
    bit-true link with ``max_tb_bits = C`` for K equal blocks of C bits); raises InputError otherwise.
    """
    def channel(blocks: torch.Tensor):
        res = link.transmit(blocks, snr_db, generator=generator)
        if CodeBlockGrant.from_ranges(res.cb_ranges) != grant:
            raise InputError(f"the link's code blocks {res.cb_ranges} do not match the grant {grant.capacities}")
        return res.bits, res.cb_ok

    return channel

