"""LSCI semantic slice models (SeSM): channel-coding slices (Sec. III-C) and enhancement slices (Sec. III-B).

Channel-coding slice (:class:`ChannelSlice`, Table III narrowed, Fig. 5), trained with the base
model frozen. With ``layers = K`` transmissions per image and layered feedback (DeepJSCC-F style):

    y_1 = Ce_1(w^q)                       z_1 = h y_1 + n          (Eq. 21)
    y_k = Ce_k(cat[w^q, z_{k-1}])         z_k = h y_k + n          (Eq. 22: received signal fed back)
    w_hat = Cd(cat[z_1, ..., z_K])        x' = G(w_hat)

Each ``y_k`` is ``symbols`` complex values per latent position (the last encoder layer has
``2 * symbols`` channels: that number sets the coding rate), power-normalised to unit average
power per image. The channel is :func:`semcom.models.deepjscc.jscc_channel` (AWGN, or block
Rayleigh with one coefficient per image, perfect CSI, zero-forcing). The feedback link is taken
as noiseless and is not counted in the forward channel uses (as in DeepJSCC-F's noiseless-feedback
case). Loss (Eq. 23): ``||w^q - w_hat||^2 + gamma * d(x, G(w_hat))``, gamma = 0.01.

Enhancement slice (:class:`EnhancementSlice`, Fig. 4): residual ``r = x - x'`` (Eq. 15), semantic
mask ``M`` from the selfie segmenter run on ``x'`` (Eq. 16, so the receiver can rebuild it and it
is not sent), average pooling by ``pool`` and JPEG2000 of ``(M r + 1) / 2`` (Eq. 17), at the
receiver upsampling and the DenseNet-style super-resolution model :class:`SRNet` (Table II
narrowed, Eq. 18-19), ``x'_e = x' + M rc'`` (Eq. 20).

Example:
    >>> import torch
    >>> cs = ChannelSlice({"latent_channels": 4, "symbols": 2, "hidden": [8, 8, 8]})
    >>> w_hat, uses = cs(torch.randn(2, 4, 3, 3), 10.0, generator=torch.Generator().manual_seed(0))
    >>> w_hat.shape, uses
    (torch.Size([2, 4, 3, 3]), 36)
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from semcom.errors import ConfigError, InputError
from semcom.utils import check_finite, from_dict

GAMMA = 0.01


def _convs(cin: int, hidden: Sequence[int], cout: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Conv2d(cin, h, 3, padding=1), nn.PReLU(h)]
        cin = h
    layers.append(nn.Conv2d(cin, cout, 3, padding=1))
    return nn.Sequential(*layers)


@dataclasses.dataclass
class ChannelSliceConfig:
    """latent_channels: C of the base model; symbols: complex symbols per latent position per
    transmission (last layer has 2*symbols channels); layers: transmissions with feedback;
    hidden: encoder/decoder widths (paper: 64, 128, 64); channel: awgn | rayleigh;
    snr_range_db: training SNR range; base_version: SHA-256 of the base model it was trained on."""

    latent_channels: int = 16
    symbols: int = 4
    layers: int = 2
    hidden: Sequence[int] = (32, 64, 32)
    channel: str = "awgn"
    snr_range_db: Sequence[float] = (0.0, 15.0)
    base_version: str = ""

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        self.snr_range_db = tuple(float(s) for s in self.snr_range_db)
        if self.latent_channels < 1 or self.symbols < 1 or not 1 <= self.layers <= 4:
            raise ConfigError("latent_channels >= 1, symbols >= 1 and 1 <= layers <= 4 are required")
        if self.channel not in ("awgn", "rayleigh"):
            raise ConfigError(f"channel must be awgn or rayleigh, got {self.channel!r}")
        if len(self.snr_range_db) != 2 or self.snr_range_db[0] > self.snr_range_db[1]:
            raise ConfigError("snr_range_db must be [low, high]")


class ChannelSlice(nn.Module):
    """Channel-coding slice model: ``forward(wq, snr_db, generator) -> (w_hat, channel uses per image)``."""

    kind = "lsci_channel_slice"

    def __init__(self, config: ChannelSliceConfig | dict | None = None) -> None:
        super().__init__()
        c = config if isinstance(config, ChannelSliceConfig) else from_dict(ChannelSliceConfig, config or {})
        self.config = c
        two_s = 2 * c.symbols
        self.encoders = nn.ModuleList(
            _convs(c.latent_channels + (two_s if k else 0), c.hidden, two_s) for k in range(c.layers))
        self.decoder = _convs(two_s * c.layers, tuple(reversed(c.hidden)), c.latent_channels)

    def uses(self, h: int, w: int) -> int:
        """Forward channel uses (complex symbols) per image with an ``h x w`` latent."""
        return self.config.layers * self.config.symbols * h * w

    def _send(self, a: torch.Tensor, snr: torch.Tensor, generator) -> torch.Tensor:
        from semcom.channel import power_normalize
        from semcom.models.deepjscc import jscc_channel

        b, two_s, h, w = a.shape
        s = two_s // 2
        z = torch.complex(a[:, :s].reshape(b, -1), a[:, s:].reshape(b, -1))
        z = power_normalize(z, dim=-1)
        r = jscc_channel(z, snr, self.config.channel, generator=generator)
        return torch.cat([r.real.reshape(b, s, h, w), r.imag.reshape(b, s, h, w)], dim=1)

    def forward(self, wq: torch.Tensor, snr_db: float | torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, int]:
        if not isinstance(wq, torch.Tensor) or wq.dim() != 4 or wq.shape[1] != self.config.latent_channels:
            raise InputError(f"wq must be [B, {self.config.latent_channels}, h, w], got {getattr(wq, 'shape', wq)}")
        check_finite(wq, "wq")
        snr = torch.as_tensor(snr_db, dtype=torch.float32)
        check_finite(snr, "snr_db")
        snr = snr.expand(wq.shape[0]) if snr.dim() == 0 else snr
        received, fb = [], None
        for enc in self.encoders:
            inp = wq if fb is None else torch.cat([wq, fb], dim=1)
            fb = self._send(enc(inp), snr, generator)
            received.append(fb)
        return self.decoder(torch.cat(received, dim=1)), self.uses(*wq.shape[-2:])


def channel_slice_loss(w_hat, wq, x, generator_net, size, gamma: float = GAMMA) -> tuple[torch.Tensor, dict]:
    """Eq. 23: ``MSE(w^q, w_hat) + gamma * d(x, G(w_hat))`` with ``G`` frozen (gradients flow through)."""
    from semcom.models.lsci import distortion

    lw = F.mse_loss(w_hat, wq)
    x_hat = generator_net(w_hat)[..., : size[0], : size[1]] + 0.5
    d, t = distortion(x_hat, x)
    return lw + gamma * d, {"latent_mse": float(lw.detach()), "mse": t["mse"]}


# --------------------------------------------------------------------------- enhancement
class SRNet(nn.Module):
    """DenseNet-style super-resolution of the upsampled residual (Table II, narrowed by ``width``).

    Nine 3x3 convolutions: the outputs of layers 1-3 are concatenated into layer 4, those of
    layers 4-6 into layer 7 (feature reuse), then 8 and 9; the net predicts a correction added to
    its input (global skip). Input/output ``[B, 3, H, W]`` residuals in [-1, 1].
    """

    kind = "lsci_sr"

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = int(width)
        if w < 1:
            raise ConfigError("width must be >= 1")
        self.width = w
        c = lambda i, o: nn.Conv2d(i, o, 3, padding=1)  # noqa: E731
        self.l1, self.l2, self.l3 = c(3, w), c(w, w), c(w, w)
        self.l4, self.l5, self.l6 = c(3 * w, 2 * w), c(2 * w, 2 * w), c(2 * w, 2 * w)
        self.l7, self.l8, self.l9 = c(6 * w, 4 * w), c(4 * w, 2 * w), c(2 * w, 3)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        a = F.relu
        f1 = a(self.l1(r))
        f2 = a(self.l2(f1))
        f3 = a(self.l3(f2))
        f4 = a(self.l4(torch.cat([f1, f2, f3], 1)))
        f5 = a(self.l5(f4))
        f6 = a(self.l6(f5))
        f7 = a(self.l7(torch.cat([f4, f5, f6], 1)))
        return r + self.l9(a(self.l8(f7)))


def selfie_mask(image: torch.Tensor, region: str = "foreground") -> torch.Tensor:
    """Person mask ``[1, 1, H, W]`` in {0, 1} of mediapipe's selfie segmenter (0.10.21, offline).

    ``region="foreground"``: the person (probability > 0.5); ``"background"``: the rest; ``"all"``: ones.
    """
    if region not in ("foreground", "background", "all"):
        raise InputError(f"region must be foreground, background or all, got {region!r}")
    from semcom.utils import check_image

    x = check_image(image)
    if region == "all":
        return torch.ones(1, 1, *x.shape[-2:])
    prob = segment_person(x)
    m = (prob > 0.5).float()
    return m if region == "foreground" else 1 - m


def segment_person(image: torch.Tensor) -> torch.Tensor:
    """Person probability ``[1, 1, H, W]`` of mediapipe's selfie segmentation (model 1, landscape)."""
    import numpy as np

    from semcom.utils import check_image

    x = check_image(image)
    if x.shape[0] != 1:
        raise InputError("segment one image at a time")
    try:
        import mediapipe as mp
    except ImportError as exc:  # pragma: no cover - set-up installs it
        raise ConfigError(f"the selfie segmenter needs mediapipe 0.10.21: {exc}") from None
    rgb = (x[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1) as seg:
        res = seg.process(np.ascontiguousarray(rgb))
    if res.segmentation_mask is None:
        return torch.zeros(1, 1, *x.shape[-2:])
    return torch.from_numpy(np.array(res.segmentation_mask, dtype=np.float32))[None, None]


class EnhancementSlice:
    """One enhancement slice: pooling factor, JPEG2000 rate and the SR model that matches them.

    ``encode(x, x_base, mask)`` -> JPEG2000 bytes of the pooled masked residual;
    ``decode(data, x_base, mask)`` -> the enhanced image ``x' + M rc'``.
    """

    def __init__(self, sr: SRNet | None, pool: int = 2, bpp: float = 0.5) -> None:
        if pool not in (1, 2, 4, 8) or not bpp > 0:
            raise ConfigError("pool must be 1, 2, 4 or 8 and bpp > 0")
        self.sr, self.pool, self.bpp = sr, int(pool), float(bpp)

    def encode(self, x: torch.Tensor, x_base: torch.Tensor, mask: torch.Tensor) -> bytes:
        from semcom.codecs import get_codec

        r = (x - x_base) * mask
        small = F.avg_pool2d(r, self.pool) if self.pool > 1 else r
        return get_codec("jpeg2000").encode(((small + 1) / 2).clamp(0, 1), bpp=self.bpp * self.pool ** 2)

    @torch.no_grad()
    def decode(self, data: bytes, x_base: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        from semcom.codecs import get_codec

        small = get_codec("jpeg2000").decode(data) * 2 - 1
        up = F.interpolate(small, size=x_base.shape[-2:], mode="bilinear", align_corners=False)
        rc = self.sr(up) if self.sr is not None else up
        return (x_base + mask * rc).clamp(0, 1)


__all__ = ["ChannelSlice", "ChannelSliceConfig", "channel_slice_loss", "SRNet", "EnhancementSlice",
           "selfie_mask", "segment_person", "GAMMA"]
