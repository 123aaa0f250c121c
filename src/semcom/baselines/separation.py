"""The separation baseline: classical source codec + 5G LDPC + QAM over the same link.

Data flow for one image::

    image [1,3,H,W] --codec.encode_to_budget(k_max)--> stream (bytes, headers included)
          --bytes_to_bits--> payload [k] --link.transmit(snr_db)--> LinkResult (bits, cb_ok, channel uses)
          --length field, loss policy--> received stream (from the received bits, always)
          --codec.decode_robust--> image_hat (+ status)

Grant and length field. As in a real uplink grant, the transport payload is fixed by the budget:
``k_max`` bits, made of a 24-bit length field (like a MAC subheader's L field, counted as side
information), the codec stream, and zero padding. The receiver reads the length field; when the
code block holding it was lost, it hands the decoder the whole received payload.

Budget. The channel budget is ``channel_uses = ceil(cbr * H * W * 3)`` complex channel uses
(CBR = complex channel uses / real source values). The codec gets the largest payload
``k_max = link.max_payload_bits(channel_uses, snr_db)`` that the link's MCS (TB/CB segmentation,
CRCs and LDPC rate matching included) fits into that many channel uses; for the capacity link this is
the capacity bound ``channel_uses * log2(1 + snr)``. What is counted as sent is the stream that was
actually encoded (``8 * len(stream)`` bits) and the channel uses the link actually spent.

Link adaptation (``link_adaptation=True``). Instead of one fixed MCS, the transmitter picks, for each
SNR, a 38.214 table MCS (:mod:`semcom.link.adaptation`). It knows the mean SNR, the channel model and
the receiver's CSI model, not the fading coefficient of a block (over Rayleigh block fading: slow link
adaptation), and predicts the probability that a code block is lost from the table link's AWGN curves
averaged over the fading distribution (per code block or per TB, as ``fading`` says). ``adaptation``:

* ``"quality"`` (default): the MCS that maximises the image's expected PSNR,
  ``(1 - p) PSNR_intact + p PSNR_fallback``, where ``PSNR_intact`` is the codec's PSNR for this image
  in that MCS's payload (the transmitter has the image; streams are memoised) and ``p`` the
  probability that a code block carrying the stream is lost (a damaged image is scored as the
  fallback, a conservative bound: a damaged stream that still decodes only does better).
* ``"target_bler"``: the MCS with the highest spectral efficiency whose payload error probability
  (some code block lost) is at most ``target_bler``; if none qualifies, the most reliable one.

The capacity link needs no MCS and ignores it.

What the transmitter knows (``transmit(..., csi_report_db=)``). By default the SNR the link runs at
(the mean SNR of a sweep point). With ``csi_report_db`` it knows only that report (e.g. a delayed,
biased CQI of a time-varying channel) and adapts to it, while the link runs at ``snr_db``.

Outer loop (``outer_loop=True``, with link adaptation). The system owns an
:class:`~semcom.link.adaptation.OuterLoopLinkAdaptation` (``self.olla``, NACK target ``target_bler``,
step ``olla_step_db``): the adaptation chooses at ``report + offset`` and, after each transmission,
the offset is updated with its ACK -- **ACK: every code block of the grant passed its CRC** (one
feedback per image; ``no_fit`` grants send nothing and give none). The system is then **stateful:
its results depend on the order of its transmissions** (the offset is the history of the ACKs), so it
belongs in a sequence run that fixes the order (:mod:`semcom.experiments.link_olla`,
``semcom link olla``), not in a sweep that sends points in any order on any worker (``semcom
compare`` refuses it); :meth:`SeparationSystem.reset_outer_loop` starts a new sequence. With
``adaptation="quality"``, ``target_bler`` is only the outer loop's NACK target. ``olla_anti_windup``
(default ``False``: every NACK lowers the offset, as before): a NACK of a grant sent on the most
robust MCS the adaptation could choose for it -- the lowest spectral efficiency among the grant's
MCSs that carry the length field and a byte and, with ``adaptation="quality"``, the image
(:meth:`SeparationSystem.most_robust_mcs`) -- does not lower the offset
(:class:`~semcom.link.adaptation.OuterLoopLinkAdaptation`, "Anti-windup"); ``extras["olla_saturated"]``
says whether the grant was. ``olla_mode="prediction"`` keeps the offset and its NACK step but raises
it on an ACK by ``olla_step_db p / (1 - p)``, ``p`` the adaptation's predicted error of the grant at the
SNR it chose at (:meth:`SeparationSystem.predicted_error`, ``extras["olla_predicted_error"]``), clipped
to ``[olla_min_prediction, 0.5]`` (:class:`~semcom.link.adaptation.OuterLoopLinkAdaptation`,
"Prediction-matched steps"): the NACK rate then follows the predictions instead of ``target_bler``.
``olla_mode="bayes"`` replaces the offset by
:class:`~semcom.link.adaptation.BayesianOuterLoop` (``self.olla``): a posterior over the report's bias
and scatter, updated with each grant's ACK under the same BLER model, whose predictive distribution of
the true SNR the adaptation averages over (``snr_spread``); the rule then chooses the operating point
(no NACK target; ``target_bler`` is only the ``target_bler`` rule's target). ``extras`` then also hold
``olla_scatter_db`` and ``olla_smoothed_weight`` (the posterior's scatter and the weight of the smoothed
report); the equivalent offset (``olla_offset_db``) is the predictive mean of the true SNR minus the report.

An uncertain report (``report_std_db``, AWGN link). With a number ``sigma > 0`` (dB) the adaptation
takes the grant's true SNR to be ``Normal(report + offset, sigma^2)`` and averages each MCS's error
probability over it, for both rules (:mod:`semcom.link.adaptation`, "An uncertain report"). With
``"auto"`` (needs ``outer_loop=True``: it is as stateful) the system estimates ``sigma`` from the
reports it has seen, which are ``report_delay_grants`` grants old
(:class:`~semcom.link.adaptation.ReportScatter`, ``self.scatter``): the grant is chosen with the
estimate before its own report is recorded. 0 (default): the plain rule.

What a lost code block does (``loss_policy``):

* ``"corrupt"`` (default): the receiver passes the LDPC decoder's hard decisions on, errors included,
  exactly as a receiver without retransmission would; the codec decodes what it can.
* ``"truncate"``: the receiver keeps only the prefix of the stream up to the first failed code block
  (the best a progressive codec such as JPEG2000 can be given).

The decoder always reads the received bits, never the transmitter's copy of the stream, so an error
that slips past the CRCs reaches the codec as it would in a receiver: a stream it cannot parse is
``"failed"``, one it parses is scored for what it decoded. The decoder's outcome is recorded:
``"ok"`` (no block lost), ``"recovered"`` (decoded from a damaged
stream, with errors), ``"failed"`` (undecodable; the documented fallback image, mid-grey 0.5, is
scored and the image counts as a failure). When even the codec's lowest quality does not fit the
budget, nothing is sent and the outcome is ``"no_fit"`` (scored with the fallback image too).

Lower resolution (``downscale``, default 1: off). With ``downscale = D > 1`` the sender may send the
image at ``ceil(H/f) x ceil(W/f)`` for ``f`` in 1, 2, ..., ``D`` (powers of two;
:mod:`semcom.codecs.rescale`: antialiased bicubic down, bicubic up). For each payload it encodes
``f = 1`` and then ``f = 2, 4, ...`` to the same budget, decodes each, brings it back to ``H x W``
and keeps the factor with the highest PSNR against the image, stopping at the first factor that does
worse than the one before (the transmitter has the image, as the quality rule already assumes; the
choice is memoised). So a budget below the codec's smallest stream at full resolution is no longer
``no_fit`` while a lower resolution fits, and at very low rates fewer pixels at a higher quality can
win. The factor is side information: ``log2(f)`` rides in the length field's top 2 bits, which leaves
22 bits of byte count (streams up to 4 MiB); ``f = 1`` gives the same field, so a full-resolution
payload is bit-identical to ``downscale = 1``'s. The receiver reads the factor from the received
field (when the field's code block was lost, from the bits as received: a wrong factor means a wrong
size, which the decoder's shape check turns into ``"failed"``), decodes at the smaller size and
upsamples. With adaptation ``"quality"``, every MCS is scored with its best factor, so the rule can
trade resolution for a more robust MCS. ``extras["downscale"]`` records the factor sent. With
``downscale_choice="joint"`` (link adaptation with the quality rule only) the rule instead scores every
(MCS, factor) pair by its expected PSNR, each factor's stream with the code blocks it reaches: a
lower resolution that wins by a hair in PSNR but fills a few more bits can reach one more code block
(e.g. a small second transport block), whose error probability the default rule counts against the
whole MCS; the joint rule keeps the factor that is best in expectation.

Example::

    >>> from semcom.baselines import SeparationSystem, SeparationConfig
    >>> system = SeparationSystem(SeparationConfig(codec="jpeg2000", fidelity="capacity"))
    >>> import torch; img = torch.rand(1, 3, 64, 64)
    >>> out = system.transmit(img, snr_db=10.0, seed=0)
    >>> out.status in ("ok", "recovered", "failed", "no_fit")
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Any

import numpy as np
import torch

from semcom.codecs.rescale import FACTORS, check_factor, downscale, scaled_shape, upscale
from semcom.errors import ConfigError, InputError, LinkError
from semcom.metrics import psnr
from semcom.systems.outcome import Outcome
from semcom.utils import check_image, from_dict, make_generator

LOSS_POLICIES = ("corrupt", "truncate")
ADAPTATIONS = ("quality", "target_bler")
OLLA_MODES = ("nack_target", "prediction", "bayes")
DOWNSCALE_CHOICES = ("psnr", "joint")
FALLBACK_VALUE = 0.5
LENGTH_FIELD_BITS = 24
#: With ``downscale > 1``: the length field's top bits carry ``log2(factor)``, the rest the byte count.
FACTOR_BITS = 2
MAX_RESCALED_STREAM_BYTES = 2 ** (LENGTH_FIELD_BITS - FACTOR_BITS) - 1


def pack_length_field(n_bytes: int, factor: int = 1, rescaling: bool = False) -> bytes:
    """The 24-bit length field: the stream's byte count, and with ``rescaling`` ``log2(factor)`` in its top
    :data:`FACTOR_BITS` bits (so a full-resolution field is the same either way)."""
    limit = MAX_RESCALED_STREAM_BYTES if rescaling else 2 ** LENGTH_FIELD_BITS - 1
    if not 0 <= n_bytes <= limit:
        raise InputError(f"a stream of {n_bytes} bytes does not fit the length field (at most {limit})")
    if check_factor(factor) != 1 and not rescaling:
        raise InputError("a resolution factor needs rescaling=True")
    code = (int(factor).bit_length() - 1) << (LENGTH_FIELD_BITS - FACTOR_BITS) if rescaling else 0
    return (code | int(n_bytes)).to_bytes(LENGTH_FIELD_BITS // 8, "big")


def read_length_field(field: bytes, rescaling: bool = False) -> tuple[int, int]:
    """``(n_bytes, factor)`` from a received length field (inverse of :func:`pack_length_field`)."""
    value = int.from_bytes(field[: LENGTH_FIELD_BITS // 8], "big")
    if not rescaling:
        return value, 1
    shift = LENGTH_FIELD_BITS - FACTOR_BITS
    return value & ((1 << shift) - 1), 1 << (value >> shift)


def bytes_to_bits(data: bytes) -> torch.Tensor:
    """Bytes -> float bits ``[8 * len(data)]``, most significant bit first."""
    arr = np.frombuffer(bytes(data), dtype=np.uint8)
    return torch.from_numpy(np.unpackbits(arr).astype(np.float32))


def bits_to_bytes(bits: torch.Tensor | np.ndarray) -> bytes:
    """Float/int bits ``[k]`` (k a multiple of 8) -> bytes, most significant bit first."""
    b = np.asarray(bits.detach().cpu().numpy() if isinstance(bits, torch.Tensor) else bits).reshape(-1)
    if b.size % 8:
        raise InputError(f"bit count {b.size} is not a multiple of 8")
    return np.packbits((b > 0.5).astype(np.uint8)).tobytes()


@dataclasses.dataclass
class SeparationConfig:
    """Configuration of one separation system.

    codec: a name from :func:`semcom.codecs.available_codecs` (``"jpeg2000"``, ``"heif"``, ...).
    cbr: channel bandwidth ratio, complex channel uses per real source value.
    fidelity: link model: ``"bittrue"`` (Sionna LDPC), ``"bler_table"``, ``"erasure"`` or ``"capacity"``.
    modulation_order, code_rate: the MCS (ignored by the capacity link except for Rayleigh, see
        :mod:`semcom.link.capacity`); ``mcs_index`` (38.214 table ``mcs_table``) overrides them when set.
    channel: ``"awgn"`` or ``"rayleigh"`` (block fading, ``fading`` = ``"per_cb"`` or ``"per_tb"``).
    csi: receiver CSI model for fading channels.
    loss_policy: what the receiver hands the codec when code blocks are lost (see module doc).
    decoder: LDPC decoder of the bit-true link (``"fast"`` or ``"sionna"``); other fidelities have none.
    link_adaptation, adaptation, target_bler: choose the table MCS per SNR (see module doc; ``adaptation``
        is ``"quality"`` or ``"target_bler"``); ``mcs_table`` says which table.
    outer_loop, olla_step_db: OLLA on top of link adaptation, driven by each grant's ACK toward a NACK
        rate of ``target_bler``, ``olla_step_db`` down per NACK (stateful: see module doc);
        ``olla_anti_windup``: NACKs of grants sent on the most robust MCS do not lower the offset.
    olla_mode, olla_forgetting, olla_min_prediction: the outer loop, ``"nack_target"`` (the OLLA
        offset above, default), ``"prediction"`` (the same offset with prediction-matched ACK steps,
        predictions clipped below at ``olla_min_prediction``; see module doc) or ``"bayes"``
        (:class:`~semcom.link.adaptation.BayesianOuterLoop`: a posterior over the report's bias and
        scatter, with forgetting ``olla_forgetting`` per grant; see module doc).
    report_std_db, report_delay_grants: the scatter (dB) of the SNR the adaptation is given, a number
        or ``"auto"`` (estimated from reports ``report_delay_grants`` grants old; see module doc).
    downscale: the largest factor by which the sender may lower the image's resolution (1, 2, 4 or 8;
        1, the default, never: the papers' baseline). See the module doc, "Lower resolution".
    downscale_choice: ``"psnr"`` (default: the factor per payload by the intact PSNR, then the MCS) or
        ``"joint"`` (factor and MCS together by expected PSNR; needs the quality rule). Module doc.
    link: extra keyword arguments for :func:`semcom.link.make_link` (e.g. ``{"decoder": "fast"}``).
    """

    codec: str = "jpeg2000"
    cbr: float = 1 / 12
    fidelity: str = "bittrue"
    modulation_order: int = 2
    code_rate: float = 0.5
    mcs_index: int | None = None
    mcs_table: int = 1
    channel: str = "awgn"
    fading: str = "per_cb"
    csi: str = "perfect"
    loss_policy: str = "corrupt"
    decoder: str = "fast"
    link_adaptation: bool = False
    adaptation: str = "quality"
    target_bler: float = 0.1
    outer_loop: bool = False
    olla_step_db: float = 0.5
    olla_anti_windup: bool = False
    olla_mode: str = "nack_target"
    olla_forgetting: float = 0.005
    olla_min_prediction: float = 0.01
    report_std_db: float | str = 0.0
    report_delay_grants: int = 0
    downscale: int = 1
    downscale_choice: str = "psnr"
    link: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outer_loop and (not self.link_adaptation or self.fidelity == "capacity"):
            raise ConfigError("outer_loop needs link_adaptation=True and a link with an MCS (not capacity)")
        if isinstance(self.olla_step_db, bool) or not (isinstance(self.olla_step_db, (int, float)) and 0 < self.olla_step_db <= 10):
            raise ConfigError(f"olla_step_db must lie in (0, 10] dB, got {self.olla_step_db!r}")
        if not isinstance(self.olla_anti_windup, bool):
            raise ConfigError(f"olla_anti_windup must be true or false, got {self.olla_anti_windup!r}")
        if self.olla_anti_windup and not self.outer_loop:
            raise ConfigError("olla_anti_windup acts on the outer loop: it needs outer_loop=True")
        self._check_report_std()
        self._check_olla_mode()
        if not 0 < self.target_bler < 1:
            raise ConfigError(f"target_bler must lie in (0, 1), got {self.target_bler!r}")
        if self.adaptation not in ADAPTATIONS:
            raise ConfigError(f"adaptation must be one of {ADAPTATIONS}, got {self.adaptation!r}")
        if self.loss_policy not in LOSS_POLICIES:
            raise ConfigError(f"loss_policy must be one of {LOSS_POLICIES}, got {self.loss_policy!r}")
        if not (isinstance(self.cbr, (int, float)) and self.cbr > 0 and math.isfinite(self.cbr)):
            raise ConfigError(f"cbr must be a positive finite number, got {self.cbr!r}")
        if isinstance(self.downscale, bool) or not isinstance(self.downscale, int) or self.downscale not in FACTORS:
            raise ConfigError(f"downscale must be one of {FACTORS}, got {self.downscale!r}")
        if self.downscale_choice not in DOWNSCALE_CHOICES:
            raise ConfigError(f"downscale_choice must be one of {DOWNSCALE_CHOICES}, got {self.downscale_choice!r}")
        if self.downscale_choice == "joint" and (self.downscale == 1 or not self.link_adaptation
                                                 or self.adaptation != "quality" or self.fidelity == "capacity"):
            raise ConfigError("downscale_choice='joint' chooses the resolution with the MCS: it needs downscale > 1 "
                              "and link adaptation with adaptation='quality' on a link with an MCS")

    def factors(self) -> tuple[int, ...]:
        """The resolution factors the sender may use: 1 up to ``downscale``."""
        return tuple(f for f in FACTORS if f <= self.downscale)

    def _check_report_std(self) -> None:
        from semcom.link.adaptation import check_report_std_db
        from semcom.link.base import CHANNEL_ALIASES

        d = self.report_delay_grants
        if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 1000:
            raise ConfigError(f"report_delay_grants must be an integer in [0, 1000], got {d!r}")
        if self.report_std_db == "auto":
            if not self.outer_loop:
                raise ConfigError("report_std_db='auto' estimates from a sequence of reports: it needs outer_loop=True")
        else:
            try:
                if check_report_std_db(self.report_std_db) == 0.0:
                    return
            except LinkError as exc:
                raise ConfigError(f"{exc} (or 'auto')") from None
        if not self.link_adaptation or self.fidelity == "capacity":
            raise ConfigError("report_std_db needs link_adaptation=True and a link with an MCS (not capacity)")
        if CHANNEL_ALIASES.get(self.channel, self.channel) == "rayleigh":
            raise ConfigError("report_std_db models a per-grant report of an AWGN link; over block Rayleigh "
                              "fading the adaptation already averages the unknown gain")

    def _check_olla_mode(self) -> None:
        from semcom.link.base import CHANNEL_ALIASES

        if self.olla_mode not in OLLA_MODES:
            raise ConfigError(f"olla_mode must be one of {OLLA_MODES}, got {self.olla_mode!r}")
        f = self.olla_forgetting
        if isinstance(f, bool) or not (isinstance(f, (int, float)) and 0 <= f < 1):
            raise ConfigError(f"olla_forgetting must lie in [0, 1), got {f!r}")
        m = self.olla_min_prediction
        if isinstance(m, bool) or not (isinstance(m, (int, float)) and 0 < m <= 0.5):
            raise ConfigError(f"olla_min_prediction must lie in (0, 0.5], got {m!r}")
        if self.olla_mode == "prediction" and not self.outer_loop:
            raise ConfigError("olla_mode='prediction' sets the outer loop's steps: it needs outer_loop=True")
        if self.olla_mode != "bayes":
            return
        if not self.outer_loop:
            raise ConfigError("olla_mode='bayes' is an outer loop: it needs outer_loop=True")
        if self.olla_anti_windup:
            raise ConfigError("olla_mode='bayes' has no offset to wind up: use olla_anti_windup=False")
        if self.report_std_db != 0 or isinstance(self.report_std_db, str):
            raise ConfigError("olla_mode='bayes' learns the report's scatter itself: use report_std_db=0")
        if CHANNEL_ALIASES.get(self.channel, self.channel) == "rayleigh":
            raise ConfigError("olla_mode='bayes' models a per-grant report of an AWGN link, not block Rayleigh fading")

    @classmethod
    def from_dict(cls, d: dict) -> "SeparationConfig":
        return from_dict(cls, d)

    def mcs(self, override=None):
        from semcom.link import MCS

        if override is not None:
            return override

        if self.mcs_index is not None:
            return MCS.from_table(self.mcs_index, table=self.mcs_table)
        return MCS.from_rate(self.modulation_order, self.code_rate)

    def make_link(self, mcs=None):
        from semcom.link import make_link

        kw: dict[str, Any] = dict(self.link)
        kw.setdefault("mcs", self.mcs(mcs))
        kw.setdefault("channel", self.channel)
        if self.channel != "awgn":
            kw.setdefault("fading", self.fading)
            kw.setdefault("csi", self.csi)
        if self.fidelity == "bittrue":
            kw.setdefault("decoder", self.decoder)
        return make_link(fidelity=self.fidelity, **kw)


class SeparationOutcome(Outcome):
    """The bench's :class:`~semcom.systems.Outcome` for one image, with the baseline's own names kept.

    ``bits_sent`` is the encoded stream (codec headers included), ``side_info_bits`` the 24-bit
    length field (0 when nothing was sent); ``extras`` holds ``payload_capacity_bits`` (the grant
    ``k_max``) and ``mcs`` (after link adaptation), and with ``downscale > 1`` the resolution factor sent
    (``downscale``).
    """

    @property
    def image(self) -> torch.Tensor:
        return self.reconstruction

    @property
    def stream_bits(self) -> int:
        return self.bits_sent

    @property
    def payload_capacity_bits(self) -> int:
        return int(self.extras.get("payload_capacity_bits", 0))

    @property
    def mcs(self) -> str | None:
        return self.extras.get("mcs")

    @property
    def bpp(self) -> float:
        """Bits per pixel of the stream and its length field (all side information)."""
        return float(self.rates(self.reconstruction.shape).bpp)


def _digest(image: torch.Tensor) -> str:
    return hashlib.sha1(image.detach().cpu().numpy().tobytes()).hexdigest()


def _no_fit(fallback: torch.Tensor, k_max: int, budget: int, error: str, mcs: str | None) -> SeparationOutcome:
    return SeparationOutcome(fallback, "no_fit", 0, budget, error=error,
                             extras={"payload_capacity_bits": int(k_max), "mcs": mcs})


class SeparationSystem:
    """Codec + 5G NR link: the separation baseline (see module docstring)."""

    def __init__(self, config: SeparationConfig | dict | None = None):
        if config is None:
            config = SeparationConfig()
        elif isinstance(config, dict):
            config = SeparationConfig.from_dict(config)
        self.config = config
        self.name = "separation"
        from semcom.codecs import get_codec

        self.codec = get_codec(config.codec)
        self.link = config.make_link()
        self._links: dict = {}  # MCS -> link, for link adaptation
        self._choices: dict = {}  # (image digest or None, snr_db, channel uses) -> adaptation's choice
        self._quality: dict = {}  # (image digest, payload bits) -> (bits, PSNR) of the intact image
        self._streams: dict[tuple, Any] = {}  # (image digest, bit budget) -> stream; ("best", ...) -> encode_best
        self.olla = None
        self.reset_outer_loop()

    def reset_outer_loop(self) -> None:
        """A fresh outer loop (offset 0, no feedback): the start of a new sequence (``outer_loop=True``)."""
        from semcom.link.adaptation import BayesianOuterLoop, OuterLoopLinkAdaptation, ReportScatter

        cfg = self.config
        if cfg.outer_loop and cfg.olla_mode == "bayes":
            self.olla = BayesianOuterLoop(forgetting=cfg.olla_forgetting)
        else:
            self.olla = OuterLoopLinkAdaptation(cfg.target_bler, cfg.olla_step_db, anti_windup=cfg.olla_anti_windup,
                                                prediction_matched=cfg.olla_mode == "prediction",
                                                min_prediction=cfg.olla_min_prediction) if cfg.outer_loop else None
        self.scatter = ReportScatter(cfg.report_delay_grants) if cfg.report_std_db == "auto" else None

    @property
    def report_std_db(self) -> float:
        """The report scatter (dB) the adaptation uses now: the configured one or the running estimate."""
        return self.scatter.std_db if self.scatter is not None else float(self.config.report_std_db)

    def encode(self, image: torch.Tensor, max_bits: int) -> bytes:
        """The codec's stream for ``image`` within ``max_bits`` (memoised: the codec is deterministic,
        and a sweep sends the same image at the same budget for many SNRs and seeds)."""
        key = (_digest(image), int(max_bits))
        stream = self._streams.get(key)
        if stream is None:
            stream = self.codec.encode_to_budget(image, max_bits)
            self._remember(key, stream)
        return stream

    def encode_best(self, image: torch.Tensor, max_bits: int) -> tuple[int, bytes, float | None]:
        """``(factor, stream, psnr)``: the resolution factor and stream sent for ``image`` within ``max_bits``
        (module doc, "Lower resolution"; memoised). ``psnr`` is that of the decoded, upsampled stream
        against ``image`` (``None`` with ``downscale == 1``, where nothing is decoded here).

        Raises :class:`~semcom.codecs.CodecBudgetError` when no factor's smallest stream fits."""
        from semcom.codecs import CodecBudgetError

        if self.config.downscale == 1:
            return 1, self.encode(image, max_bits), None
        key = ("best", _digest(image), int(max_bits))
        if key not in self._streams:
            best, error = None, None
            for f, stream, q in self._rescaled(image, max_bits):
                if isinstance(stream, CodecBudgetError):
                    error = error or stream
                    continue
                if best is not None and (q is None or q <= best[2]):
                    break
                best = (f, stream, q) if q is not None else best
            if best is None:
                raise error or CodecBudgetError(f"{self.codec.name}: no resolution decodes within {max_bits} bits",
                                                0, int(max_bits))
            self._remember(key, best)
        return self._streams[key]

    def quality_alternatives(self, image: torch.Tensor, k: int) -> list[tuple[int, float, int]]:
        """``[(bits, PSNR, factor)]``: ``image`` sent intact in a ``k``-bit payload (length field + stream) at
        every factor that fits and decodes (``downscale_choice="joint"``; memoised)."""
        key = ("alternatives", _digest(image), int(k))
        if key not in self._quality:
            k_stream = self.stream_bits(k)
            self._quality[key] = [(LENGTH_FIELD_BITS + 8 * len(stream), q, f)
                                  for f, stream, q in (self._rescaled(image, k_stream) if k_stream >= 8 else ())
                                  if q is not None]
        return self._quality[key]

    def _rescaled(self, image: torch.Tensor, max_bits: int):
        """Per resolution factor of the config, in order (lazily): ``(factor, stream, psnr)`` of ``image``
        sent at that factor within ``max_bits`` (at most :data:`MAX_RESCALED_STREAM_BYTES`), ``psnr`` of
        the decoded, upsampled stream (``None`` when it does not decode); ``(factor, error, None)`` with
        the :class:`~semcom.codecs.CodecBudgetError` when no stream of that size fits."""
        from semcom.codecs import CodecBudgetError

        for f in self.config.factors():
            try:
                stream = self.encode(downscale(image, f), min(int(max_bits), 8 * MAX_RESCALED_STREAM_BYTES))
            except CodecBudgetError as exc:
                yield f, exc, None
                continue
            yield f, stream, self._decoded_psnr(stream, image, f)

    def _joint(self) -> bool:
        return self.config.downscale_choice == "joint"

    def _joint_choice(self, image: torch.Tensor, snr_db: float, budget: int, k_max: int) -> tuple[int, bytes] | None:
        """The joint rule's ``(factor, stream)`` for this grant (None when the rule does not apply)."""
        if not self._joint():
            return None
        try:
            choice = self.adapted_mcs(snr_db, budget, image)
        except LinkError:
            return None
        if choice.payload_bits != k_max:
            return None
        f = self.quality_alternatives(image, k_max)[choice.alternative][2]
        return f, self.encode(downscale(image, f), self.stream_bits(k_max))

    def _decoded_psnr(self, stream: bytes, image: torch.Tensor, factor: int) -> float | None:
        """PSNR of ``stream`` (sent at ``factor``) decoded and upsampled, against ``image``; None if it fails."""
        h, w = image.shape[-2:]
        out = self.codec.decode_robust(stream, shape=scaled_shape(h, w, factor))
        if out.status == "failed":
            return None
        return float(psnr(image, upscale(out.image.clamp(0, 1), (h, w)))[0])

    def stream_bits(self, k: int) -> int:
        """The stream bits a ``k``-bit payload holds: whole bytes after the length field (with
        ``downscale > 1`` at most the field's byte count, :data:`MAX_RESCALED_STREAM_BYTES`)."""
        bits = ((int(k) - LENGTH_FIELD_BITS) // 8) * 8
        return min(bits, 8 * MAX_RESCALED_STREAM_BYTES) if self.config.downscale > 1 else bits

    def _remember(self, key, value) -> None:
        if len(self._streams) >= 256:
            self._streams.pop(next(iter(self._streams)))
        self._streams[key] = value

    def link_for(self, snr_db: float, channel_uses: int, image: torch.Tensor | None = None):
        """The link used at ``snr_db``: the configured one, or the adapted MCS (see module doc;
        ``adaptation="quality"`` needs the ``image``)."""
        cfg = self.config
        if not cfg.link_adaptation or cfg.fidelity == "capacity":
            return self.link
        try:
            mcs = self.adapted_mcs(snr_db, channel_uses, image).mcs
        except LinkError:  # no MCS carries the length field and a byte: the configured link says no_fit
            return self.link
        if mcs not in self._links:
            self._links[mcs] = cfg.make_link(mcs)
        return self._links[mcs]

    def adapted_mcs(self, snr_db: float, channel_uses: int, image: torch.Tensor | None = None):
        """Link adaptation's choice for this grant at mean SNR ``snr_db`` (memoised), from
        :mod:`semcom.link.adaptation` with this system's channel, fading, receiver CSI, TB size and
        BLER curves; the transmitter knows only the mean SNR. ``"target_bler"``:
        :func:`~semcom.link.adaptation.select_mcs` (an ``MCSChoice``); ``"quality"``:
        :func:`~semcom.link.adaptation.select_mcs_for_quality` on ``image`` (a ``QualityChoice``)."""
        from semcom.link import adaptation as la

        cfg = self.config
        quality = cfg.adaptation == "quality"
        if quality and image is None:
            raise InputError("adaptation='quality' chooses the MCS for an image: pass image=")
        std, bayes = self.report_std_db, self._bayes()
        key = (_digest(image) if quality else None, float(snr_db), int(channel_uses), std, bayes and self.olla.version)
        if key not in self._choices:
            cond = self._conditions(snr_db)
            grant = self._grant_kw()
            if not quality:
                choice = la.select_mcs(float(snr_db), channel_uses, target_bler=cfg.target_bler, **grant, **cond)
            else:
                choice = la.select_mcs_for_quality(
                    la.grant_options(channel_uses, **grant),
                    (lambda k: [a[:2] for a in self.quality_alternatives(image, k)]) if self._joint()
                    else (lambda k: self.clean_quality(image, k)),
                    lambda plan, blocks: la.payload_error(plan, float(snr_db), blocks=blocks, **cond),
                    float(psnr(image, torch.full_like(image, FALLBACK_VALUE))[0]))
                if choice is None:
                    raise LinkError("no MCS carries this image in the grant")
            if len(self._choices) >= 4096:  # reported SNRs are continuous: keep the memo bounded
                self._choices.pop(next(iter(self._choices)))
            self._choices[key] = choice
        return self._choices[key]

    def _grant_kw(self) -> dict:
        """The grant's MCS table and this link's layout (:func:`~semcom.link.adaptation.grant_options`'s
        keywords), with the smallest payload worth sending: the length field and a byte."""
        link = self.link
        return dict(mcs_table=self.config.mcs_table, max_tb_bits=link.max_tb_bits, bg1_repetition=link.bg1_repetition,
                    min_payload_bits=LENGTH_FIELD_BITS + 8)

    def _conditions(self, snr_db: float) -> dict:
        """What the adaptation's error model is told besides the SNR (``payload_error``'s keywords)."""
        from semcom.link import adaptation as la

        link, bayes = self.link, self._bayes()
        return dict(channel=link.channel, fading=link.fading, csi=link.csi,
                    csi_error_var=getattr(link, "csi_error_var", 0.1), curves=la.Curves.of(link),
                    report_std_db=self.report_std_db, snr_spread=self.olla.predictive(float(snr_db)) if bayes else None)

    def predicted_error(self, link, k: int, snr_adapt_db: float) -> float:
        """The adaptation's predicted error of a grant: the probability that a code block of the
        ``k``-bit payload on ``link`` is lost at the SNR it was chosen at (what an ACK reports)."""
        from semcom.link import adaptation as la

        return float(la.payload_error(link.plan(int(k)), float(snr_adapt_db), **self._conditions(snr_adapt_db)))

    def _bayes(self) -> bool:
        """Whether the outer loop is the Bayesian one (it shifts nothing: the inner loop gets its predictive)."""
        from semcom.link.adaptation import BayesianOuterLoop

        return isinstance(self.olla, BayesianOuterLoop)

    def most_robust_mcs(self, channel_uses: int, image: torch.Tensor | None = None):
        """The most robust MCS link adaptation can choose for this grant (where the outer loop saturates):
        the lowest spectral efficiency among the grant's MCSs that carry the length field and a byte
        and, with ``adaptation="quality"``, ``image`` (:meth:`clean_quality`); ``None`` when none does."""
        from semcom.link import adaptation as la

        cfg = self.config
        try:
            options = la.grant_options(channel_uses, **self._grant_kw())
        except LinkError:  # no MCS carries the length field and a byte
            return None
        if cfg.adaptation == "quality":
            options = [o for o in options if self.clean_quality(image, o[1].k) is not None]
        return la.most_robust(options) if options else None

    def _bayes_feedback(self, extras: dict, ack: bool, link, k_max: int, report_db: float) -> None:
        """The Bayesian outer loop's update with this grant's ACK for the payload sent at ``report_db``."""
        from semcom.link import adaptation as la

        plan = link.plan(int(k_max))
        extras["ack"] = ack
        extras["olla_offset_db"] = self.olla.offset_for(float(report_db))
        extras["olla_offset_after_db"] = self.olla.update(ack, plan, float(report_db), la.Curves.of(link))
        extras["olla_scatter_db"] = self.olla.scatter_db
        extras["olla_smoothed_weight"] = self.olla.smoothed_weight

    def clean_quality(self, image: torch.Tensor, k: int) -> tuple[int, float] | None:
        """``(bits, PSNR)`` of ``image`` sent intact in a ``k``-bit payload (length field + stream), or
        ``None`` when the codec cannot fit it or the stream does not decode (memoised)."""
        from semcom.codecs import CodecBudgetError

        key = (_digest(image), int(k))
        if key not in self._quality:
            k_stream = self.stream_bits(k)
            got = None
            try:
                factor, stream, q = self.encode_best(image, k_stream) if k_stream >= 8 else (1, None, None)
            except CodecBudgetError:
                stream = None
            if stream is not None:
                q = self._decoded_psnr(stream, image, factor) if q is None else q
                if q is not None:
                    got = (LENGTH_FIELD_BITS + 8 * len(stream), q)
            self._quality[key] = got
        return self._quality[key]

    def received_stream(self, res, sent_bits: int) -> bytes:
        """The codec stream the receiver hands its decoder, read from the received bits ``res.bits``.

        Always the link's received bits, never the transmitter's copy: a code block whose CRC passed
        but whose bits are wrong (an undetected error, probability about 2^-24 per block) reaches the
        decoder as it is. The length field is trusted when its code block passed its CRC (otherwise
        the whole received payload is handed on); ``loss_policy="truncate"`` cuts the stream at the
        first failed code block that carries stream bits.
        """
        return self._stream_of(self._received_field(res), res, sent_bits)

    def _stream_of(self, field: tuple[bytes, bool, int, int], res, sent_bits: int) -> bytes:
        """:meth:`received_stream` from the already read length field (:meth:`_received_field`)."""
        rx_payload, header_ok, n_bytes, _ = field
        cb_ok = res.cb_ok.reshape(-1)
        body = rx_payload[LENGTH_FIELD_BITS // 8:][: n_bytes if header_ok else len(rx_payload)]
        bad = [j for j, (a, b) in enumerate(res.cb_ranges) if not bool(cb_ok[j]) and a < sent_bits and b > a]
        if self.config.loss_policy == "truncate" and bad:
            start_bit = max(res.cb_ranges[bad[0]][0] - LENGTH_FIELD_BITS, 0)
            body = body[: start_bit // 8]
        return body

    def _received_field(self, res) -> tuple[bytes, bool, int, int]:
        """``(payload bytes, field's block passed, byte count, factor)`` read from the received bits."""
        k = res.bits.shape[-1]
        rx_payload = bits_to_bytes(res.bits.reshape(-1)[: (k // 8) * 8])
        header_ok = bool(res.delivered_mask.reshape(-1)[:LENGTH_FIELD_BITS].all())
        n_bytes, factor = read_length_field(rx_payload, self.config.downscale > 1)
        return rx_payload, header_ok, n_bytes, factor

    def budget(self, source_shape) -> int:
        """Channel uses granted to a source of shape ``[1, 3, H, W]`` (the bench's ``System.budget``)."""
        return self.channel_uses_budget(int(source_shape[-2]), int(source_shape[-1]))

    def describe(self) -> dict:
        """The configuration, for provenance (the bench's ``System.describe``)."""
        return {"system": "separation", **dataclasses.asdict(self.config)}

    def channel_uses_budget(self, height: int, width: int) -> int:
        """Complex channel uses granted to an ``H x W`` colour image: ``ceil(cbr * H * W * 3)``."""
        return int(math.ceil(self.config.cbr * height * width * 3 - 1e-9))

    def adaptation_snr_db(self, snr_db: float, csi_report_db: float | None = None) -> float:
        """The SNR link adaptation chooses at: the report (default ``snr_db``) plus the OLLA offset."""
        from semcom.link.base import check_snr_db

        known = check_snr_db(snr_db if csi_report_db is None else csi_report_db)
        return known + (self.olla.offset_db if self.olla is not None and not self._bayes() else 0.0)

    def transmit(self, image: torch.Tensor, snr_db: float, *, seed: int | torch.Generator | None = 0,
                 csi_report_db: float | None = None) -> SeparationOutcome:
        """Send one image ``[1,3,H,W]`` (or ``[3,H,W]``) at ``snr_db`` and return the outcome.

        ``csi_report_db``: the SNR the transmitter knows and adapts to (default ``snr_db``). With the
        outer loop, the MCS is chosen at report + offset and the offset is then updated with this
        grant's ACK (then ``extras`` holds ``ack``, the ``olla_offset_db`` used and ``olla_offset_after_db``).
        """
        from semcom.codecs import CodecBudgetError

        image = check_image(image)
        if image.shape[0] != 1:
            raise InputError("SeparationSystem.transmit takes one image at a time ([1,3,H,W])")
        if not math.isfinite(float(snr_db)):
            raise InputError(f"snr_db must be finite, got {snr_db}")
        _, _, h, w = image.shape
        budget = self.channel_uses_budget(h, w)
        snr_adapt = self.adaptation_snr_db(snr_db, csi_report_db)
        link = self.link_for(snr_adapt, budget, image)
        if self.scatter is not None:  # after the choice: this grant was chosen with the reports before it
            self.scatter.observe(snr_db if csi_report_db is None else csi_report_db)
        k_max = int(link.max_payload_bits(budget, snr_db=snr_db))
        fallback = torch.full_like(image, FALLBACK_VALUE)
        mcs = str(getattr(link, "mcs", None))
        k_stream = self.stream_bits(k_max)
        if k_stream < 8:
            return _no_fit(fallback, k_max, budget, "budget below one byte", mcs)
        try:
            factor, stream = self._joint_choice(image, snr_adapt, budget, k_max) or self.encode_best(image, k_stream)[:2]
        except CodecBudgetError as exc:
            return _no_fit(fallback, k_max, budget, str(exc), mcs)
        header = pack_length_field(len(stream), factor, self.config.downscale > 1)
        payload = torch.zeros(k_max)
        sent = bytes_to_bits(header + stream)
        payload[: sent.numel()] = sent
        gen = make_generator(seed)
        res = link.transmit(payload.unsqueeze(0), snr_db, generator=gen)
        cb_ok = res.cb_ok.reshape(-1)
        n_fail = int((~cb_ok).sum())
        sent_bits = sent.numel()
        n_fail_stream = sum(1 for j, (a, b) in enumerate(res.cb_ranges) if not bool(cb_ok[j]) and a < sent_bits and b > a)
        field = self._received_field(res)  # read once: the stream's length and the resolution factor
        received, rx_factor = self._stream_of(field, res, sent_bits), field[3]
        outcome = self.codec.decode_robust(received, shape=scaled_shape(h, w, rx_factor))
        status = outcome.status
        if n_fail_stream and status == "ok":
            status = "recovered"  # decoded, but from a damaged stream
        img = upscale(outcome.image, (h, w)) if status != "failed" else fallback
        extras: dict[str, Any] = {"payload_capacity_bits": int(k_max), "mcs": mcs}
        if self.config.downscale > 1:
            extras["downscale"] = factor
        if self._bayes():
            self._bayes_feedback(extras, n_fail == 0, link, k_max, snr_db if csi_report_db is None else csi_report_db)
        elif self.olla is not None:
            saturated = self.olla.anti_windup and getattr(link, "mcs", None) == self.most_robust_mcs(budget, image)
            extras["ack"] = n_fail == 0
            extras["olla_offset_db"] = self.olla.offset_db
            if self.olla.anti_windup:
                extras["olla_saturated"] = saturated
            predicted = None
            if self.olla.prediction_matched:
                predicted = extras["olla_predicted_error"] = self.predicted_error(link, k_max, snr_adapt)
            extras["olla_offset_after_db"] = self.olla.update(n_fail == 0, saturated=saturated, predicted=predicted)
        return SeparationOutcome(
            reconstruction=img.clamp(0, 1),
            status=status,
            channel_uses=int(res.channel_uses),
            channel_uses_budget=budget,
            bits_sent=8 * len(stream),
            side_info_bits=LENGTH_FIELD_BITS,
            num_cb=int(cb_ok.numel()),
            num_cb_failed=n_fail,
            error=outcome.error,
            extras=extras,
        )
