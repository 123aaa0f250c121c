"""Error-resilient H.264 / H.265 over code blocks: the video call a codec engineer would send over a lossy link.

Beside the strict baseline (:mod:`semcom.baselines.video_cb`, one slice per picture, key frames,
a lost byte drops its whole access unit), this is the configuration video-call systems use when
packets get lost, carried by the same code-block grant at the same bit rate::

    frames --x264 / x265, CBR, low delay, no B-frames, periodic intra refresh, slices sized to the
      code block--> NAL units (parameter sets out of band, user-data SEI stripped)
      --units [frame index | length] packed into whole code blocks (optional XOR parity block per g)-->
      link (cb_ok per block) --parity repairs one lost block per group--> units of the blocks that
      arrived --per-frame access units, IVF, ffmpeg with error concealment (guarded)--> frames
      --display policy--> [T,3,H,W]: decoded (intact or concealed), else the last shown frame

**Encoder settings** (``-x264-params`` / ``-x265-params`` on :class:`~semcom.codecs.video.VideoCodec`):
``bframes=0`` (decode order = display order, no reordering delay), ``scenecut=0``,
``intra-refresh=1`` with ``keyint = refresh`` (default one second of frames): after the first (IDR)
picture, intra content sweeps across the picture over ``refresh`` frames instead of periodic key
frames. The rate-control look-ahead stays at the preset's default, as in the strict baseline: a
real-time encoder would turn it off, but measured here that costs 1.5-4 dB at these rates (x264 at
128x128, 30 kbit/s), and the encoder delay is not penalised in the comparison, so keeping it gives
the stronger baseline. Slices:

* **H.264**: x264 ``slice-max-size`` = the smallest block's payload minus the 4-byte unit header,
  so every slice fits one code block. x264 counts an estimate of the NAL overhead in that limit; the
  packer checks every slice and, if one is at most 8 bytes too large, re-encodes once with the limit
  lowered by the excess. A single macroblock larger than a block cannot be split by any slice limit
  (measured: up to 72-byte slices for 44-byte room at 128x128, 48 kbit/s, with the look-ahead
  spending many bits on the first picture); such a slice is fragmented over consecutive blocks, as
  RTP's fragmentation units do, and counted in :attr:`ResilientPacked.fragmented`. Forcing them to
  fit by raising x264's lowest quantiser was measured too: it needs ``qpmin=42`` for every picture
  and costs 2 dB, so the baseline does not do it.
* **H.265**: x265 has no slice size limit (``slice-max-size`` is refused by x265 4.3); its only
  slice control is ``slices=N`` per picture, each a whole number of CTU rows. The nearest
  equivalent is ``N`` = bits per frame interval / smallest block bits (about one slice per block
  on average, capped by the CTU rows, CTU 16-64 chosen for the rows needed); slices larger than a
  block are fragmented over consecutive blocks (a lost fragment loses the slice, as with RTP
  fragmentation units) and counted in :attr:`ResilientPacked.fragmented`.

**Bit accounting (exact).** Each grant interval carries ``B = sum_j C_j`` bits in K blocks; the
``T K`` blocks are one sequence in time order. Block ``j`` carries ``floor(C_j / 8)`` bytes of
*units*: a 4-byte header (frame index, 16 bits; flags ``MORE`` = fragment continues in the next
block and ``CONT`` = continues one from the previous block, 2 bits; length 14 bits) and the NAL
unit without start code; an all-zero header ends the block. The header is the stand-in for RTP's
timestamp and the NAL length (32 bits per unit, :data:`FRAMING_BITS_PER_UNIT`). With
``fec_group = g`` every g-th block is the XOR of the g - 1 data blocks before it (needs equal
blocks). ``channel_bits = T B = stream_bits + framing_bits + fec_bits + padding_bits`` (stream: NAL
bytes sent; padding: unused bytes, ``C_j mod 8`` bits and empty blocks). The parameter sets
(SPS/PPS, and VPS for H.265) are signalled once at call set-up (as SDP's
``sprop-parameter-sets``), not on the lossy blocks; their size is reported as
``out_of_band_bits``. x264's user-data SEI (its version string, 0.5-0.7 kB) is stripped: no decoder
needs it. The encoder's rate is searched (secant steps, at most 8 encodes) for the largest stream
whose packing fits the data blocks. Delay is not penalised: the CBR pipe may carry a frame's units
in later intervals (within the one-second VBV buffer), as in the strict baseline.

**Receiver.** Blocks whose CRC failed are never read; a group's parity block restores its one lost
data block. Units are attributed by their frame index; fragments are joined only if every fragment
arrived. The parameter sets precede every access unit given to ffmpeg (IVF, frame index as the
timestamp, ``-flags +output_corrupt``, under a timeout). ffmpeg's H.264 decoder conceals missing
slices (motion-vector guessing from the neighbours, deblocking) and missing reference frames
(frame-number gaps), so a partly received picture is output and counted as *concealed*. ffmpeg's
HEVC decoder has no such concealment: a picture whose first slice is lost is not decoded, missing
slices leave their CTUs unreconstructed, and a missing reference is replaced by a grey picture
(measured). Display policies (``display``):

* ``"decoder"`` (H.264 default): show every frame the decoder outputs; a frame it does not output
  shows the last shown frame (mid-grey before the first one).
* ``"recovery"`` (H.265 default): show a decoded frame only when it is complete and the picture has
  been clean since the last loss for a whole refresh period (every region re-coded intra after the
  last damaged frame: the recovery point of intra refresh); otherwise freeze the last shown frame.

``complete[t]`` (all units of frame t recovered) is the receiver's count against the number of units
the sender signalled per frame; it is used by the ``"recovery"`` policy and for reporting.

Example:
    >>> import torch
    >>> from semcom.semantics.symbols import CodeBlockGrant
    >>> y = torch.linspace(0, 1, 32)
    >>> frames = torch.stack([torch.stack([y[:, None] * torch.ones(32)] * 3) * (0.8 + 0.02 * t) for t in range(6)])
    >>> tx = ResilientVideoOverCodeBlocks(CodeBlockGrant.uniform(3, 800), fps=10, standard="h264", preset="ultrafast")
    >>> packed = tx.pack(frames)
    >>> packed.channel_bits == packed.stream_bits + packed.framing_bits + packed.fec_bits + packed.padding_bits
    True
    >>> ok = torch.ones(6, 3, dtype=torch.bool)
    >>> ok[2, 0] = False
    >>> out = tx.unpack(packed.blocks, ok, packed)
    >>> out.frames.shape, bool(out.decoded[0])
    (torch.Size([6, 3, 32, 32]), True)
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Any, Callable

import numpy as np
import torch

from semcom.codecs.base import CodecBudgetError
from semcom.codecs.video import VideoCodec, _ffmpeg_exe, _frames_to_uint8, _parse_ppm_stream
from semcom.errors import CodecError, InputError
from semcom.semantics.symbols import CodeBlockGrant

from .video_cb import FALLBACK_GREY, BlockRates, _read_pts, split_nal_units

__all__ = [
    "FRAMING_BITS_PER_UNIT",
    "UNIT_HEADER_BYTES",
    "STANDARDS",
    "DISPLAY_POLICIES",
    "NalUnit",
    "parse_nal_units",
    "access_units",
    "pack_units",
    "parse_block",
    "fec_positions",
    "ResilientPacked",
    "ResilientReceived",
    "ResilientVideoOverCodeBlocks",
]

#: Bytes of the unit header (frame index 16 bits, MORE/CONT flags, length 14 bits).
UNIT_HEADER_BYTES = 4
#: Framing bits per unit sent.
FRAMING_BITS_PER_UNIT = 8 * UNIT_HEADER_BYTES
_MORE, _CONT = 0x8000, 0x4000
#: Largest excess (bytes) over x264's slice-max-size blamed on its NAL-overhead estimate (one re-encode
#: with a lower limit); a larger excess is a single macroblock that no limit can split.
_SLICE_SLACK = 8
_MAX_LEN = 0x3FFF
MAX_FRAMES = 0xFFFF
STANDARDS = ("h264", "h265")
DISPLAY_POLICIES = ("decoder", "recovery")
_DEFAULT_DISPLAY = {"h264": "decoder", "h265": "recovery"}
_IVF_FOURCC = {"h264": b"H264", "h265": b"HEVC"}
_DECODER = {"h264": "h264", "h265": "hevc"}


# --------------------------------------------------------------------------------------------
# NAL units of either standard
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NalUnit:
    """One NAL unit (without start code): its bytes, type, and the roles the packer needs."""

    data: bytes
    type: int
    vcl: bool
    first_in_picture: bool
    parameter_set: bool
    droppable: bool
    suffix: bool


def parse_nal_units(stream: bytes, standard: str) -> list[NalUnit]:
    """The NAL units of an Annex-B stream of ``standard`` (``"h264"`` or ``"h265"``), in order.

    H.264: type = ``byte0 & 31``; VCL types 1-5; a slice starts a picture when its
    ``first_mb_in_slice`` is 0 (first bit of the slice header set); parameter sets 7, 8; droppable
    (no decoded pixel depends on them): SEI 6, access-unit delimiter 9, filler 12. H.265: type =
    ``(byte0 >> 1) & 63``; VCL types 0-31; ``first_slice_segment_in_pic_flag`` is the top bit of
    byte 2; parameter sets 32-34; droppable: AUD 35, filler 38, SEI 39/40; suffix units (SEI 40,
    FD 38, EOS/EOB 36/37) belong to the picture before them.
    """
    if standard not in STANDARDS:
        raise InputError(f"standard must be one of {STANDARDS}, got {standard!r}")
    out = []
    for s, e, _ in split_nal_units(stream):
        d = bytes(stream[s:e])
        if standard == "h264":
            t = d[0] & 0x1F
            vcl = 1 <= t <= 5
            first = vcl and len(d) > 1 and bool(d[1] & 0x80)
            out.append(NalUnit(d, t, vcl, first, t in (7, 8), t in (6, 9, 12), False))
        else:
            t = (d[0] >> 1) & 0x3F
            vcl = t < 32
            first = vcl and len(d) > 2 and bool(d[2] & 0x80)
            out.append(NalUnit(d, t, vcl, first, t in (32, 33, 34), t in (35, 38, 39, 40), t in (36, 37, 38, 40)))
    return out


def access_units(nals: list[NalUnit]) -> list[list[NalUnit]]:
    """Group NAL units into access units (pictures) in decode order: non-VCL units before a picture's
    first slice belong to it, suffix units to the picture before them."""
    aus: list[list[NalUnit]] = []
    pending: list[NalUnit] = []
    for n in nals:
        if n.vcl and (n.first_in_picture or not aus):
            aus.append(pending + [n])
            pending = []
        elif n.vcl or (n.suffix and aus and not pending):
            aus[-1].append(n)
        else:
            pending.append(n)
    if pending and aus:
        aus[-1].extend(pending)
    return aus


# --------------------------------------------------------------------------------------------
# Units in code blocks
# --------------------------------------------------------------------------------------------


def _header(frame: int, flags: int, length: int) -> bytes:
    return int(frame).to_bytes(2, "big") + (flags | length).to_bytes(2, "big")


def pack_units(units: list[tuple[int, bytes]], capacities: list[int]) -> tuple[list[bytes], int, int]:
    """Pack ``(frame index, NAL bytes)`` units in order into blocks of ``capacities`` bytes.

    A unit that fits the room left in the current block goes there; one that fits an empty block
    starts the next block (never split); a larger one is fragmented over consecutive blocks
    (``MORE``/``CONT`` flags), starting in the current block when at least 8 bytes are left. Blocks
    beyond ``capacities`` repeat its sizes cyclically, so the result says how many blocks the units
    need. Returns ``(blocks, units_written, fragmented)``: the blocks used (unpadded, in order), the
    unit headers written and the NAL units fragmented.
    """
    if not capacities or min(capacities) <= UNIT_HEADER_BYTES:
        raise InputError(f"block capacities must exceed the {UNIT_HEADER_BYTES}-byte unit header, got {capacities!r}")
    blocks: list[bytearray] = [bytearray()]
    written = fragmented = 0

    def cap(i: int) -> int:
        return capacities[i % len(capacities)] - UNIT_HEADER_BYTES

    def room() -> int:
        return cap(len(blocks) - 1) - len(blocks[-1])

    for frame, nal in units:
        if len(nal) > room() and len(nal) <= cap(len(blocks)):
            blocks.append(bytearray())
        if len(nal) <= room():
            blocks[-1] += _header(frame, 0, len(nal)) + nal
            written += 1
            continue
        fragmented += 1
        pos, cont = 0, 0
        if room() < 8:
            blocks.append(bytearray())
        while pos < len(nal):
            if room() < 1:
                blocks.append(bytearray())
            n = min(room(), len(nal) - pos, _MAX_LEN)
            more = _MORE if pos + n < len(nal) else 0
            blocks[-1] += _header(frame, cont | more, n) + nal[pos : pos + n]
            written += 1
            pos += n
            cont = _CONT
    return [bytes(b) for b in blocks], written, fragmented


def parse_block(block: bytes) -> list[tuple[int, int, bytes]]:
    """The units of one received block: ``[(frame, flags, payload), ...]``; stops at a zero header,
    at the block's end, or at a header whose length runs past the block (never raises)."""
    out, pos = [], 0
    while pos + UNIT_HEADER_BYTES <= len(block):
        frame = int.from_bytes(block[pos : pos + 2], "big")
        word = int.from_bytes(block[pos + 2 : pos + 4], "big")
        length = word & _MAX_LEN
        if length == 0 or pos + UNIT_HEADER_BYTES + length > len(block):
            break
        out.append((frame, word & (_MORE | _CONT), bytes(block[pos + 4 : pos + 4 + length])))
        pos += UNIT_HEADER_BYTES + length
    return out


def fec_positions(n_blocks: int, group: int) -> np.ndarray:
    """Bool ``[n_blocks]``: True at parity positions (the last block of every full group of ``group``)."""
    par = np.zeros(n_blocks, dtype=bool)
    if group >= 2:
        par[group - 1 :: group] = True
        full = (n_blocks // group) * group
        par[full:] = False
    return par


def _xor(blocks: list[bytes], size: int) -> bytes:
    acc = np.zeros(size, dtype=np.uint8)
    for b in blocks:
        acc ^= np.frombuffer(b.ljust(size, b"\0"), dtype=np.uint8)
    return acc.tobytes()


# --------------------------------------------------------------------------------------------
# Sender and receiver
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ResilientPacked(BlockRates):
    """What the transmitter sends: ``blocks [T, B]`` float 0/1, plus the accounting (bits per video).

    Attributes:
        stream_bits: NAL unit bytes sent on the blocks (x 8).
        framing_bits: unit headers (:data:`FRAMING_BITS_PER_UNIT` per unit).
        fec_bits: parity blocks.
        padding_bits: everything else (unused block bytes, ``C_j mod 8`` bits, empty blocks).
        out_of_band_bits: parameter sets signalled at set-up (not on the blocks).
        units_per_frame: units the sender wrote per frame (signalled; the receiver's completeness check).
        slices: VCL NAL units (slices) per frame.
        fragmented: slices split over more than one block.
        encoder_params: the final encoder parameter string.
        clean: the encoder's own decode without loss ``[T, 3, H, W]`` (or None).
    """

    blocks: torch.Tensor
    grant: CodeBlockGrant
    shape: tuple[int, int, int]
    fps: float
    standard: str
    stream_bits: int
    framing_bits: int
    fec_bits: int
    padding_bits: int
    out_of_band_bits: int
    units_per_frame: tuple[int, ...]
    slices: tuple[int, ...]
    fragmented: int
    max_slice_bytes: int
    encoder_params: str
    parameter_sets: bytes = dataclasses.field(repr=False, default=b"")
    clean: torch.Tensor | None = dataclasses.field(repr=False, default=None)
    scale: int = 1

    @property
    def coded_shape(self) -> tuple[int, int, int]:
        """``(T, H / scale, W / scale)``: the size the encoder coded."""
        t, h, w = self.shape
        return t, h // self.scale, w // self.scale

    def accounting(self) -> dict:
        """The bit budget as a dict."""
        return {"channel_bits": self.channel_bits, "stream_bits": self.stream_bits, "framing_bits": self.framing_bits,
                "fec_bits": self.fec_bits, "padding_bits": self.padding_bits, "out_of_band_bits": self.out_of_band_bits,
                "matched_kbps": self.matched_kbps, "stream_kbps": self.stream_kbps,
                "bits_per_interval": self.grant.total_bits, "frames": self.shape[0], "fps": self.fps,
                "standard": self.standard, "slices": sum(self.slices), "fragmented_slices": self.fragmented,
                "max_slice_bytes": self.max_slice_bytes, "encoder_params": self.encoder_params,
                "scale": self.scale, "coded_size": list(self.coded_shape[1:])}


@dataclasses.dataclass(frozen=True)
class ResilientReceived:
    """What the receiver shows.

    Attributes:
        frames: ``[T, 3, H, W]`` shown.
        decoded: ``[T]`` the frame shown at t is the decoder's picture t (intact or concealed).
        complete: ``[T]`` every unit of frame t arrived (after FEC).
        output: ``[T]`` the decoder output picture t (shown or not, depending on the policy).
    """

    frames: torch.Tensor
    decoded: torch.Tensor
    complete: torch.Tensor
    output: torch.Tensor
    frames_received: int
    blocks_repaired: int = 0
    decoder_log: str = ""

    @property
    def success_rate(self) -> float:
        """Fraction of frames showing their own decoded picture (intact or concealed)."""
        return float(self.decoded.float().mean())

    @property
    def concealed_rate(self) -> float:
        """Fraction of frames shown from a partly received picture (decoder concealment)."""
        return float((self.decoded & ~self.complete).float().mean())


class ResilientVideoOverCodeBlocks:
    """Error-resilient H.264/H.265 over a code-block grant: :meth:`pack`, a link, :meth:`unpack`.

    Args:
        grant: the K code blocks per frame interval (each at least 16 bytes, at most 16 kB).
        fps: frames per second (matched rate ``grant.total_bits * fps``).
        standard: ``"h264"`` (x264) or ``"h265"`` (x265).
        refresh: intra-refresh period in frames (default ``round(fps)``, one second).
        fec_group: 0 (no FEC) or g >= 2: one XOR parity block per g blocks (equal blocks only).
        display: ``"decoder"`` or ``"recovery"`` (module docstring); default per standard.
        slices: H.265 slices per picture (default: bits per interval / smallest block bits).
        scale: code at ``H / scale`` x ``W / scale`` (area downscaling; bilinear upscaling at the
            receiver), or ``"auto"``: the sender encodes at scales 1, 2 and 4 and keeps the one whose
            own clean decode has the highest PSNR (what a call's resolution adaptation does when
            the rate is too low for the full size).
        preset: encoder speed preset.
        timeout_s: limit of one ffmpeg run, seconds.
    """

    def __init__(self, grant: CodeBlockGrant, fps: float, standard: str = "h264", refresh: int | None = None,
                 fec_group: int = 0, display: str | None = None, slices: int | None = None, scale: int | str = 1,
                 preset: str = "medium", timeout_s: float = 60.0):
        if not isinstance(grant, CodeBlockGrant):
            raise InputError(f"grant must be a CodeBlockGrant, got {type(grant).__name__}")
        if standard not in STANDARDS:
            raise InputError(f"standard must be one of {STANDARDS}, got {standard!r}")
        caps = [c // 8 for c in grant.capacities]
        if min(caps) < 16 or max(caps) > _MAX_LEN:
            raise InputError(f"code blocks must carry 16 to {_MAX_LEN} bytes, got {grant.capacities} bits")
        for name, v, lo in (("refresh", refresh, 2), ("slices", slices, 1)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < lo):
                raise InputError(f"{name} must be an int >= {lo}, got {v!r}")
        if isinstance(fec_group, bool) or not isinstance(fec_group, int) or fec_group < 0 or fec_group == 1:
            raise InputError(f"fec_group must be 0 (off) or an int >= 2, got {fec_group!r}")
        if fec_group and len(set(grant.capacities)) != 1:
            raise InputError("FEC across code blocks needs blocks of equal size")
        if scale != "auto" and (isinstance(scale, bool) or not isinstance(scale, int) or scale not in (1, 2, 4)):
            raise InputError(f"scale must be 1, 2, 4 or 'auto', got {scale!r}")
        display = _DEFAULT_DISPLAY[standard] if display is None else display
        if display not in DISPLAY_POLICIES:
            raise InputError(f"display must be one of {DISPLAY_POLICIES}, got {display!r}")
        self.grant, self.fps, self.standard = grant, VideoCodec._check_fps(fps), standard
        self.refresh = max(2, int(round(self.fps))) if refresh is None else refresh
        self.fec_group, self.display, self.slices = fec_group, display, slices
        self.preset, self.timeout_s, self.scale = str(preset), float(timeout_s), scale
        self._caps = caps

    def __repr__(self) -> str:
        return (f"ResilientVideoOverCodeBlocks({self.standard!r}, grant={self.grant.capacities}, fps={self.fps:g}, "
                f"refresh={self.refresh}, fec_group={self.fec_group}, display={self.display!r})")

    # -- encoder ---------------------------------------------------------------------------------
    def _params(self, h: int, w: int, limit: int) -> str:
        """The encoder parameter string; ``limit`` is x264's slice-max-size or x265's slices."""
        r = self.refresh
        if self.standard == "h264":
            return f"bframes=0:intra-refresh=1:keyint={r}:scenecut=0:slice-max-size={limit}"
        ctu = next((c for c in (64, 32, 16) if -(-h // c) >= limit), 16)
        return (f"bframes=0:intra-refresh=1:keyint={r}:scenecut=0:repeat-headers=1:open-gop=0:info=0:"
                f"ctu={ctu}:slices={min(limit, -(-h // ctu))}")

    def _codec(self, params: str) -> VideoCodec:
        return VideoCodec(self.standard, preset=self.preset, gop=self.refresh, timeout_s=self.timeout_s,
                          encoder_params=params)

    def _units(self, stream: bytes, t: int) -> tuple[list[list[NalUnit]], bytes]:
        """Per frame the NAL units sent on the blocks, and the out-of-band parameter sets."""
        aus = access_units(parse_nal_units(stream, self.standard))
        if len(aus) != t:
            raise CodecError(f"{self.standard} stream has {len(aus)} access units for {t} frames")
        ps: dict[int, bytes] = {}
        per_frame = []
        for au in aus:
            keep = []
            for n in au:
                if n.parameter_set and ps.setdefault(n.type, n.data) == n.data:
                    continue  # signalled once at set-up
                if n.droppable:  # SEI (x264's 0.5 kB version string, HRD timing), delimiters, filler
                    continue
                keep.append(n)
            per_frame.append(keep)
        oob = b"".join(b"\x00\x00\x00\x01" + d for _, d in sorted(ps.items()))
        return per_frame, oob

    def _layout(self, t: int) -> tuple[np.ndarray, list[int]]:
        """Parity flags ``[T K]`` and data-block capacities in bytes (time order)."""
        n = t * self.grant.n_blocks
        parity = fec_positions(n, self.fec_group)
        caps = [self._caps[i % self.grant.n_blocks] for i in range(n)]
        return parity, [c for c, p in zip(caps, parity) if not p]

    def _try(self, u8: np.ndarray, rate: float, limit: int, data_caps: list[int]):
        """One encode at ``rate`` kbit/s with slice control ``limit``, its units and their packing."""
        t, h, w, _ = u8.shape
        params = self._params(h, w, limit)
        stream = self._codec(params)._encode_u8(u8, self.fps, rate)
        per_frame, oob = self._units(stream, t)
        packing = pack_units([(i, n.data) for i, f in enumerate(per_frame) for n in f], data_caps)
        return params, per_frame, oob, packing

    def _slice_overshoot(self, per_frame: list[list[NalUnit]]) -> int:
        """Bytes by which the largest slice exceeds a block's room for one unit (<= 0: all fit)."""
        largest = max((len(n.data) for f in per_frame for n in f if n.vcl), default=0)
        return largest - (min(self._caps) - UNIT_HEADER_BYTES)

    def pack(self, frames: torch.Tensor, clean_decode: bool = False) -> ResilientPacked:
        """Encode ``frames [T, 3, H, W]`` (at the configured scale) into ``[T, B]`` blocks; see :meth:`pack_scaled`.

        With ``scale="auto"`` the scales that fit are compared on their clean decode's PSNR
        (mean over frames); a scale whose smallest stream does not fit is skipped, and
        :class:`CodecBudgetError` is raised only when none fits.
        """
        x = _frames_to_uint8(frames)  # checks the frames
        del x
        if self.scale != "auto":
            return self.pack_scaled(frames, self.scale, clean_decode)
        best, err = None, None
        for s in (1, 2, 4):
            if frames.shape[-2] % (2 * s) or frames.shape[-1] % (2 * s) or min(frames.shape[-2:]) < 16 * s:
                continue
            try:
                p = self.pack_scaled(frames, s, clean_decode=True)
            except CodecBudgetError as exc:
                err = exc
                continue
            q = float(_psnr(p.clean, frames))
            if best is None or q > best[0]:
                best = (q, p)
        if best is None:
            raise err if err is not None else InputError("no scale fits the frame size")
        return best[1] if clean_decode else dataclasses.replace(best[1], clean=None)

    def pack_scaled(self, frames: torch.Tensor, scale: int, clean_decode: bool = False) -> ResilientPacked:
        """Encode ``frames [T, 3, H, W]`` at ``H / scale`` so that its units fill the grant's data blocks.

        The rate search keeps the largest stream whose packing fits (secant steps on the fraction of
        the data blocks used, bracketed, at most 8 rates); for x264, a slice up to 8 bytes over the
        block's room (x264's estimate of the NAL overhead) lowers ``slice-max-size`` by that excess once,
        and a slice larger still (one macroblock bigger than a block, which x264 cannot split) is
        fragmented over consecutive blocks and counted.

        Raises:
            InputError: bad frames, more than 65535 frames.
            CodecBudgetError: even the encoder's smallest stream does not fit the blocks.
            CodecError: the encoder failed.
        """
        full = _frames_to_uint8(frames).shape
        if scale not in (1, 2, 4) or full[1] % (2 * scale) or full[2] % (2 * scale):
            raise InputError(f"scale {scale!r} must be 1, 2 or 4 and divide the frame size {full[1]}x{full[2]} into even sizes")
        u8 = _frames_to_uint8(_downscale(frames, scale))
        t, h, w, _ = u8.shape
        if t > MAX_FRAMES:
            raise InputError(f"at most {MAX_FRAMES} frames, got {t}")
        parity, data_caps = self._layout(t)
        n_data = len(data_caps)
        if self.standard == "h264":
            limit = min(self._caps) - UNIT_HEADER_BYTES
        else:
            limit = self.slices or max(1, round(self.grant.total_bits / min(self.grant.capacities)))
        rate = max(1.0, 0.7 * 8 * sum(data_caps) / (t / self.fps) / 1000.0)
        best, lo, hi, smallest = None, 0.0, None, None
        retried = False
        for _ in range(8):
            while True:
                params, per_frame, oob, packing = self._try(u8, rate, limit, data_caps)
                over = self._slice_overshoot(per_frame)
                if self.standard != "h264" or retried or not 0 < over <= _SLICE_SLACK:
                    break  # fits, or a macroblock alone is larger than a block: that slice is fragmented
                limit, retried = limit - over, True  # x264's estimate of the NAL overhead
            needed = len(packing[0])
            fill = needed / n_data
            smallest = needed if smallest is None else min(smallest, needed)
            if needed <= n_data:
                if best is None or needed > best[0]:
                    best = (needed, params, per_frame, oob, packing)
                lo = max(lo, rate)
                if fill >= 0.97:
                    break
            else:
                hi = rate if hi is None else min(hi, rate)
                if rate <= 1.0:
                    break
            new = rate / fill * (0.98 if needed > n_data else 1.0)
            if hi is not None and not lo < new < hi:
                new = 0.5 * (lo + hi) if lo > 0 else 0.5 * hi
            new = max(1.0, new)
            if abs(new - rate) < 0.5:
                break
            rate = new
        if best is None:
            bits = int(smallest or 0) * min(self.grant.capacities)
            raise CodecBudgetError(f"{self.standard}: the smallest resilient stream needs {smallest} code blocks, "
                                   f"the grant gives {n_data} data blocks", min_bits=bits,
                                   max_bits=n_data * min(self.grant.capacities))
        return self._assemble(best[1:], parity, (t, full[1], full[2]), scale, clean_decode)

    def _assemble(self, best, parity: np.ndarray, shape: tuple[int, int, int], scale: int,
                  clean_decode: bool) -> ResilientPacked:
        """The ``[T, B]`` payload from the packed data blocks (parity computed), and the accounting."""
        params, per_frame, oob, (blocks, written, fragmented) = best
        t, h, w = shape
        k, b = self.grant.n_blocks, self.grant.total_bits
        seq: list[bytes] = [b""] * (t * k)
        for i, blk in zip(np.flatnonzero(~parity), blocks):
            seq[i] = blk
        for p in np.flatnonzero(parity):
            seq[p] = _xor(seq[p - self.fec_group + 1 : p], self._caps[p % k])
        out = np.zeros((t, b), dtype=np.float32)
        for i, blk in enumerate(seq):
            bits = np.unpackbits(np.frombuffer(blk.ljust(self._caps[i % k], b"\0"), dtype=np.uint8))
            s, _ = self.grant.ranges[i % k]
            out[i // k, s : s + bits.size] = bits
        stream_bytes = sum(len(n.data) for f in per_frame for n in f)
        fec_bits = int(sum(self.grant.capacities[i % k] for i in np.flatnonzero(parity)))
        framing = FRAMING_BITS_PER_UNIT * written
        upf = self._units_per_frame(blocks)
        clean = None
        if clean_decode:
            clean = self.unpack(out, np.ones((t, k), dtype=bool), None, _signalled=(shape, oob, upf, scale)).frames
        return ResilientPacked(
            blocks=torch.from_numpy(out), grant=self.grant, shape=shape, fps=self.fps, standard=self.standard,
            stream_bits=8 * stream_bytes, framing_bits=framing, fec_bits=fec_bits,
            padding_bits=t * b - 8 * stream_bytes - framing - fec_bits, out_of_band_bits=8 * len(oob),
            units_per_frame=tuple(upf.get(i, 0) for i in range(t)),
            slices=tuple(sum(n.vcl for n in f) for f in per_frame), fragmented=fragmented,
            max_slice_bytes=max((len(n.data) for f in per_frame for n in f if n.vcl), default=0),
            encoder_params=params, parameter_sets=oob, clean=clean, scale=scale)

    @staticmethod
    def _units_per_frame(blocks: list[bytes]) -> dict[int, int]:
        """Units written per frame, counted the way the receiver counts them (a fragmented NAL unit counts once)."""
        count: dict[int, int] = {}
        for blk in blocks:
            for frame, flags, _ in parse_block(blk):
                if not flags & _CONT:
                    count[frame] = count.get(frame, 0) + 1
        return count

    # -- receiver --------------------------------------------------------------------------------
    def _received_blocks(self, bits: Any, cb_ok: Any, t: int) -> tuple[list[bytes | None], int]:
        """The data blocks in time order (None: lost), after parity repair; and how many were repaired."""
        k, b = self.grant.n_blocks, self.grant.total_bits
        bits = torch.as_tensor(bits).detach().to("cpu")
        if tuple(bits.shape) != (t, b):
            raise InputError(f"received bits must be shaped [T, B] = [{t}, {b}], got {tuple(bits.shape)}")
        ok = torch.as_tensor(cb_ok).detach().to("cpu")
        if tuple(ok.shape) != (t, k):
            raise InputError(f"cb_ok must be shaped [T, K] = [{t}, {k}], got {tuple(ok.shape)}")
        arr = bits.numpy()
        if not np.isin(arr, (0, 1)).all():
            raise InputError("received bits must be 0/1")
        ok = ok.to(torch.bool).numpy().reshape(-1)
        seq: list[bytes | None] = []
        for i in range(t * k):
            s, _ = self.grant.ranges[i % k]
            cap = self._caps[i % k]
            seq.append(np.packbits(arr[i // k, s : s + 8 * cap].astype(np.uint8)).tobytes() if ok[i] else None)
        parity = fec_positions(t * k, self.fec_group)
        repaired = 0
        for p in np.flatnonzero(parity):
            grp = list(range(p - self.fec_group + 1, p))
            lost = [i for i in grp if seq[i] is None]
            if len(lost) == 1 and seq[p] is not None:
                seq[lost[0]] = _xor([seq[i] for i in grp if i != lost[0]] + [seq[p]], self._caps[lost[0] % k])
                repaired += 1
        return [s for s, p in zip(seq, parity) if not p], repaired

    @staticmethod
    def _collect(data_blocks: list[bytes | None], t: int) -> dict[int, list[bytes]]:
        """NAL units per frame from the received data blocks (fragments joined only when all arrived)."""
        nals: dict[int, list[bytes]] = {}
        pending: tuple[int, bytearray] | None = None
        for blk in data_blocks:
            if blk is None:
                pending = None  # a fragment chain through a lost block is lost
                continue
            for frame, flags, payload in parse_block(blk):
                if flags & _CONT:
                    if pending is None or pending[0] != frame:
                        pending = None  # its head was lost
                        continue
                    pending[1].extend(payload)
                    if flags & _MORE:
                        continue
                    payload, pending = bytes(pending[1]), None
                else:
                    pending = None
                    if flags & _MORE:
                        pending = (frame, bytearray(payload))
                        continue
                if frame < t:
                    nals.setdefault(frame, []).append(payload)
        return nals

    def unpack(self, bits: Any, cb_ok: Any, packed: ResilientPacked | None, _signalled=None) -> ResilientReceived:
        """Recover, decode and display ``bits [T, B]`` given ``cb_ok [T, K]`` (never raises on loss).

        ``packed`` supplies only what the receiver knows from signalling: ``(T, H, W)``, the parameter
        sets and the units per frame; the sent blocks are not read.
        """
        if _signalled is None:
            if not isinstance(packed, ResilientPacked):
                raise InputError(f"packed must be a ResilientPacked, got {type(packed).__name__}")
            shape, oob, upf = packed.shape, packed.parameter_sets, dict(enumerate(packed.units_per_frame))
            scale = packed.scale
        else:
            shape, oob, upf, scale = _signalled
        t, h, w = shape[0], shape[1] // scale, shape[2] // scale
        data_blocks, repaired = self._received_blocks(bits, cb_ok, t)
        nals = self._collect(data_blocks, t)
        complete = torch.tensor([len(nals.get(i, [])) == upf.get(i, 0) for i in range(t)], dtype=torch.bool)
        packets = [(i, oob + b"".join(b"\x00\x00\x00\x01" + n for n in nals[i])) for i in sorted(nals)]
        pictures, log = self._decode(packets, t, h, w)
        out = self._display(pictures, complete, t, h, w, len(packets), repaired, log)
        if scale == 1:
            return out
        return dataclasses.replace(out, frames=_upscale(out.frames, shape[1:]))

    def _decode(self, packets: list[tuple[int, bytes]], t: int, h: int, w: int) -> tuple[dict[int, np.ndarray], str]:
        """ffmpeg on the per-frame access units; ``{frame index: uint8 [H, W, 3]}`` (never raises)."""
        if not packets:
            return {}, ""
        from .video_cb import _ivf

        ivf = _ivf(packets, w, h)
        ivf = ivf[:8] + _IVF_FOURCC[self.standard] + ivf[12:]  # the fourcc field
        with tempfile.TemporaryDirectory(prefix="semcom-resilient-") as tmp:
            stats = os.path.join(tmp, "frames.txt")
            cmd = [_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-threads", "1", "-flags", "+output_corrupt",
                   "-flags2", "+showall", "-f", "ivf", "-c:v", _DECODER[self.standard], "-i", "-",
                   "-fps_mode", "passthrough", "-enc_time_base", "demux", "-stats_enc_pre", stats,
                   "-stats_enc_pre_fmt", "{pts}", "-f", "image2pipe", "-c:v", "ppm", "-"]
            try:
                out = self._codec("")._run(cmd, ivf)
                images = _parse_ppm_stream(out.stdout)
                log = out.stderr.decode(errors="replace").strip()[:500]
                pts = _read_pts(stats)
            except CodecError as exc:
                images, pts, log = [], [], str(exc)
        pictures: dict[int, np.ndarray] = {}
        for p, im in zip(pts, images):
            if 0 <= p < t and im.shape == (h, w, 3) and p not in pictures:
                pictures[p] = im
        return pictures, log

    def _display(self, pictures: dict[int, np.ndarray], complete: torch.Tensor, t: int, h: int, w: int,
                 received: int, repaired: int, log: str) -> ResilientReceived:
        """Apply the display policy: the shown frames and which of them are the decoder's own picture."""
        frames = torch.empty(t, 3, h, w, dtype=torch.float32)
        decoded = torch.zeros(t, dtype=torch.bool)
        output = torch.tensor([i in pictures for i in range(t)], dtype=torch.bool)
        last, last_loss = None, None
        for i in range(t):
            ok = i in pictures
            if self.display == "recovery":
                if not (ok and bool(complete[i])):
                    last_loss = i
                ok = ok and (last_loss is None or i - last_loss >= self.refresh)
            if ok:
                arr = np.ascontiguousarray(pictures[i].transpose(2, 0, 1))
                last = torch.from_numpy(np.divide(arr, 255.0, dtype=np.float32))
                decoded[i] = True
            frames[i] = last if last is not None else FALLBACK_GREY
        return ResilientReceived(frames=frames, decoded=decoded, complete=complete, output=output,
                                 frames_received=received, blocks_repaired=repaired, decoder_log=log)

    def transmit(self, packed: ResilientPacked, channel: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> ResilientReceived:
        """``channel(blocks [T, B]) -> (bits [T, B], cb_ok [T, K])``, then :meth:`unpack`."""
        bits, ok = channel(packed.blocks)
        return self.unpack(bits, ok, packed)


def _downscale(frames: torch.Tensor, scale: int) -> torch.Tensor:
    """Area downscaling by an integer factor (``[T, 3, H, W]``, float)."""
    if scale == 1:
        return frames
    return torch.nn.functional.avg_pool2d(frames.detach().to("cpu", torch.float32), scale)


def _upscale(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upscaling to ``size`` (``[T, 3, h, w] -> [T, 3, H, W]``), clipped to [0, 1]."""
    return torch.nn.functional.interpolate(frames, size=tuple(size), mode="bilinear", align_corners=False).clamp(0, 1)


def _psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean over frames of the per-frame PSNR in dB (peak 1)."""
    mse = ((x.float() - y.float()) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1.0 / mse)).mean()
