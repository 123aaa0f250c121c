"""SNR-adaptive DeepJSCC with attention feature modules (ADJSCC).

Xu, Ai, Chen, Wu, Chen, "Wireless Image Transmission Using Deep Source Channel Coding With
Attention Modules", IEEE TCSVT 2022. DeepJSCC (:class:`semcom.models.DeepJSCC`) trained at one
SNR is best at that SNR only; ADJSCC gives the encoder and the decoder the channel SNR and lets
them rescale their feature maps with it, so that one model trained over an SNR range serves the
whole range. After each of the first four conv + GDN stages of the encoder and of the decoder, an
attention feature (AF) module computes per-channel factors from the feature map and the SNR:

    f [B,C,H,W] -> global average pool [B,C] -> concat SNR/10 [B,C+1] -> FC (C+1 -> h) -> ReLU
        -> FC (h -> C) -> sigmoid -> s [B,C];   f_out = f * s  (broadcast over H, W)

The transmitter knows the SNR (as in the paper: the receiver feeds it back), so
``encode`` and ``decode`` both take ``snr_db``; ``transmit`` passes it. Training draws the SNR
per example uniformly in ``snr_db = [low, high]`` (default -2 to 20 dB) with the trainer of
:mod:`semcom.training` (:meth:`LearnedJSCC.sample_training_snr`).

Choices of this implementation (the paper does not fix them for our sizes): the SNR enters the
AF module as ``snr_db / 10`` (the pooled features are of order 1), and the hidden width ``h`` is
``af_hidden`` (default ``max(8, C // 4)``).

Example:
    >>> import torch
    >>> from semcom.models import ADJSCC
    >>> m = ADJSCC({"hidden_channels": 8, "latent_channels": 4})
    >>> x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> out = m.transmit(x, snr_db=3.0, seed=0)
    >>> out.image.shape, out.channel_uses
    (torch.Size([1, 3, 32, 32]), 128)
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from semcom.errors import ConfigError, InputError
from semcom.layers import power_normalize
from semcom.models.deepjscc import DeepJSCC, DeepJSCCConfig, SymbolPayload, _validate_snr, jscc_channel

#: the SNR (dB) is divided by this before it enters an AF module
SNR_SCALE_DB = 10.0
#: conv + activation stages followed by an AF module, in the encoder and in the decoder
AF_STAGES = 4


class AttentionFeature(nn.Module):
    """One AF module: channel-wise factors in (0, 1) from the pooled features and the SNR.

    Inputs ``x [B, C, H, W]`` and ``snr_db [B]`` (dB); output ``x * s`` of the same shape.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels + 1, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3))
        ctx = torch.cat([pooled, (snr_db.to(pooled.device, pooled.dtype) / SNR_SCALE_DB).unsqueeze(1)], dim=1)
        return x * self.fc(ctx).to(x.dtype)[:, :, None, None]


@dataclasses.dataclass
class ADJSCCConfig(DeepJSCCConfig):
    """ADJSCC hyper-parameters: those of :class:`DeepJSCCConfig` (SPP = ``latent_channels / 32``),
    the training SNR range (``snr_db = [low, high]``, drawn per example; a number trains at one
    SNR), the declared range ``snr_range_db`` and ``af_hidden`` (hidden width of the AF modules;
    0: ``max(8, hidden_channels // 4)``)."""

    snr_db: float | list = dataclasses.field(default_factory=lambda: [-2.0, 20.0])
    snr_range_db: list = dataclasses.field(default_factory=lambda: [-2.0, 20.0])
    af_hidden: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.af_hidden, bool) or not isinstance(self.af_hidden, int) or self.af_hidden < 0:
            raise ConfigError(f"af_hidden must be an int >= 0, got {self.af_hidden!r}")


class ADJSCC(DeepJSCC):
    """DeepJSCC with SNR attention modules (ADJSCC); see the module docstring."""

    name = "adjscc"
    Config = ADJSCCConfig

    def __init__(self, config: ADJSCCConfig | dict | None = None) -> None:
        super().__init__(config)
        c = self.config
        hidden = c.af_hidden or max(8, c.hidden_channels // 4)
        h, f = c.hidden_channels, c.first_channels or c.hidden_channels
        self.encoder_af = nn.ModuleList(AttentionFeature(ch, hidden) for ch in (f, h, h, h))
        self.decoder_af = nn.ModuleList(AttentionFeature(ch, hidden) for ch in (h, h, h, f))

    @staticmethod
    def _run(seq: nn.Sequential, afs: nn.ModuleList, x: torch.Tensor, snr: torch.Tensor) -> torch.Tensor:
        layers = list(seq)
        for i, af in enumerate(afs):  # (conv, activation) pairs, each followed by an AF module
            x = af(layers[2 * i + 1](layers[2 * i](x)), snr)
        for layer in layers[2 * len(afs):]:
            x = layer(x)
        return x

    def _snr_vector(self, snr_db, batch: int, device: torch.device) -> torch.Tensor:
        if snr_db is None:  # the noiseless channel: the top of the trained range
            snr_db = float(self.config.snr_range_db[1])
        if isinstance(snr_db, torch.Tensor) and snr_db.dim() == 1:
            if snr_db.shape[0] != batch or not torch.isfinite(snr_db).all():
                raise InputError(f"snr_db must be finite with one value per example ({batch}), got {tuple(snr_db.shape)}")
            return snr_db.to(device, torch.float32)
        return torch.full((batch,), _validate_snr(snr_db), device=device)

    def forward(self, x: torch.Tensor, snr_db: float | torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> dict:
        """Training pass at ``snr_db`` (float or ``[B]``; default: drawn per example in the training range)."""
        x = self.check_input(x)
        if snr_db is None:
            snr_db = self.sample_training_snr(x.shape[0], generator)
        snr = self._snr_vector(snr_db, x.shape[0], x.device)
        latent = self._run(self.encoder, self.encoder_af, x, snr)
        hh, ww = latent.shape[-2:]
        z = power_normalize(self._to_symbols(latent))
        y = jscc_channel(z, snr, self.config.channel, generator)
        x_hat = self._run(self.decoder, self.decoder_af, self._from_symbols(y, hh, ww), snr)
        return {"x_hat": x_hat, "spp": torch.full((x.shape[0],), self.spp), "rate": None}

    @torch.no_grad()
    def encode(self, image: torch.Tensor, snr_db: float | torch.Tensor | None = None) -> list[SymbolPayload]:
        """Images ``[B,3,H,W]`` at channel SNR ``snr_db`` -> one :class:`SymbolPayload` per image."""
        image = self.check_input(image)
        snr = self._snr_vector(snr_db, image.shape[0], image.device)
        z = power_normalize(self._to_symbols(self._run(self.encoder, self.encoder_af, image, snr))).to(torch.complex64)
        h, w = image.shape[-2:]
        empty = torch.zeros(0, dtype=torch.uint8)
        return [SymbolPayload(z[i].clone(), empty, h, w) for i in range(z.shape[0])]

    @torch.no_grad()
    def decode(self, payloads: list[SymbolPayload], snr_db: float | torch.Tensor | None = None) -> torch.Tensor:
        """Received payloads (all the same size) at channel SNR ``snr_db`` -> images ``[B,3,H,W]``."""
        if not payloads:
            raise InputError("decode needs at least one payload")
        h, w = payloads[0].height, payloads[0].width
        n = self.config.latent_channels // 2 * (h // 4) * (w // 4)
        for p in payloads:
            if (p.height, p.width) != (h, w) or p.symbol_uses != n:
                raise InputError(f"payload holds {p.symbol_uses} symbols for {p.height}x{p.width}; expected {n} for {h}x{w}")
        return self.reconstruct(torch.stack([p.symbols for p in payloads]), h, w, snr_db)

    def reconstruct(self, symbols: torch.Tensor, height: int, width: int,
                    snr_db: float | torch.Tensor | None = None) -> torch.Tensor:
        """Differentiable symbols ``[B, n]`` at ``snr_db`` -> images ``[B,3,H,W]``."""
        snr = self._snr_vector(snr_db, symbols.shape[0], symbols.device)
        return self._run(self.decoder, self.decoder_af, self._from_symbols(symbols, height // 4, width // 4), snr)
