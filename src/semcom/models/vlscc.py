"""VL-SCC: variable-length semantic-channel coding of images (paper Sec. III-B, Table I) and its
fixed-length counterpart SCC.

A semantic encoder maps the image to features ``X`` at 1/4 resolution. A rate-allocation
network (RAN) turns ``X`` into a rate map ``R(X)`` in (0, 1) at 1/16 resolution. The
semantic-channel encoder (SCE) takes ``X`` and ``R`` (upsampled) and emits ``N`` complex symbols
per 1/16 location, ordered by importance. ``R`` is quantised to L = 16 levels (Eq. 1, ``Q``);
each location keeps its first ``ceil(N Q / (L-1))`` symbols (mask of Eq. 3); the kept symbols are
power-normalised and sent in raster order; ``Q`` (4 bits per 16x16 block) goes over an error-free
side link. The receiver zero-pads the received symbols back to ``[H/16, W/16, N]`` using ``Q``
and the semantic-channel decoder (SCD) and semantic decoder rebuild the image. ::

    x [B,3,H,W] -> SE -> X [B,C,H/4,W/4] -> RAN -> R [B,1,H/16,W/16] -> Q (Eq. 1) -> M (Eq. 3)
                        X, up(R) -> SCE -> Y [B,N,H/16,W/16] complex -> Y * M -> Z (sent, variable length)
    Z + noise -> zero-pad by Q -> P ; [P, Q/(L-1)] -> SCD -> SD -> x_hat

Training loss (Eq. 8): ``l2(x, x_hat) + lambda * L_perc + gamma * L_r`` with
``L_r = mean_{i,j} R(x)_{i,j}`` (the paper's sum over locations, divided by their number so that
``gamma`` does not depend on the crop size); see :mod:`semcom.training`.

Scaled down from Table I so it trains on 2 CPU cores: the defaults are semantic-encoder width
256 -> 64, SCE width 512 -> 96, RAN width 256/128 -> 64/32, and N = 512 real symbols -> N = 64
complex symbols per location (max 0.25 SPP); the committed checkpoint (``configs/vlscc2d.json``)
narrows further to 48 / 64 / 32 so that it trains in 18 minutes on a shared machine. Kernels and
strides are those of Table I. The RAN's final sigmoid acts on a logit clamped to +-6 with a
straight-through gradient so that a collapsed rate map can recover.

SCC (the paper's fixed-length coder) is the same network without the RAN and masks: every
location sends ``n_symbols`` complex symbols; its SPP is set by that channel count.

Example:
    >>> import torch
    >>> from semcom.models import VLSCC2D
    >>> m = VLSCC2D({"semantic_channels": 16, "sce_channels": 16, "ran_channels": 8, "n_symbols": 8})
    >>> x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    >>> p = m.encode(x)[0]
    >>> p.side_bits.numel()  # 4x4 rate map, 4 bits each
    64
    >>> p.symbol_uses == int(m.rate_map(x)[1].sum())  # symbols sent = sum of per-location lengths
    True
    >>> m.decode([p]).shape
    torch.Size([1, 3, 64, 64])
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from semcom.errors import ConfigError, InputError
from semcom.layers import (
    kept_symbols,
    masked_power_normalize,
    power_normalize,
    quantize_rate,
    rate_mask,
    side_bits_per_index,
)
from semcom.models.deepjscc import LearnedJSCC, SymbolPayload, jscc_channel


def _conv(cin: int, cout: int, k: int, s: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, s, k // 2)


def _deconv(cin: int, cout: int, k: int, s: int) -> nn.Module:
    if s == 1:
        return nn.Conv2d(cin, cout, k, 1, k // 2)
    return nn.ConvTranspose2d(cin, cout, k, s, k // 2, output_padding=s - 1)


def _semantic_encoder(c: int, first_kernel: int) -> nn.Sequential:
    # Table I, "Semantic Encoder": 9x9 S2, PReLU, 5x5 S2, PReLU, 5x5 S1
    return nn.Sequential(_conv(3, c, first_kernel, 2), nn.PReLU(c), _conv(c, c, 5, 2), nn.PReLU(c), _conv(c, c, 5, 1))


def _semantic_decoder(c: int, first_kernel: int) -> nn.Sequential:
    return nn.Sequential(_deconv(c, c, 5, 1), nn.PReLU(c), _deconv(c, c, 5, 2), nn.PReLU(c),
                         _deconv(c, 3, first_kernel, 2), nn.Sigmoid())


def _sce(cin: int, c: int, out: int) -> nn.Sequential:
    # Table I, "SCE": 5x5 S2, PReLU, 5x5 S1, PReLU, 5x5 S1, 3x3 S2
    return nn.Sequential(_conv(cin, c, 5, 2), nn.PReLU(c), _conv(c, c, 5, 1), nn.PReLU(c), _conv(c, c, 5, 1),
                         _conv(c, out, 3, 2))


def _scd(cin: int, c: int, out: int) -> nn.Sequential:
    return nn.Sequential(_deconv(cin, c, 3, 2), nn.PReLU(c), _deconv(c, c, 5, 1), nn.PReLU(c), _deconv(c, c, 5, 1),
                         nn.PReLU(c), _deconv(c, out, 5, 2))


def _ran(cin: int, c: int) -> nn.Sequential:
    # Table I, "Rate Allocation Network": 3x3 S2 / S1 x3 (PReLU), 3x3 S2 (c/2, PReLU), 3x3 S1 -> 1, sigmoid
    return nn.Sequential(_conv(cin, c, 3, 2), nn.PReLU(c), _conv(c, c, 3, 1), nn.PReLU(c), _conv(c, c, 3, 1),
                         nn.PReLU(c), _conv(c, c, 3, 1), nn.PReLU(c), _conv(c, c // 2, 3, 2), nn.PReLU(c // 2),
                         _conv(c // 2, 1, 3, 1))


class _ClampST(torch.autograd.Function):
    """Clamp forward, identity backward: keeps the rate logit out of the sigmoid's flat tails
    (where a collapsed rate map could never recover) without blocking its gradient."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, bound: float) -> torch.Tensor:  # type: ignore[override]
        return a.clamp(-bound, bound)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad, None


LOGIT_BOUND = 6.0


def _to_complex(y: torch.Tensor) -> torch.Tensor:
    """``[B, 2N, h, w]`` real -> ``[B, h, w, N]`` complex (working dimension last)."""
    b, c2, h, w = y.shape
    y = y.reshape(b, 2, c2 // 2, h, w).permute(0, 3, 4, 2, 1).contiguous()
    return torch.complex(y[..., 0], y[..., 1])


def _to_real(p: torch.Tensor) -> torch.Tensor:
    """``[B, h, w, N]`` complex -> ``[B, 2N, h, w]`` real."""
    return torch.cat([p.real, p.imag], dim=-1).permute(0, 3, 1, 2).contiguous()


def _check_tile(tile) -> None:
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 16 or tile % 16):
        raise ConfigError(f"tile must be None or a positive multiple of 16, got {tile!r}")


def _split_tiles(x: torch.Tensor, t: int) -> tuple[torch.Tensor, int, int]:
    """``[B,C,H,W]`` -> ``[B*nh*nw, C, t, t]`` (per image, tiles in raster order)."""
    b, c, h, w = x.shape
    nh, nw = h // t, w // t
    tiles = x.reshape(b, c, nh, t, nw, t).permute(0, 2, 4, 1, 3, 5).reshape(b * nh * nw, c, t, t)
    return tiles, nh, nw


def _merge_tiles(tiles: torch.Tensor, b: int, nh: int, nw: int) -> torch.Tensor:
    """Inverse of :func:`_split_tiles` (works for any per-tile ``[C, th, tw]``)."""
    _, c, th, tw = tiles.shape
    return tiles.reshape(b, nh, nw, c, th, tw).permute(0, 3, 1, 4, 2, 5).reshape(b, c, nh * th, nw * tw)


class _Tiled:
    """Tile-wise ``encode``/``decode``/``rate_map`` around the whole-image versions (``config.tile``)."""

    @property
    def input_multiple(self) -> int:
        """H and W must be multiples of this: the tile size when tiling, else ``size_multiple``."""
        import math

        return math.lcm(self.size_multiple, self.config.tile or 1)

    def check_input(self, image: torch.Tensor) -> torch.Tensor:
        image = LearnedJSCC.check_input(self, image)  # type: ignore[arg-type]
        t = self.config.tile
        if t and (image.shape[-2] % t or image.shape[-1] % t):
            raise InputError(f"{type(self).__name__} codes {t}x{t} tiles: H and W must be multiples of {t}, "
                             f"got {image.shape[-2]}x{image.shape[-1]}")
        return image

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> list[SymbolPayload]:
        image = self.check_input(image)
        t = self.config.tile
        if not t:
            return self._encode_whole(image)
        b, _, h, w = image.shape
        tiles, nh, nw = _split_tiles(image, t)
        per = self._encode_whole(tiles)
        out = []
        for i in range(b):
            ps = per[i * nh * nw:(i + 1) * nh * nw]
            out.append(SymbolPayload(torch.cat([p.symbols for p in ps]), torch.cat([p.side_bits for p in ps]), h, w,
                                     ps[0].side_bits_per_symbol))
        return out

    @torch.no_grad()
    def decode(self, payloads: list[SymbolPayload]) -> torch.Tensor:
        t = self.config.tile
        if not t:
            return self._decode_whole(payloads)
        if not payloads:
            raise InputError("decode needs at least one payload")
        h, w = payloads[0].height, payloads[0].width
        if h % t or w % t:
            raise InputError(f"payload for {h}x{w} does not split into {t}x{t} tiles")
        nh, nw = h // t, w // t
        tiles = []
        for p in payloads:
            if (p.height, p.width) != (h, w):
                raise InputError("all payloads of one decode call must have the same image size")
            tiles += self._split_payload(p, nh * nw, t)
        return _merge_tiles(self._decode_whole(tiles), len(payloads), nh, nw)


@dataclasses.dataclass
class VLSCC2DConfig:
    """VL-SCC 2D hyper-parameters (Table I scaled down; see the module docstring).

    semantic_channels: width of the semantic encoder/decoder (paper: 256).
    sce_channels: width of the SCE/SCD (paper: 512).
    ran_channels: width of the rate-allocation network (paper: 256, then 128).
    n_symbols: N, the maximum complex symbols per 1/16-resolution location (max SPP = N / 256).
    levels: L, quantisation levels of the rate map (side information: log2 L bits per location).
    first_kernel: kernel of the first/last layer (paper: 9).
    side_bits_per_symbol: spectral efficiency assumed for the error-free side link when counting it
        in the SPP (1.0: QPSK rate 1/2).
    channel, snr_db, snr_range_db: as in :class:`semcom.models.DeepJSCCConfig`.
    tile: code the image as independent ``tile x tile`` tiles (raster order; each tile's symbols
        power-normalised on their own), or ``None`` for the whole image at once. Set it to the
        training crop size when the network's receptive field is larger than its training crops
        (see docs/vlscc.md: a model trained on 64x64 crops loses 6 dB on whole 256x256 images).
    """

    semantic_channels: int = 64
    sce_channels: int = 96
    ran_channels: int = 64
    n_symbols: int = 64
    levels: int = 16
    first_kernel: int = 9
    side_bits_per_symbol: float = 1.0
    channel: str = "awgn"
    snr_db: float | list = 10.0
    snr_range_db: list = dataclasses.field(default_factory=lambda: [5.0, 15.0])
    tile: int | None = None

    def __post_init__(self) -> None:
        _check_tile(self.tile)
        for k in ("semantic_channels", "sce_channels", "n_symbols"):
            if not isinstance(getattr(self, k), int) or getattr(self, k) < 1:
                raise ConfigError(f"{k} must be a positive int")
        if self.ran_channels < 2 or self.levels < 2 or self.first_kernel % 2 == 0:
            raise ConfigError("ran_channels >= 2, levels >= 2 and an odd first_kernel are required")
        if self.side_bits_per_symbol <= 0:
            raise ConfigError("side_bits_per_symbol must be positive")


@dataclasses.dataclass
class SCCConfig:
    """SCC (fixed-length) hyper-parameters: as :class:`VLSCC2DConfig` without the RAN;
    every 1/16 location sends ``n_symbols`` complex symbols (SPP = n_symbols / 256); ``tile`` as in
    :class:`VLSCC2DConfig`."""

    semantic_channels: int = 64
    sce_channels: int = 96
    n_symbols: int = 32
    first_kernel: int = 9
    channel: str = "awgn"
    snr_db: float | list = 10.0
    snr_range_db: list = dataclasses.field(default_factory=lambda: [5.0, 15.0])
    tile: int | None = None

    def __post_init__(self) -> None:
        _check_tile(self.tile)
        for k in ("semantic_channels", "sce_channels", "n_symbols"):
            if not isinstance(getattr(self, k), int) or getattr(self, k) < 1:
                raise ConfigError(f"{k} must be a positive int")
        if self.first_kernel % 2 == 0:
            raise ConfigError("first_kernel must be odd")


class SCC(_Tiled, LearnedJSCC):
    """Fixed-length semantic-channel coder (the paper's SCC baseline): Table I without the RAN."""

    name = "scc"
    Config = SCCConfig
    size_multiple = 16

    def __init__(self, config: SCCConfig | dict | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.semantic_encoder = _semantic_encoder(c.semantic_channels, c.first_kernel)
        self.sce = _sce(c.semantic_channels, c.sce_channels, 2 * c.n_symbols)
        self.scd = _scd(2 * c.n_symbols, c.sce_channels, c.semantic_channels)
        self.semantic_decoder = _semantic_decoder(c.semantic_channels, c.first_kernel)

    @property
    def spp(self) -> float:
        return self.config.n_symbols / 256

    def forward(self, x: torch.Tensor, snr_db: float | torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> dict:
        """Training pass; returns ``{"x_hat", "spp" [B], "rate": None}`` (see :class:`VLSCC2D`)."""
        x = self.check_input(x)
        if snr_db is None:
            snr_db = self.sample_training_snr(x.shape[0], generator)
        y = _to_complex(self.sce(self.semantic_encoder(x)))  # [B, h, w, N]
        b = y.shape[0]
        z = power_normalize(y.reshape(b, -1)).reshape(y.shape)
        p = jscc_channel(z, snr_db, self.config.channel, generator)
        x_hat = self.semantic_decoder(self.scd(_to_real(p)))
        return {"x_hat": x_hat, "spp": torch.full((b,), self.spp), "rate": None}

    @torch.no_grad()
    def _encode_whole(self, image: torch.Tensor) -> list[SymbolPayload]:
        """Images -> payloads of ``n_symbols * H W / 256`` symbols each, raster order, symbol index last."""
        y = _to_complex(self.sce(self.semantic_encoder(image)))
        h, w = image.shape[-2:]
        empty = torch.zeros(0, dtype=torch.uint8)
        return [SymbolPayload(power_normalize(y[i].reshape(-1)).to(torch.complex64), empty, h, w)
                for i in range(y.shape[0])]

    def _split_payload(self, p: SymbolPayload, count: int, t: int) -> list[SymbolPayload]:
        k = self.config.n_symbols * (t // 16) ** 2
        if p.symbol_uses != k * count:
            raise InputError(f"payload of {p.symbol_uses} symbols does not fit {count} tiles of {k}")
        empty = torch.zeros(0, dtype=torch.uint8)
        return [SymbolPayload(p.symbols[i * k:(i + 1) * k], empty, t, t) for i in range(count)]

    @torch.no_grad()
    def _decode_whole(self, payloads: list[SymbolPayload]) -> torch.Tensor:
        if not payloads:
            raise InputError("decode needs at least one payload")
        h, w = payloads[0].height, payloads[0].width
        n = self.config.n_symbols
        ps = []
        for p in payloads:
            if (p.height, p.width) != (h, w) or p.symbol_uses != n * (h // 16) * (w // 16):
                raise InputError(f"payload of {p.symbol_uses} symbols does not fit {h}x{w} with N={n}")
            ps.append(p.symbols.reshape(h // 16, w // 16, n))
        return self.semantic_decoder(self.scd(_to_real(torch.stack(ps))))


class VLSCC2D(_Tiled, LearnedJSCC):
    """VL-SCC for 2D semantic information (paper Sec. III-B); see the module docstring."""

    name = "vlscc2d"
    Config = VLSCC2DConfig
    size_multiple = 16
    random_rate_warmup = True
    variable_length = True

    def __init__(self, config: VLSCC2DConfig | dict | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.semantic_encoder = _semantic_encoder(c.semantic_channels, c.first_kernel)
        self.ran = _ran(c.semantic_channels, c.ran_channels)
        self.sce = _sce(c.semantic_channels + 1, c.sce_channels, 2 * c.n_symbols)
        self.scd = _scd(2 * c.n_symbols + 1, c.sce_channels, c.semantic_channels)
        self.semantic_decoder = _semantic_decoder(c.semantic_channels, c.first_kernel)

    @property
    def side_bits_per_location(self) -> int:
        return side_bits_per_index(self.config.levels)

    def rate_from_features(self, feats: torch.Tensor) -> torch.Tensor:
        """RAN: features ``[B,C,H/4,W/4]`` -> rate map ``R [B,1,H/16,W/16]`` in (0, 1) (sigmoid of a
        logit clamped to +-6 with a straight-through gradient)."""
        return torch.sigmoid(_ClampST.apply(self.ran(feats), LOGIT_BOUND))

    def _analyse(self, x: torch.Tensor, mode: str, rate_override: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (R [B,h,w], Q [B,h,w], M [B,h,w,N], Y [B,h,w,N] complex)."""
        feats = self.semantic_encoder(x)
        r = self.rate_from_features(feats)  # [B,1,h,w]
        if rate_override is not None:  # warm-up: a given rate map instead of the RAN's
            r = rate_override.to(r).reshape(r.shape)
        r_up = F.interpolate(r, size=feats.shape[-2:], mode="nearest")
        y = _to_complex(self.sce(torch.cat([feats, r_up], dim=1)))
        r = r[:, 0]
        q = quantize_rate(r, self.config.levels, mode=mode)
        m = rate_mask(q, self.config.n_symbols, self.config.levels, mode=mode)
        return r, q, m, y

    def _synthesise(self, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        qin = (q / (self.config.levels - 1)).unsqueeze(1)
        return self.semantic_decoder(self.scd(torch.cat([_to_real(p), qin], dim=1)))

    def rate_map(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(R, K)``: the continuous rate map ``[B, H/16, W/16]`` in (0,1) and the number of symbols
        each location sends (integer, ``ceil(N Q / (L-1))``); tile-wise when ``config.tile`` is set."""
        image = self.check_input(image)
        t = self.config.tile
        if t:
            tiles, nh, nw = _split_tiles(image, t)
            tiles_r, tiles_k = self._rate_map_whole(tiles)
            b = image.shape[0]
            return (_merge_tiles(tiles_r.unsqueeze(1), b, nh, nw)[:, 0],
                    _merge_tiles(tiles_k.unsqueeze(1), b, nh, nw)[:, 0])
        return self._rate_map_whole(image)

    def _rate_map_whole(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            r = self.rate_from_features(self.semantic_encoder(image))[:, 0]
            q = quantize_rate(r, self.config.levels, mode="exact")
        return r, kept_symbols(q, self.config.n_symbols, self.config.levels)

    def forward(self, x: torch.Tensor, snr_db: float | torch.Tensor | None = None,
                generator: torch.Generator | None = None, random_rate: bool = False) -> dict:
        """Training pass with the straight-through quantiser and mask (Eq. 2, 5).

        ``random_rate=True`` (the training loop's warm-up) replaces the RAN's rate map by rate
        levels drawn uniformly per location, so the SCE learns to put the important symbols first
        and the SCD to handle zero-padding before the RAN starts allocating.

        Returns ``{"x_hat": [B,3,H,W], "rate": R [B,H/16,W/16] (for L_r), "spp": [B] symbols actually
        kept per pixel incl. the side link, "q": Q}``.
        """
        x = self.check_input(x)
        if snr_db is None:
            snr_db = self.sample_training_snr(x.shape[0], generator)
        override = None
        if random_rate:
            h16, w16 = x.shape[-2] // 16, x.shape[-1] // 16
            lv = self.config.levels
            override = torch.randint(1, lv, (x.shape[0], 1, h16, w16), generator=generator,
                                     device=generator.device if generator is not None else x.device).float() / (lv - 1)
        r, q, m, y = self._analyse(x, mode="ste", rate_override=override)
        z = masked_power_normalize(y, m.detach()) * m
        p = jscc_channel(z, snr_db, self.config.channel, generator) * m  # zero-padding at the receiver
        x_hat = self._synthesise(p, q)
        h, w = x.shape[-2:]
        side = self.side_bits_per_location * q[0].numel() / self.config.side_bits_per_symbol
        spp = (m.detach().sum(dim=(1, 2, 3)) + side) / (h * w)
        return {"x_hat": x_hat, "rate": r, "spp": spp, "q": q}

    def _side_bits(self, q: torch.Tensor) -> torch.Tensor:
        nb = self.side_bits_per_location
        qi = q.reshape(-1).long()
        shifts = torch.arange(nb - 1, -1, -1)
        return ((qi.unsqueeze(-1) >> shifts) & 1).reshape(-1).to(torch.uint8)  # MSB first, raster order

    def _q_from_bits(self, bits: torch.Tensor, hh: int, ww: int) -> torch.Tensor:
        nb = self.side_bits_per_location
        if bits.numel() != hh * ww * nb:
            raise InputError(f"side information holds {bits.numel()} bits; {hh * ww * nb} expected for {hh}x{ww} locations")
        weights = 2 ** torch.arange(nb - 1, -1, -1)
        q = (bits.reshape(hh * ww, nb).long() * weights).sum(-1)
        if int(q.max()) > self.config.levels - 1:
            raise InputError("side information holds a rate level above L-1")
        return q.reshape(hh, ww).float()

    @torch.no_grad()
    def _encode_whole(self, image: torch.Tensor) -> list[SymbolPayload]:
        """Images -> one variable-length payload per image.

        Symbols: for each 1/16 location in raster order, its first ``ceil(N Q / (L-1))`` symbols,
        power-normalised together (unit mean power over what is sent). Side bits: Q in raster order,
        ``log2 L`` bits each, MSB first. With ``config.tile``: tile after tile (raster order), each
        tile's symbols normalised on their own, side bits likewise tile after tile.
        """
        _, q, m, y = self._analyse(image, mode="exact")
        h, w = image.shape[-2:]
        out = []
        for i in range(image.shape[0]):
            sent = y[i][m[i].bool()]
            if sent.numel():
                sent = power_normalize(sent)
            out.append(SymbolPayload(sent.to(torch.complex64), self._side_bits(q[i]), h, w,
                                     self.config.side_bits_per_symbol))
        return out

    def _split_payload(self, p: SymbolPayload, count: int, t: int) -> list[SymbolPayload]:
        nbl = (t // 16) ** 2
        nb = self.side_bits_per_location
        if p.side_bits.numel() != count * nbl * nb:
            raise InputError(f"side information holds {p.side_bits.numel()} bits; {count * nbl * nb} expected")
        out, start = [], 0
        for i in range(count):
            bits = p.side_bits[i * nbl * nb:(i + 1) * nbl * nb]
            q = self._q_from_bits(bits, t // 16, t // 16)
            k = int(kept_symbols(q, self.config.n_symbols, self.config.levels).sum())
            if start + k > p.symbol_uses:
                raise InputError(f"payload holds {p.symbol_uses} symbols; its rate maps announce more")
            out.append(SymbolPayload(p.symbols[start:start + k], bits, t, t, p.side_bits_per_symbol))
            start += k
        if start != p.symbol_uses:
            raise InputError(f"payload holds {p.symbol_uses} symbols but its rate maps announce {start}")
        return out

    @torch.no_grad()
    def _decode_whole(self, payloads: list[SymbolPayload]) -> torch.Tensor:
        """Received payloads -> images: Q from the side bits, zero-padding to ``[H/16, W/16, N]``, SCD, SD."""
        if not payloads:
            raise InputError("decode needs at least one payload")
        h, w = payloads[0].height, payloads[0].width
        hh, ww, n = h // 16, w // 16, self.config.n_symbols
        ps, qs = [], []
        for p in payloads:
            if (p.height, p.width) != (h, w):
                raise InputError("all payloads of one decode call must have the same image size")
            q = self._q_from_bits(p.side_bits, hh, ww)
            m = rate_mask(q, n, self.config.levels, mode="exact").bool()
            if int(m.sum()) != p.symbol_uses:
                raise InputError(f"payload holds {p.symbol_uses} symbols but its rate map announces {int(m.sum())}")
            full = torch.zeros(hh, ww, n, dtype=torch.complex64)
            full[m] = p.symbols.to(torch.complex64)
            ps.append(full)
            qs.append(q)
        return self._synthesise(torch.stack(ps), torch.stack(qs))


# ----------------------------------------------------------------------------------------- 1D
def _check_mlp_sizes(cfg, keys: tuple[str, ...]) -> None:
    for k in keys:
        v = getattr(cfg, k)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{k} must be a positive int, got {v!r}")


@dataclasses.dataclass
class VLSCC1DConfig:
    """VL-SCC for 1D semantic information (paper Sec. III-A).

    dim: length d of the source vector (the paper's SMPL parameters: 85; semcom's face-landmark
        vectors, :mod:`semcom.data.landmark_vectors`: 259).
    hidden: width of the fully connected layers (paper: 1024).
    sce_layers / ran_layers: depth of SCE (and SCD) and RAN (paper: 6 and 4).
    n_symbols: N, the maximum code length in complex symbols (paper: 4000 real = 2000 complex).
    levels: L (side information: ``ceil(log2 L)`` bits per vector).
    linear_skip: add a linear map beside the SCE and the SCD stacks (``y = W x + MLP(x)``), so that
        the coder generalises beyond the few faces it was trained on (not in the paper; see docs/vlscc.md).
    channel, snr_db, snr_range_db, side_bits_per_symbol: as in :class:`VLSCC2DConfig`.
    """

    dim: int = 85
    hidden: int = 256
    sce_layers: int = 6
    ran_layers: int = 4
    n_symbols: int = 64
    levels: int = 16
    linear_skip: bool = False
    side_bits_per_symbol: float = 1.0
    channel: str = "awgn"
    snr_db: float | list = 10.0
    snr_range_db: list = dataclasses.field(default_factory=lambda: [-20.0, 10.0])

    def __post_init__(self) -> None:
        _check_mlp_sizes(self, ("dim", "hidden", "n_symbols", "sce_layers", "ran_layers", "levels"))
        if not isinstance(self.linear_skip, bool):
            raise ConfigError(f"linear_skip must be a bool, got {self.linear_skip!r}")
        if self.sce_layers < 2 or self.ran_layers < 2 or self.levels < 2:
            raise ConfigError("sce_layers >= 2, ran_layers >= 2 and levels >= 2 are required")
        if self.side_bits_per_symbol <= 0:
            raise ConfigError("side_bits_per_symbol must be positive")


@dataclasses.dataclass
class SCC1DConfig:
    """Fixed-length SCC for vectors (the paper's SCC(2k)/SCC(4k) of Fig. 6): :class:`VLSCC1DConfig`
    without the RAN, the levels and the side link; every vector sends ``n_symbols`` complex symbols."""

    dim: int = 85
    hidden: int = 256
    sce_layers: int = 6
    n_symbols: int = 32
    linear_skip: bool = False
    channel: str = "awgn"
    snr_db: float | list = 10.0
    snr_range_db: list = dataclasses.field(default_factory=lambda: [-20.0, 10.0])

    def __post_init__(self) -> None:
        _check_mlp_sizes(self, ("dim", "hidden", "n_symbols", "sce_layers"))
        if not isinstance(self.linear_skip, bool):
            raise ConfigError(f"linear_skip must be a bool, got {self.linear_skip!r}")
        if self.sce_layers < 2:
            raise ConfigError("sce_layers >= 2 is required")


def _mlp(din: int, hidden: int, dout: int, layers: int, linear_skip: bool = False) -> nn.Module:
    """``layers`` fully connected layers, PReLU between them, linear output (the paper's FC SCE/SCD/RAN);
    with ``linear_skip`` a bias-free linear map of the input is added to the output."""
    mods: list[nn.Module] = []
    d = din
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden), nn.PReLU(hidden)]
        d = hidden
    mods.append(nn.Linear(d, dout))
    stack = nn.Sequential(*mods)
    return _Skip(stack, nn.Linear(din, dout, bias=False)) if linear_skip else stack


class _Skip(nn.Module):
    def __init__(self, stack: nn.Module, linear: nn.Module) -> None:
        super().__init__()
        self.stack, self.linear = stack, linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stack(x) + self.linear(x)


class _VectorCoder:
    """What the 1D coders share: vector inputs ``[B, dim]`` instead of images."""

    input_kind = "vector"

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, dim]`` (or ``[dim]``, taken as a batch of one) finite float vectors, else InputError."""
        name = type(self).__name__
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise InputError(f"{name} takes a float tensor [B, dim]")
        if x.dim() == 1:
            x = x.unsqueeze(0)
        if x.dim() != 2 or x.shape[1] != self.config.dim or x.shape[0] < 1:
            raise InputError(f"{name} expects [B, {self.config.dim}], got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise InputError("input contains NaN or Inf")
        return x


class SCC1D(_VectorCoder, LearnedJSCC):
    """Fixed-length semantic-channel coder for vectors (the paper's SCC baseline of Fig. 6,
    "deleting the rate allocation network"): SCE ``x -> n_symbols`` complex symbols, power
    normalised per vector, channel, SCD ``p -> x_hat``. Fully connected as :class:`VLSCC1D`.

    ``SymbolPayload.height = 1``, ``width = dim``: ``channel_uses`` is the symbols per vector.

    Example:
        >>> import torch
        >>> from semcom.models import SCC1D
        >>> m = SCC1D({"dim": 10, "hidden": 16, "n_symbols": 4})
        >>> p = m.encode(torch.zeros(1, 10))[0]
        >>> p.channel_uses, m.decode([p]).shape
        (4, torch.Size([1, 10]))
    """

    name = "scc1d"
    Config = SCC1DConfig

    def __init__(self, config: SCC1DConfig | dict | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.sce = _mlp(c.dim, c.hidden, 2 * c.n_symbols, c.sce_layers, c.linear_skip)
        self.scd = _mlp(2 * c.n_symbols, c.hidden, c.dim, c.sce_layers, c.linear_skip)

    def _symbols(self, x: torch.Tensor) -> torch.Tensor:
        y = self.sce(x)
        n = self.config.n_symbols
        return power_normalize(torch.complex(y[:, :n], y[:, n:]))

    def forward(self, x: torch.Tensor, snr_db: float | torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> dict:
        """Training pass: ``{"x_hat" [B,dim], "rate": None, "spp" [B] (channel uses per source value)}``."""
        x = self.check_input(x)
        if snr_db is None:
            snr_db = self.sample_training_snr(x.shape[0], generator)
        p = jscc_channel(self._symbols(x), snr_db, self.config.channel, generator)
        x_hat = self.scd(torch.cat([p.real, p.imag], dim=1))
        return {"x_hat": x_hat, "rate": None, "spp": torch.full((x.shape[0],), self.config.n_symbols / self.config.dim)}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> list[SymbolPayload]:
        """Vectors ``[B, dim]`` -> one payload of ``n_symbols`` unit-power symbols each (no side bits)."""
        z = self._symbols(self.check_input(x)).to(torch.complex64)
        empty = torch.zeros(0, dtype=torch.uint8)
        return [SymbolPayload(z[i].clone(), empty, 1, self.config.dim) for i in range(z.shape[0])]

    @torch.no_grad()
    def decode(self, payloads: list[SymbolPayload]) -> torch.Tensor:
        """Received payloads -> vectors ``[B, dim]``."""
        if not payloads:
            raise InputError("decode needs at least one payload")
        n = self.config.n_symbols
        for p in payloads:
            if p.symbol_uses != n or p.side_bits.numel():
                raise InputError(f"payload holds {p.symbol_uses} symbols and {p.side_bits.numel()} side bits; "
                                 f"SCC1D expects {n} symbols and none")
        z = torch.stack([p.symbols.to(torch.complex64) for p in payloads])
        return self.scd(torch.cat([z.real, z.imag], dim=1))


class VLSCC1D(_VectorCoder, LearnedJSCC):
    """VL-SCC for vectors (paper Sec. III-A, Fig. 2): RAN -> rate index r(x) in (0,1), quantised to
    L levels (Eq. 1); SCE([x, r]) -> N complex symbols in importance order; the first
    ``ceil(N q / (L-1))`` are sent (Eq. 3); the receiver zero-pads and SCD([p, q/(L-1)]) rebuilds x.
    Rate loss ``L_r = r(x)``. Fully connected networks (paper: 1024 wide, 6/6/4 layers). ::

        x [B,d] -> RAN -> r [B] -> q (Eq. 1) -> M [B,N] (Eq. 3)
        [x, r] -> SCE -> Y [B,N] complex -> first ceil(N q/(L-1)) of Y, unit power -> channel
        zero-pad to N -> [P, q/(L-1)] -> SCD -> x_hat [B,d]

    Inputs are float vectors ``[B, dim]`` (normalise the source first; the output is linear).
    What crosses the channel (:meth:`encode`): the kept symbols, unit mean power over what is sent,
    and ``q`` as ``ceil(log2 L)`` side bits (MSB first) on the error-free side link, which costs
    ``ceil(bits / side_bits_per_symbol)`` channel uses per vector (4 at L = 16 and 1 bit per use).
    ``SymbolPayload.height = 1`` and ``width = dim``: ``channel_uses`` is the channel uses per vector
    (side link included), ``spp`` the channel uses per source value.

    ``forward(..., random_rate=True)`` (the training loop's warm-up, as for :class:`VLSCC2D`) draws
    the rate level uniformly in ``1 .. L-1`` per vector instead of using the RAN, so that the SCE
    learns to put the important symbols first before the RAN allocates.

    The 1D source of semcom is :mod:`semcom.data.landmark_vectors` (FaceMesh landmark vectors, the
    stand-in for the paper's SMPL parameters); the experiment is :mod:`semcom.experiments.vlscc_1d`.

    Example:
        >>> import torch
        >>> from semcom.models import VLSCC1D
        >>> m = VLSCC1D({"dim": 10, "hidden": 16, "n_symbols": 8})
        >>> p = m.encode(torch.zeros(1, 10))[0]
        >>> p.side_bits.numel(), p.channel_uses == p.symbol_uses + 4, m.decode([p]).shape
        (4, True, torch.Size([1, 10]))
    """

    name = "vlscc1d"
    Config = VLSCC1DConfig
    random_rate_warmup = True
    variable_length = True

    def __init__(self, config: VLSCC1DConfig | dict | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.ran = _mlp(c.dim, c.hidden, 1, c.ran_layers)
        self.sce = _mlp(c.dim + 1, c.hidden, 2 * c.n_symbols, c.sce_layers, c.linear_skip)
        self.scd = _mlp(2 * c.n_symbols + 1, c.hidden, c.dim, c.sce_layers, c.linear_skip)

    @property
    def side_bits_per_vector(self) -> int:
        return side_bits_per_index(self.config.levels)

    @property
    def side_channel_uses(self) -> int:
        """Channel uses of the side link per vector: ``ceil(log2 L / side_bits_per_symbol)``."""
        return int(math.ceil(self.side_bits_per_vector / self.config.side_bits_per_symbol - 1e-9))

    def rate_index(self, x: torch.Tensor) -> torch.Tensor:
        """r(x) in (0, 1), ``[B]`` (sigmoid of a logit clamped to +-6, straight-through)."""
        return torch.sigmoid(_ClampST.apply(self.ran(x), LOGIT_BOUND))[:, 0]

    def kept(self, x: torch.Tensor) -> torch.Tensor:
        """Symbols each vector sends, ``ceil(N q / (L-1))`` (int ``[B]``), without the side link."""
        x = self.check_input(x)
        with torch.no_grad():
            q = quantize_rate(self.rate_index(x), self.config.levels, mode="exact")
        return kept_symbols(q, self.config.n_symbols, self.config.levels)

    def _analyse(self, x: torch.Tensor, mode: str, rate_override: torch.Tensor | None = None):
        r = self.rate_index(x)
        if rate_override is not None:
            r = rate_override.to(r)
        y = self.sce(torch.cat([x, r.unsqueeze(1)], dim=1))
        n = self.config.n_symbols
        y = torch.complex(y[:, :n], y[:, n:])
        q = quantize_rate(r, self.config.levels, mode=mode)
        m = rate_mask(q, n, self.config.levels, mode=mode)
        return r, q, m, y

    def _synthesise(self, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return self.scd(torch.cat([p.real, p.imag, (q / (self.config.levels - 1)).unsqueeze(1)], dim=1))

    def forward(self, x: torch.Tensor, snr_db: float | torch.Tensor | None = None,
                generator: torch.Generator | None = None, random_rate: bool = False) -> dict:
        """Training pass (Eq. 2 and 5 gradients): ``{"x_hat" [B,dim], "rate" r [B] (L_r), "q",
        "spp" [B] (channel uses per source value, side link included)}``."""
        x = self.check_input(x)
        if snr_db is None:
            snr_db = self.sample_training_snr(x.shape[0], generator)
        override = None
        if random_rate:
            lv = self.config.levels
            override = torch.randint(1, lv, (x.shape[0],), generator=generator,
                                     device=generator.device if generator is not None else x.device).float() / (lv - 1)
        r, q, m, y = self._analyse(x, "ste", override)
        z = masked_power_normalize(y, m.detach()) * m
        p = jscc_channel(z, snr_db, self.config.channel, generator) * m  # zero-padding at the receiver
        side = self.side_channel_uses
        return {"x_hat": self._synthesise(p, q), "rate": r, "q": q,
                "spp": (m.detach().sum(dim=1) + side) / self.config.dim}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> list[SymbolPayload]:
        """Vectors -> payloads: the first ``ceil(N q / (L-1))`` symbols, q in ``log2 L`` side bits."""
        x = self.check_input(x)
        _, q, m, y = self._analyse(x, "exact")
        nb = self.side_bits_per_vector
        shifts = torch.arange(nb - 1, -1, -1)
        out = []
        for i in range(x.shape[0]):
            sent = y[i][m[i].bool()]
            if sent.numel():
                sent = power_normalize(sent)
            bits = ((q[i].long() >> shifts) & 1).to(torch.uint8)
            out.append(SymbolPayload(sent.to(torch.complex64), bits, 1, self.config.dim, self.config.side_bits_per_symbol))
        return out

    @torch.no_grad()
    def decode(self, payloads: list[SymbolPayload]) -> torch.Tensor:
        """Received payloads -> vectors ``[B, dim]``: q from the side bits, zero-padding to N, SCD."""
        if not payloads:
            raise InputError("decode needs at least one payload")
        n, lv = self.config.n_symbols, self.config.levels
        nb = self.side_bits_per_vector
        ps, qs = [], []
        for p in payloads:
            if p.side_bits.numel() != nb:
                raise InputError(f"side information must hold {nb} bits, got {p.side_bits.numel()}")
            q = int((p.side_bits.long() * 2 ** torch.arange(nb - 1, -1, -1)).sum())
            if q > lv - 1:
                raise InputError("side information holds a rate level above L-1")
            k = int(kept_symbols(torch.tensor(float(q)), n, lv))
            if p.symbol_uses != k:
                raise InputError(f"payload holds {p.symbol_uses} symbols but its rate index announces {k}")
            full = torch.zeros(n, dtype=torch.complex64)
            full[:k] = p.symbols.to(torch.complex64)
            ps.append(full)
            qs.append(float(q))
        return self._synthesise(torch.stack(ps), torch.tensor(qs))
