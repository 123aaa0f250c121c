"""DeepJSCC: deep joint source-channel coding of images (the learned baseline every paper cites).

Bourtsoulatze, Kurka, Gündüz, "Deep Joint Source-Channel Coding for Wireless Image
Transmission", IEEE TCCN 2019. A convolutional encoder maps an image straight to complex channel
symbols, normalised to unit average power; the (analog) channel adds noise; a mirrored decoder
maps the noisy symbols back to an image. No bits, no entropy code, no channel code: quality
degrades gracefully as the SNR drops instead of falling off a cliff.

    image [B,3,H,W] -> conv5x5/2 -> act -> conv5x5/2 -> act -> conv5x5 -> act -> conv5x5 -> act
        -> conv5x5 (2c ch.) -> [B, 2c, H/4, W/4] -> pair channels into c complex maps
        -> symbols [B, n] complex64, n = c * H/4 * W/4 -> power normalise -> channel
        -> mirrored decoder (transposed convs, sigmoid) -> image [B,3,H,W]

``act`` is PReLU as in the 2019 paper, or GDN/IGDN (``activation="gdn"``, the later DeepJSCC
variants). SPP = n / (H W) = c / 16 complex symbols per pixel; CBR = SPP / 3.

This module also holds what all learned JSCC models of semcom share: the payload that crosses
the channel (:class:`SymbolPayload`), the per-image transmission outcome, the analog channel used in
training (:func:`jscc_channel`) and the common ``transmit`` / checkpoint plumbing
(:class:`LearnedJSCC`).

Example:
    >>> import torch
    >>> from semcom.models import DeepJSCC
    >>> model = DeepJSCC({"latent_channels": 8, "hidden_channels": 16})
    >>> x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    >>> payload = model.encode(x)[0]
    >>> payload.channel_uses, payload.spp
    (1024, 0.25)
    >>> out = model.transmit(x, snr_db=10.0, seed=0)
    >>> out.image.shape, out.channel_uses
    (torch.Size([1, 3, 64, 64]), 1024)
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, ClassVar

import torch
from torch import nn

from semcom.errors import ConfigError, InputError
from semcom.layers import GDN, IGDN, power_normalize
from semcom.systems.outcome import Outcome
from semcom.utils import check_image, from_dict, make_generator

#: channels a learned model trains and runs on: the canonical names of :mod:`semcom.channel`
#: (``"rayleigh"`` kept as the alias of ``"rayleigh_block"``)
CHANNELS = ("awgn", "rayleigh", "rayleigh_block", "rayleigh_fast")


class SNROutOfRangeWarning(UserWarning):
    """A learned model was asked to work at an SNR outside the range it was trained for."""


# --------------------------------------------------------------------------- channel
def _validate_snr(snr_db: Any) -> float:
    try:
        v = float(snr_db)
    except (TypeError, ValueError):
        raise InputError(f"snr_db must be a number, got {snr_db!r}") from None
    if not math.isfinite(v):
        raise InputError(f"snr_db must be finite, got {snr_db}")
    return v


def jscc_channel(z: torch.Tensor, snr_db: float | torch.Tensor, channel: str = "awgn",
                 generator: torch.Generator | None = None, *, csi: str = "perfect",
                 csi_error_var: float = 0.0) -> torch.Tensor:
    """Pass unit-power complex symbols ``z [B, ...]`` through an analog channel, equalised.

    A thin adapter onto the shared channels of :mod:`semcom.channel` (no noise is drawn here):

    * ``channel="awgn"``: :class:`semcom.channel.AWGNChannel`, ``y = z + w``, ``w ~ CN(0, no)``,
      ``no = 10**(-snr_db/10)`` per complex symbol.
    * ``channel="rayleigh_block"`` (alias ``"rayleigh"``): :class:`semcom.channel.RayleighBlockChannel`
      with one coefficient ``h ~ CN(0, 1)`` per example (per image or per vector: all of ``z[b]`` is
      one block), zero-forcing equalisation: ``y = (h z + w) / h_hat``.
    * ``channel="rayleigh_fast"``: :class:`semcom.channel.RayleighFastChannel`, one ``h`` per symbol.

    The receiver's CSI (``csi``: ``"perfect"``, ``"estimated"`` with ``csi_error_var``, ``"none"``)
    applies to the fading channels; the channel is built from the one registry
    (:func:`semcom.channel.make_channel`).

    Differentiable in ``z``. ``snr_db`` is a float or a ``[B]`` tensor (one SNR per example).
    ``generator`` draws the noise (``None``: seed 0, as every semcom channel).

    Returns the received (equalised) symbols, same shape and dtype as ``z``.
    """
    from semcom.channel import canonical_channel, make_channel

    if channel not in CHANNELS:
        raise InputError(f"channel must be one of {CHANNELS}, got {channel!r}")
    if not isinstance(z, torch.Tensor) or not torch.is_complex(z):
        raise InputError("channel symbols must be complex")
    b = z.shape[0]
    snr = torch.as_tensor(snr_db, dtype=torch.float32, device=z.device)
    if snr.dim() == 0:
        snr = snr.expand(b)
    flat = z.reshape(b, -1)  # one example = one fading block
    if flat.shape[-1] == 0:  # nothing sent (a VL-SCC rate index of 0)
        return z
    name = canonical_channel(channel)
    kw = {} if name == "awgn" else {"csi": csi, "csi_error_var": csi_error_var, "equalizer": "zf"}
    ch = make_channel(name, **kw)
    return ch(flat, snr.reshape(b), generator=generator).reshape(z.shape)


# --------------------------------------------------------------------------- payload
@dataclasses.dataclass
class SymbolPayload:
    """What one image puts on the air: complex symbols plus error-free side information.

    symbols: ``[n]`` complex64, unit average power over the ``n`` symbols sent.
    side_bits: ``[k]`` uint8 bits sent error-free beside the symbols (VL-SCC's rate map; empty for
        fixed-length models).
    height, width: image size in pixels.
    side_bits_per_symbol: spectral efficiency of the error-free side link used to count its channel
        uses (default 1.0: a robust QPSK rate-1/2 control channel, so 4 side bits cost 4 channel uses).

    Accounting: ``symbol_uses = n``; ``side_channel_uses = ceil(k / side_bits_per_symbol)``;
    ``channel_uses = symbol_uses + side_channel_uses``; ``spp = channel_uses / (H W)`` and
    ``cbr = channel_uses / (3 H W)`` count both, ``spp_symbols`` the analog symbols only.
    """

    symbols: torch.Tensor
    side_bits: torch.Tensor
    height: int
    width: int
    side_bits_per_symbol: float = 1.0

    @property
    def symbol_uses(self) -> int:
        return int(self.symbols.numel())

    @property
    def side_channel_uses(self) -> int:
        k = int(self.side_bits.numel())
        return int(math.ceil(k / self.side_bits_per_symbol - 1e-9)) if k else 0

    @property
    def channel_uses(self) -> int:
        return self.symbol_uses + self.side_channel_uses

    @property
    def spp_symbols(self) -> float:
        """Analog complex symbols per pixel (side link excluded)."""
        return self.symbol_uses / (self.height * self.width)

    @property
    def spp(self) -> float:
        """Complex symbols per pixel: ``n / (H W)``."""
        return self.channel_uses / (self.height * self.width)

    @property
    def cbr(self) -> float:
        """Channel bandwidth ratio: ``n / (3 H W)``."""
        return self.channel_uses / (3 * self.height * self.width)

    @property
    def side_bpp(self) -> float:
        """Side-information bits per pixel."""
        return int(self.side_bits.numel()) / (self.height * self.width)

    def received(self, symbols: torch.Tensor) -> "SymbolPayload":
        """The same payload with the symbols replaced by the received ones (same length)."""
        if symbols.shape != self.symbols.shape:
            raise InputError(f"received symbols {tuple(symbols.shape)} differ from sent {tuple(self.symbols.shape)}")
        return dataclasses.replace(self, symbols=symbols)


def check_payloads(payloads: Any) -> list[SymbolPayload]:
    """Validate received payloads before a decoder reads them (they are untrusted input).

    Every item must be a :class:`SymbolPayload` whose symbols are a 1-D real or complex tensor of
    finite values (one NaN or Inf symbol would turn the whole reconstruction into NaN), whose side
    bits are a 1-D tensor of 0/1 values, and whose image size is a pair of positive ints.
    Returns the payloads as a list; raises :class:`InputError` otherwise.
    """
    if isinstance(payloads, SymbolPayload) or not isinstance(payloads, (list, tuple)):
        raise InputError(f"decode takes a list of SymbolPayload, got {type(payloads).__name__}")
    if not payloads:
        raise InputError("decode needs at least one payload")
    for i, p in enumerate(payloads):
        if not isinstance(p, SymbolPayload):
            raise InputError(f"payload {i} is a {type(p).__name__}, not a SymbolPayload")
        z, bits = p.symbols, p.side_bits
        if not isinstance(z, torch.Tensor) or z.dim() != 1 or not (z.is_complex() or z.is_floating_point()):
            raise InputError(f"payload {i}: symbols must be a 1-D complex tensor")
        if not bool(torch.isfinite(z).all()):
            raise InputError(f"payload {i}: received symbols contain NaN or Inf")
        if not isinstance(bits, torch.Tensor) or bits.dim() != 1 or bits.is_complex():
            raise InputError(f"payload {i}: side bits must be a 1-D tensor of 0/1 values")
        if bits.numel() and not bool(((bits == 0) | (bits == 1)).all()):
            raise InputError(f"payload {i}: side bits must be 0 or 1")
        for name in ("height", "width"):
            v = getattr(p, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"payload {i}: {name} must be a positive int, got {v!r}")
    return list(payloads)


class JSCCOutcome(Outcome):
    """The bench's :class:`~semcom.systems.Outcome` for one example through a learned JSCC model.

    Analog: ``bits_sent = 0``; ``side_info_bits`` are the payload's error-free side bits (VL-SCC's
    rate map), their channel uses counted in ``channel_uses``. ``extras`` holds ``snr_db``,
    ``extrapolated`` (SNR outside the trained range) and ``payload`` (what was sent). The older
    attribute names (``image``, ``spp``, ``cbr``, ``side_bits``, ...) are kept as properties.
    """

    @property
    def image(self) -> torch.Tensor:
        return self.reconstruction

    @property
    def payload(self) -> "SymbolPayload | None":
        return self.extras.get("payload")

    @property
    def spp(self) -> float:
        p = self.payload
        return p.spp if p is not None else float(self.rates(self.reconstruction.shape).spp or 0.0)

    @property
    def cbr(self) -> float:
        p = self.payload
        return p.cbr if p is not None else self.rates(self.reconstruction.shape).cbr

    @property
    def side_bits(self) -> int:
        return self.side_info_bits

    @property
    def snr_db(self) -> float:
        return float(self.extras["snr_db"])

    @property
    def extrapolated(self) -> bool:
        return bool(self.extras.get("extrapolated", False))


def _takes(fn: Any, name: str) -> bool:
    """``fn`` accepts the keyword ``name`` (or ``**kwargs``)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


# --------------------------------------------------------------------------- base class
class LearnedJSCC(nn.Module):
    """Shared plumbing of semcom's learned JSCC models.

    Subclasses set ``name``, ``Config`` (a dataclass with ``channel``, ``snr_db`` and
    ``snr_range_db`` fields), ``size_multiple`` and implement ``forward`` (training),
    ``encode(image) -> list[SymbolPayload]`` and ``decode(list[SymbolPayload]) -> image``.

    SNR outside the trained range: ``transmit`` still runs (the models are analog and degrade
    gracefully) but emits :class:`SNROutOfRangeWarning` and sets ``outcome.extrapolated``;
    with ``strict=True`` it raises :class:`InputError` instead. A non-finite SNR always raises.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type]
    size_multiple: ClassVar[int] = 4
    #: "image" (``[B,3,H,W]`` in [0,1]) or "vector" (``[B, dim]``, the 1D coders)
    input_kind: ClassVar[str] = "image"
    #: ``forward(..., random_rate=True)`` exists (VL-SCC's warm-up with random rate levels)
    random_rate_warmup: ClassVar[bool] = False
    #: the channel uses depend on the content (VL-SCC): no fixed budget per source shape
    variable_length: ClassVar[bool] = False

    def __init__(self, config: Any = None) -> None:
        super().__init__()
        if config is None:
            config = self.Config()
        elif isinstance(config, dict):
            config = from_dict(self.Config, config)
        elif not isinstance(config, self.Config):
            raise ConfigError(f"{type(self).__name__} config must be a dict or {self.Config.__name__}")
        if config.channel not in CHANNELS:
            raise ConfigError(f"channel must be one of {CHANNELS}, got {config.channel!r}")
        lo, hi = config.snr_range_db
        if not (lo <= hi):
            raise ConfigError(f"snr_range_db must be [low, high], got {config.snr_range_db}")
        self.config = config

    @property
    def input_multiple(self) -> int:
        """H and W of an input image must be multiples of this (``size_multiple`` unless the model tiles)."""
        return self.size_multiple

    # -- checks
    def check_input(self, image: torch.Tensor) -> torch.Tensor:
        """Validate an image batch; H and W must be multiples of ``size_multiple``."""
        image = check_image(image)
        h, w = image.shape[-2:]
        m = self.size_multiple
        if h % m or w % m or h < m or w < m:
            raise InputError(f"{type(self).__name__} needs H and W to be positive multiples of {m}, got {h}x{w}"
                             f" (crop or pad the image first)")
        return image

    def check_snr(self, snr_db: Any, strict: bool = False) -> tuple[float, bool]:
        v = _validate_snr(snr_db)
        lo, hi = self.config.snr_range_db
        out = not (lo <= v <= hi)
        if out:
            msg = (f"{type(self).__name__} was trained for SNR in [{lo}, {hi}] dB; {v} dB is outside"
                   " (quality is extrapolated)")
            if strict:
                raise InputError(msg)
            warnings.warn(msg, SNROutOfRangeWarning, stacklevel=3)
        return v, out

    def sample_training_snr(self, batch: int, generator: torch.Generator | None) -> torch.Tensor:
        """Training SNR per example: ``snr_db`` when it is a number, uniform in ``[lo, hi]`` for a pair."""
        s = self.config.snr_db
        if isinstance(s, (list, tuple)):
            lo, hi = float(s[0]), float(s[1])
            dev = generator.device if generator is not None else None  # a CUDA generator draws on its device
            return lo + (hi - lo) * torch.rand(batch, generator=generator, device=dev)
        return torch.full((batch,), float(s))

    # -- channel round trip
    def reconstruct(self, symbols: torch.Tensor, height: int, width: int,
                    snr_db: float | torch.Tensor | None = None) -> torch.Tensor:
        """Differentiable received symbols ``[B, n]`` -> images ``[B,3,H,W]`` (what ``decode`` runs,
        without its checks and ``no_grad``); the path :mod:`semcom.models.refine` searches through.
        Models without one raise :class:`ConfigError`."""
        raise ConfigError(f"model {self.name!r} has no differentiable reconstruct()")

    def _encode(self, x: torch.Tensor, snr_db: float | None, csi: str) -> list[SymbolPayload]:
        """``encode``, given the SNR and CSI when its signature takes them (SNR-adaptive models)."""
        kw = {k: v for k, v in (("snr_db", snr_db), ("csi", csi)) if _takes(self.encode, k)}
        return self.encode(x, **kw)

    def _decode(self, payloads: list[SymbolPayload], snr_db: float | None, csi: str) -> torch.Tensor:
        """``decode`` of payloads checked by :func:`check_payloads` first (also for a user's model
        whose ``decode`` does not check), given the SNR and CSI when its signature takes them."""
        payloads = check_payloads(payloads)
        kw = {k: v for k, v in (("snr_db", snr_db), ("csi", csi)) if _takes(self.decode, k)}
        return self.decode(payloads, **kw)

    @torch.no_grad()
    def transmit(self, image: torch.Tensor, snr_db: float, *, seed: int | torch.Generator | None = 0,
                 channel: str | None = None, strict: bool = False, csi: str = "perfect",
                 csi_error_var: float = 0.0, refine: Any = None) -> JSCCOutcome:
        """Send one image ``[1,3,H,W]`` (a 1D coder: one vector ``[1, dim]``) over the analog channel at
        ``snr_db``: encode -> channel -> decode.

        ``refine`` (a :class:`semcom.models.refine.RefineConfig` or its dict): the transmitter
        refines the encoder's symbols for this image at ``snr_db`` before sending them (same
        symbols count and power, see :mod:`semcom.models.refine`); ``extras["refine"]`` holds the
        search's log.

        ``channel`` (a name of :mod:`semcom.channel`) defaults to the one the model was trained on;
        ``csi`` / ``csi_error_var`` are the receiver's CSI on fading channels. ``encode`` and
        ``decode`` receive ``snr_db=`` and ``csi=`` when their signatures take them, so an
        SNR-adaptive model needs no override of ``transmit``. The symbols counted are the
        payload's symbols; the side bits travel error-free. Received symbols the decoder refuses
        (NaN or Inf, see :func:`check_payloads`) give ``status="failed"``, the fallback output
        (:meth:`fallback`) and the reason in ``error``, instead of a NaN reconstruction.
        """
        image = self.check_input(image)
        if image.shape[0] != 1:
            raise InputError("transmit takes one example at a time ([1,3,H,W] or [1, dim])")
        snr, extrapolated = self.check_snr(snr_db, strict)
        gen = make_generator(seed)
        was_training = self.training
        self.eval()
        try:
            payload, refined = self._encode(image, snr, csi)[0], None
            if refine is not None:
                payload, refined = self._refined(payload, image, snr, refine, channel, csi, csi_error_var)
            rx = jscc_channel(payload.symbols.unsqueeze(0), snr, channel or self.config.channel, gen,
                              csi=csi, csi_error_var=csi_error_var)[0]
            status, error = "ok", None
            try:
                x_hat = self._decode([payload.received(rx)], snr, csi)
            except InputError as exc:  # what arrived is not decodable: a failure, not an exception
                status, error, x_hat = "failed", str(exc), self.fallback(image)
        finally:
            self.train(was_training)
        return JSCCOutcome(x_hat, status, payload.channel_uses, payload.channel_uses,
                           side_info_bits=int(payload.side_bits.numel()), error=error,
                           extras={"snr_db": snr, "extrapolated": extrapolated, "payload": payload,
                                   **({"refine": refined} if refined is not None else {})})

    def _refined(self, payload: SymbolPayload, image: torch.Tensor, snr: float, refine: Any, channel: str | None,
                 csi: str, csi_error_var: float) -> tuple[SymbolPayload, dict]:
        """``payload`` with its symbols refined for ``image`` (:func:`semcom.models.refine.refine_symbols`)."""
        from semcom.models.refine import RefineConfig, refine_symbols

        cfg = refine if isinstance(refine, RefineConfig) else RefineConfig.from_dict(refine)
        z, log = refine_symbols(self, image, snr, cfg, channel=channel, csi=csi, csi_error_var=csi_error_var,
                                start=payload.symbols)
        return dataclasses.replace(payload, symbols=z), {**dataclasses.asdict(cfg), **log}

    def fallback(self, x: torch.Tensor) -> torch.Tensor:
        """What a failed transmission shows, shaped like ``x``: mid-grey 0.5 for images, zeros (the
        mean of the standardised vectors) for the 1D coders."""
        return torch.full_like(x, 0.5 if self.input_kind == "image" else 0.0)

    @torch.no_grad()
    def transmit_many(self, x: torch.Tensor, snr_db: float | None, *, seed: int | torch.Generator | None = 0,
                      channel: str | None = None, strict: bool = False) -> tuple[torch.Tensor, list[SymbolPayload]]:
        """Send a batch ``x`` (images or vectors), each example through the channel on its own.

        Encodes the batch, passes every payload's symbols through ``channel`` (default: the trained
        one; block fading draws one coefficient per example) with one generator seeded by ``seed``,
        and decodes. ``snr_db=None`` is the noiseless channel (received = sent), the "ideal"
        of the learned code. Returns ``(x_hat, payloads)``; the payloads hold what was sent, so
        ``sum(p.channel_uses for p in payloads)`` is the honest count.
        """
        x = self.check_input(x)
        if snr_db is not None:
            snr_db, _ = self.check_snr(snr_db, strict)
        gen = make_generator(seed)
        was_training = self.training
        self.eval()
        try:
            payloads = self._encode(x, snr_db, "perfect")
            if snr_db is None:
                received = payloads
            else:
                ch = channel or self.config.channel
                received = [p.received(jscc_channel(p.symbols.unsqueeze(0), snr_db, ch, gen)[0]) for p in payloads]
            x_hat = self._decode(received, snr_db, "perfect")
        finally:
            self.train(was_training)
        return x_hat, payloads

    # -- checkpoints
    def checkpoint_dict(self) -> dict:
        return {"model": self.name, "config": dataclasses.asdict(self.config), "state_dict": self.state_dict()}

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _act(kind: str, channels: int, inverse: bool) -> nn.Module:
    if kind == "gdn":
        return IGDN(channels) if inverse else GDN(channels)
    if kind == "prelu":
        return nn.PReLU(channels)
    raise ConfigError(f"activation must be 'gdn' or 'prelu', got {kind!r}")


@dataclasses.dataclass
class DeepJSCCConfig:
    """DeepJSCC hyper-parameters.

    hidden_channels: width of the conv layers (the 2019 paper: 16/32; later variants: 256).
    latent_channels: c, real channels of the 1/4-resolution latent (even): c/2 complex maps of
        H/4 x W/4 give ``SPP = c / 32`` (c = 4: SPP 0.125, CBR 1/24).
    kernel: conv kernel size. activation: ``"gdn"`` or ``"prelu"``.
    channel: training channel, ``"awgn"`` or ``"rayleigh"`` (block, per image, perfect CSI).
    snr_db: training SNR (dB), a number or ``[low, high]`` (uniform per example).
    snr_range_db: SNRs the model is declared valid for (outside: warning, see :class:`LearnedJSCC`).
    first_channels: width of the first encoder layer and of the last decoder layer but one
        (0: ``hidden_channels``; Bourtsoulatze et al.: 16 beside 32 elsewhere).
    """

    hidden_channels: int = 64
    latent_channels: int = 8
    kernel: int = 5
    activation: str = "gdn"
    channel: str = "awgn"
    snr_db: float | list[float] = 10.0
    snr_range_db: list[float] = dataclasses.field(default_factory=lambda: [0.0, 20.0])
    first_channels: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.first_channels, bool) or not isinstance(self.first_channels, int) or self.first_channels < 0:
            raise ConfigError(f"first_channels must be an int >= 0, got {self.first_channels!r}")
        if self.latent_channels < 2 or self.latent_channels % 2:
            raise ConfigError(f"latent_channels must be even and >= 2, got {self.latent_channels}")
        if self.hidden_channels < 1 or self.kernel < 1 or self.kernel % 2 == 0:
            raise ConfigError("hidden_channels must be >= 1 and kernel odd")


class DeepJSCC(LearnedJSCC):
    """DeepJSCC (Bourtsoulatze et al. 2019) with optional GDN; see the module docstring."""

    name = "deepjscc"
    Config = DeepJSCCConfig
    size_multiple = 4

    def __init__(self, config: DeepJSCCConfig | dict | None = None) -> None:
        super().__init__(config)
        c = self.config
        h, k, p, a = c.hidden_channels, c.kernel, c.kernel // 2, c.activation
        f = c.first_channels or h
        self.encoder = nn.Sequential(
            nn.Conv2d(3, f, k, 2, p), _act(a, f, False),
            nn.Conv2d(f, h, k, 2, p), _act(a, h, False),
            nn.Conv2d(h, h, k, 1, p), _act(a, h, False),
            nn.Conv2d(h, h, k, 1, p), _act(a, h, False),
            nn.Conv2d(h, c.latent_channels, k, 1, p),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c.latent_channels, h, k, 1, p), _act(a, h, True),
            nn.ConvTranspose2d(h, h, k, 1, p), _act(a, h, True),
            nn.ConvTranspose2d(h, h, k, 1, p), _act(a, h, True),
            nn.ConvTranspose2d(h, f, k, 2, p, output_padding=1), _act(a, f, True),
            nn.ConvTranspose2d(f, 3, k, 2, p, output_padding=1), nn.Sigmoid(),
        )

    @property
    def spp(self) -> float:
        """Complex symbols per pixel, fixed: ``c / 32``."""
        return self.config.latent_channels / 32

    def _to_symbols(self, latent: torch.Tensor) -> torch.Tensor:
        b, ch, hh, ww = latent.shape
        real = latent.reshape(b, 2, ch // 2, hh, ww)
        # symbols, power normalisation and channel stay in float32 under mixed precision (autocast)
        return torch.complex(real[:, 0].float(), real[:, 1].float()).reshape(b, -1)  # [B, n]

    def _from_symbols(self, z: torch.Tensor, hh: int, ww: int) -> torch.Tensor:
        b = z.shape[0]
        c2 = self.config.latent_channels // 2
        zz = z.reshape(b, c2, hh, ww)
        return torch.cat([zz.real, zz.imag], dim=1)

    def forward(self, x: torch.Tensor, snr_db: float | torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> dict:
        """Training pass: image -> symbols -> channel -> image.

        Args:
            x: ``[B,3,H,W]`` in [0,1], H and W multiples of 4.
            snr_db: SNR per complex symbol (float or ``[B]``); default: sampled as in training.
            generator: for the channel noise.

        Returns:
            ``{"x_hat": [B,3,H,W], "spp": [B] (constant), "rate": None}``.
        """
        x = self.check_input(x)
        if snr_db is None:
            snr_db = self.sample_training_snr(x.shape[0], generator)
        latent = self.encoder(x)
        hh, ww = latent.shape[-2:]
        z = power_normalize(self._to_symbols(latent))
        y = jscc_channel(z, snr_db, self.config.channel, generator)
        x_hat = self.decoder(self._from_symbols(y, hh, ww))
        return {"x_hat": x_hat, "spp": torch.full((x.shape[0],), self.spp), "rate": None}

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> list[SymbolPayload]:
        """Images ``[B,3,H,W]`` -> one :class:`SymbolPayload` per image (``n = c H W / 32`` symbols)."""
        image = self.check_input(image)
        z = power_normalize(self._to_symbols(self.encoder(image))).to(torch.complex64)
        h, w = image.shape[-2:]
        empty = torch.zeros(0, dtype=torch.uint8)
        return [SymbolPayload(z[i].clone(), empty, h, w) for i in range(z.shape[0])]

    @torch.no_grad()
    def decode(self, payloads: list[SymbolPayload]) -> torch.Tensor:
        """Received payloads (all the same size) -> images ``[B,3,H,W]``; InputError on non-finite symbols."""
        payloads = check_payloads(payloads)
        h, w = payloads[0].height, payloads[0].width
        n = self.config.latent_channels // 2 * (h // 4) * (w // 4)
        for p in payloads:
            if (p.height, p.width) != (h, w) or p.symbol_uses != n:
                raise InputError(f"payload holds {p.symbol_uses} symbols for {p.height}x{p.width}; expected {n} for {h}x{w}")
        return self.reconstruct(torch.stack([p.symbols for p in payloads]), h, w)

    def reconstruct(self, symbols: torch.Tensor, height: int, width: int,
                    snr_db: float | torch.Tensor | None = None) -> torch.Tensor:
        """Differentiable symbols ``[B, n]`` -> images ``[B,3,H,W]`` (``snr_db`` unused)."""
        return self.decoder(self._from_symbols(symbols, height // 4, width // 4))
