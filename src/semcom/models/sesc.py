"""SE-SC: the scalable semantic codec of scalable-extraction semantic communication.

Fu, Cheng, Zhang, Wang, "Scalable Extraction Based Semantic Communication for 6G Wireless
Networks" (Sec. II-IV, Table I, first "scalable semantic codec" row). A masked-transformer
(MAE-style) joint source-channel codec: the image is cut into ``p x p`` patches (the semantic
features ``x_1 .. x_l``); a subset is kept (the features of interest); only the kept tokens go
through the transformer encoder, are mapped to complex symbols, power-normalised and sent over
the channel; the binary sequence flagging the unsent patches travels over the digital link (see
:mod:`semcom.semantics.sesc`). The decoder puts the received tokens back at their positions,
fills every unsent position with one learned shared vector (the paper's "basic knowledge"), runs
a transformer over the full sequence and maps each token back to pixels with a fully connected
head.

    image [B,3,H,W] -> patches [B,N,3p^2] -> linear -> + pos -> keep K of N (mask)
        -> transformer encoder (K tokens only) -> LN -> linear -> [B,K,S] complex
        -> power normalise over the K S symbols of each image -> channel (AWGN / block Rayleigh)
        -> linear -> scatter into [B,N,D'] filled with the learned shared vector -> + pos
        -> transformer decoder -> LN -> linear (FC head) -> sigmoid -> image [B,3,H,W]

Positions use fixed 2-D sine-cosine embeddings (as MAE), computed for the image's grid, so any
``H, W`` multiple of ``p`` runs. ``S = symbols_per_patch`` complex symbols per sent patch:
full-feature transmission costs ``N S`` symbols (``SPP = S / p^2``), a mask of ``K`` patches
``K S`` symbols plus the mask code's channel uses.

Training draws a random keep ratio per batch (uniform in ``keep_range``) and a random subset per
image, so that any subset decodes; the SNR per image is drawn from ``snr_db`` when it is a range.

Relation to the paper's MAE: MAE ViT-Base uses patch 16, width 768, 12 encoder layers (12 heads)
and a decoder of 8 layers of width 512 (about 110 M parameters). The CPU config here
(``configs/sesc.json``) uses patch 8, width 128, 4 encoder / 2 decoder layers (about 1 M
parameters); ``configs/sesc_base.json`` is the ViT-Base-sized config for a GPU.

Example:
    >>> import torch
    >>> from semcom.models.sesc import SESC
    >>> m = SESC({"dim": 32, "enc_layers": 1, "dec_layers": 1, "heads": 2, "dec_dim": 32})
    >>> x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> keep = torch.zeros(1, 16, dtype=torch.bool); keep[0, :6] = True
    >>> p = m.encode(x, keep)[0]
    >>> p.symbol_uses, p.side_channel_uses <= 16 + 2
    (96, True)
    >>> m.decode([p]).shape
    torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from semcom.errors import ConfigError, InputError
from semcom.layers import masked_power_normalize
from semcom.models.deepjscc import CHANNELS, LearnedJSCC, SymbolPayload

EQUALIZERS = ("zf", "mmse")
CSI = ("perfect", "estimated", "none")


@dataclasses.dataclass
class SESCConfig:
    """SE-SC hyper-parameters.

    patch_size: p, patch side in pixels. dim / enc_layers / heads / mlp_ratio: encoder width, depth,
    attention heads and MLP width ratio. dec_dim / dec_layers / dec_heads: decoder width, depth, heads.
    symbols_per_patch: S complex channel symbols per sent patch.
    keep_range: [low, high] of the random keep ratio drawn per training batch.
    channel: "awgn" or "rayleigh" (slow block fading, one coefficient per image).
    csi / csi_error_var / equalizer: receiver CSI ("perfect", "estimated", "none") and equaliser
    ("zf", "mmse") of the Rayleigh channel (:class:`semcom.channel.RayleighBlockChannel`).
    snr_db: training SNR (dB), a number or [low, high] (uniform per image).
    snr_range_db: SNRs the model is declared valid for.
    side_bits_per_symbol: spectral efficiency of the digital link carrying the mask code, used to
    count its channel uses (1.0: QPSK rate 1/2, the convention of :class:`SymbolPayload`).
    tile: attention tile side in pixels (a multiple of ``patch_size``; 0: the whole image). With a
    tile, tokens attend only to tokens of their own ``tile x tile`` block and positions are counted
    within the block, so a model trained on crops of that size sees the same geometry on a larger
    image (sine-cosine positions beyond the training grid were measured to cost 5 dB PSNR).
    Inference-only: it can be changed after training.
    """

    patch_size: int = 8
    dim: int = 128
    enc_layers: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    dec_dim: int = 128
    dec_layers: int = 2
    dec_heads: int = 4
    symbols_per_patch: int = 16
    keep_range: list = dataclasses.field(default_factory=lambda: [0.1, 1.0])
    channel: str = "rayleigh"
    csi: str = "perfect"
    csi_error_var: float = 0.0
    equalizer: str = "mmse"
    snr_db: float | list = dataclasses.field(default_factory=lambda: [0.0, 20.0])
    snr_range_db: list = dataclasses.field(default_factory=lambda: [0.0, 20.0])
    side_bits_per_symbol: float = 1.0
    tile: int = 0

    def __post_init__(self) -> None:
        for k in ("patch_size", "dim", "enc_layers", "heads", "dec_dim", "dec_layers", "dec_heads", "symbols_per_patch"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{k} must be a positive int, got {v!r}")
        if self.dim % self.heads or self.dec_dim % self.dec_heads:
            raise ConfigError("dim must be a multiple of heads and dec_dim of dec_heads")
        if self.dim % 4 or self.dec_dim % 4:
            raise ConfigError("dim and dec_dim must be multiples of 4 (2-D sine-cosine positions)")
        lo, hi = self.keep_range
        if not 0 < lo <= hi <= 1:
            raise ConfigError(f"keep_range must satisfy 0 < low <= high <= 1, got {self.keep_range}")
        if self.csi not in CSI or self.equalizer not in EQUALIZERS:
            raise ConfigError(f"csi must be one of {CSI} and equalizer one of {EQUALIZERS}")
        if isinstance(self.tile, bool) or not isinstance(self.tile, int) or self.tile < 0 or self.tile % self.patch_size:
            raise ConfigError(f"tile must be 0 or a positive multiple of patch_size, got {self.tile!r}")
        if not self.mlp_ratio > 0 or not self.side_bits_per_symbol > 0:
            raise ConfigError("mlp_ratio and side_bits_per_symbol must be positive")


def sincos_2d(gh: int, gw: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings ``[gh*gw, dim]`` (raster order), as in MAE:
    half the channels encode the row, half the column, each with sin/cos at geometric frequencies."""
    q = dim // 4
    omega = 1.0 / (10000 ** (torch.arange(q, dtype=torch.float32) / q))
    ys, xs = torch.meshgrid(torch.arange(gh, dtype=torch.float32), torch.arange(gw, dtype=torch.float32), indexing="ij")

    def enc(pos: torch.Tensor) -> torch.Tensor:
        a = pos.reshape(-1, 1) * omega.reshape(1, -1)
        return torch.cat([a.sin(), a.cos()], dim=1)

    return torch.cat([enc(ys), enc(xs)], dim=1)


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """``[B,3,H,W] -> [B, N, 3 p^2]``, patches in raster order, each flattened (c, i, j)."""
    b, c, h, w = x.shape
    t = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return t.reshape(b, (h // p) * (w // p), c * p * p)


def unpatchify(t: torch.Tensor, p: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``[B, N, 3 p^2] -> [B,3,H,W]``."""
    b = t.shape[0]
    x = t.reshape(b, h // p, w // p, 3, p, p).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, 3, h, w)


def _blocks(dim: int, layers: int, heads: int, ratio: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(dim, heads, int(dim * ratio), dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class SESC(LearnedJSCC):
    """The masked-transformer scalable semantic codec (see the module docstring)."""

    name = "sesc"
    Config = SESCConfig

    def __init__(self, config: SESCConfig | dict | None = None) -> None:
        super().__init__(config)
        c = self.config
        p, s = c.patch_size, c.symbols_per_patch
        self.size_multiple = p
        self.embed = nn.Linear(3 * p * p, c.dim)
        self.encoder = _blocks(c.dim, c.enc_layers, c.heads, c.mlp_ratio)
        self.enc_norm = nn.LayerNorm(c.dim)
        self.to_channel = nn.Linear(c.dim, 2 * s)
        self.from_channel = nn.Linear(2 * s, c.dec_dim)
        self.shared = nn.Parameter(torch.zeros(c.dec_dim))  # the learned shared vector ("basic knowledge")
        nn.init.normal_(self.shared, std=0.02)
        self.decoder = _blocks(c.dec_dim, c.dec_layers, c.dec_heads, c.mlp_ratio)
        self.dec_norm = nn.LayerNorm(c.dec_dim)
        self.head = nn.Linear(c.dec_dim, 3 * p * p)

    # -- geometry
    def grid(self, h: int, w: int) -> tuple[int, int]:
        """Patch grid ``(H/p, W/p)`` of an image."""
        p = self.config.patch_size
        return h // p, w // p

    def n_patches(self, h: int, w: int) -> int:
        gh, gw = self.grid(h, w)
        return gh * gw

    @property
    def spp_full(self) -> float:
        """Analog symbols per pixel of full-feature transmission, ``S / p^2``."""
        return self.config.symbols_per_patch / self.config.patch_size ** 2

    # -- pieces
    def layout(self, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per patch (raster order): its row and column inside its attention tile ``[N, 2]`` and its
        tile id ``[N]`` (one tile covering the image when ``tile == 0``)."""
        gh, gw = self.grid(h, w)
        t = self.config.tile // self.config.patch_size if self.config.tile else max(gh, gw)
        r, c = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
        pos = torch.stack([r % t, c % t], -1).reshape(-1, 2)
        tid = ((r // t) * ((gw + t - 1) // t) + c // t).reshape(-1)
        return pos, tid

    def _pos(self, h: int, w: int, dim: int, device: torch.device) -> torch.Tensor:
        pos, _ = self.layout(h, w)
        gh, gw = self.grid(h, w)
        table = sincos_2d(gh, gw, dim)
        return table[pos[:, 0] * gw + pos[:, 1]].to(device)

    def _attn_mask(self, tid: torch.Tensor, heads: int) -> torch.Tensor | None:
        """Block mask (True: may not attend) keeping attention inside each tile; ``tid [B, K]``."""
        if not self.config.tile or bool((tid == tid[:, :1]).all()):
            return None
        m = tid[:, :, None] != tid[:, None, :]
        return m.repeat_interleave(heads, dim=0)

    def embed_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Patch embeddings with positions ``[B, N, dim]`` (before masking); also the feature space
        the entropy weight model reads."""
        h, w = x.shape[-2:]
        return self.embed(patchify(x, self.config.patch_size)) + self._pos(h, w, self.config.dim, x.device)

    def _encode_tokens(self, tokens: torch.Tensor, tid: torch.Tensor | None = None) -> torch.Tensor:
        """Kept tokens ``[B, K, dim]`` (tile ids ``tid [B, K]``) -> un-normalised complex symbols ``[B, K, S]``."""
        mask = None if tid is None else self._attn_mask(tid, self.config.heads)
        r = self.to_channel(self.enc_norm(self.encoder(tokens, mask=mask)))
        s = self.config.symbols_per_patch
        return torch.complex(r[..., :s], r[..., s:])

    def _symbols(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Images ``[B,3,H,W]`` and kept patch indices ``idx [B, K]`` (raster order) -> un-normalised
        complex symbols ``[B, K, S]``; only the kept patches reach the encoder."""
        h, w = x.shape[-2:]
        tok = self.embed_patches(x)
        kept = tok.gather(1, idx.unsqueeze(-1).expand(-1, -1, tok.shape[-1]))
        return self._encode_tokens(kept, self.layout(h, w)[1].to(x.device)[idx])

    def _decode_tokens(self, y: torch.Tensor, idx: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
        """Received symbols ``[B, K, S]`` at patch indices ``idx [B, K]`` -> image ``[B,3,H,W]``."""
        b = y.shape[0]
        c = self.config
        t = self.from_channel(torch.cat([y.real, y.imag], dim=-1))
        full = self.shared.expand(b, n, c.dec_dim).clone()
        full = full.scatter(1, idx.unsqueeze(-1).expand(-1, -1, c.dec_dim), t)
        full = full + self._pos(h, w, c.dec_dim, y.device)
        mask = self._attn_mask(self.layout(h, w)[1].unsqueeze(0).to(y.device), 1)
        out = torch.sigmoid(self.head(self.dec_norm(self.decoder(full, mask=None if mask is None else mask[0]))))
        return unpatchify(out, c.patch_size, h, w)

    def channel_module(self, channel: str | None = None, csi: str | None = None, csi_error_var: float | None = None) -> nn.Module:
        """The analog channel of :mod:`semcom.channel` for ``channel`` (default: the trained one), with
        the receiver's CSI (default: ``config.csi``) and the configured equaliser on fading channels."""
        from semcom.channel import canonical_channel, make_channel

        ch = channel or self.config.channel
        if ch not in CHANNELS:
            raise InputError(f"channel must be one of {CHANNELS}, got {ch!r}")
        name = canonical_channel(ch)
        if name == "awgn":
            return make_channel("awgn")
        c = self.config
        csi = csi or c.csi
        var = (c.csi_error_var if csi_error_var is None else float(csi_error_var)) if csi == "estimated" else 0.0
        return make_channel(name, csi=csi, csi_error_var=var, equalizer=c.equalizer)

    # -- training
    def random_keep(self, b: int, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """Random kept patch indices ``[B, K]`` (sorted), one ratio per batch from ``keep_range``."""
        lo, hi = self.config.keep_range
        ratio = lo + (hi - lo) * float(torch.rand(1, generator=generator))
        k = max(1, min(n, int(round(ratio * n))))
        noise = torch.rand(b, n, generator=generator)
        return noise.argsort(dim=1)[:, :k].sort(dim=1).values

    def forward(self, x: torch.Tensor, snr_db: float | torch.Tensor | None = None,
                generator: torch.Generator | None = None, keep: torch.Tensor | None = None) -> dict:
        """Training pass with a random (or given) subset of patches.

        Args:
            x: ``[B,3,H,W]`` in [0,1], H and W multiples of ``patch_size``.
            snr_db: float or ``[B]``; default: drawn from ``config.snr_db``.
            generator: draws the keep ratio, the subsets and the channel noise.
            keep: optional kept patch indices ``[B, K]`` (the same K for every image).

        Returns ``{"x_hat", "spp" [B] (analog symbols per pixel), "rate": None, "keep": [B, K]}``.
        """
        x = self.check_input(x)
        b, _, h, w = x.shape
        n = self.n_patches(h, w)
        if snr_db is None:
            snr_db = self.sample_training_snr(b, generator)
        idx = self.random_keep(b, n, generator) if keep is None else keep.to(x.device)
        z = self._symbols(x, idx)
        z = masked_power_normalize(z, torch.ones(z.shape, device=z.device))
        snr = torch.as_tensor(snr_db, dtype=torch.float32).reshape(-1).expand(b).to(x.device)
        y = self.channel_module()(z.reshape(b, -1), snr, generator=generator).reshape(z.shape)
        x_hat = self._decode_tokens(y, idx, n, h, w)
        spp = torch.full((b,), idx.shape[1] * self.config.symbols_per_patch / (h * w))
        return {"x_hat": x_hat, "spp": spp, "rate": None, "keep": idx}

    # -- what crosses the channel
    def _check_keep(self, keep: torch.Tensor | None, b: int, n: int) -> torch.Tensor:
        if keep is None:
            return torch.ones(b, n, dtype=torch.bool)
        if not isinstance(keep, torch.Tensor) or keep.dtype != torch.bool:
            raise InputError("keep must be a bool tensor [B, N] (True: the patch is sent)")
        if keep.dim() == 1:
            keep = keep.unsqueeze(0)
        if tuple(keep.shape) != (b, n):
            raise InputError(f"keep must be shaped [{b}, {n}] (one flag per patch), got {tuple(keep.shape)}")
        if not bool(keep.any(dim=1).all()):
            raise InputError("every image must send at least one patch")
        return keep.cpu()

    @torch.no_grad()
    def encode(self, image: torch.Tensor, keep: torch.Tensor | None = None) -> list[SymbolPayload]:
        """Images ``[B,3,H,W]`` and kept flags ``keep [B, N]`` (None: all, full-feature transmission)
        -> one :class:`SymbolPayload` per image: ``K S`` complex symbols (unit mean power, kept
        patches in raster order) and the coded mask as side bits
        (:func:`semcom.semantics.sesc.encode_mask`)."""
        from semcom.semantics.sesc import encode_mask

        image = self.check_input(image)
        b, _, h, w = image.shape
        n = self.n_patches(h, w)
        keep = self._check_keep(keep, b, n)
        out = []
        for i in range(b):
            idx = keep[i].nonzero().squeeze(1).to(image.device)
            z = self._symbols(image[i:i + 1], idx.unsqueeze(0)).reshape(-1)
            z = masked_power_normalize(z.unsqueeze(0), torch.ones(1, z.numel(), device=z.device))[0]
            bits = torch.as_tensor(encode_mask(keep[i].numpy()), dtype=torch.uint8)
            out.append(SymbolPayload(z.to(torch.complex64).cpu(), bits, h, w, self.config.side_bits_per_symbol))
        return out

    @torch.no_grad()
    def decode(self, payloads: list[SymbolPayload]) -> torch.Tensor:
        """Received payloads (same image size) -> images ``[B,3,H,W]``. The mask is decoded from the
        side bits (a corrupt code raises :class:`semcom.errors.CodecError`); the symbol count must be
        ``K S`` for the ``K`` flagged patches (else :class:`InputError`)."""
        from semcom.semantics.sesc import decode_mask

        if not payloads:
            raise InputError("decode needs at least one payload")
        h, w = payloads[0].height, payloads[0].width
        p = self.config.patch_size
        if h % p or w % p or h < p or w < p:
            raise InputError(f"payload image size {h}x{w} is not a multiple of the patch size {p}")
        n, s = self.n_patches(h, w), self.config.symbols_per_patch
        dev = next(self.parameters()).device
        outs = []
        for pl in payloads:
            if (pl.height, pl.width) != (h, w):
                raise InputError("all payloads of one decode call must have the same image size")
            keep = torch.as_tensor(decode_mask(pl.side_bits.cpu().numpy(), n))
            k = int(keep.sum())
            if pl.symbol_uses != k * s:
                raise InputError(f"payload holds {pl.symbol_uses} symbols; its mask flags {k} patches x {s}")
            y = pl.symbols.to(dev).reshape(1, k, s)
            if not bool(torch.isfinite(torch.view_as_real(y)).all()):
                raise InputError("received symbols contain NaN or Inf")
            idx = keep.nonzero().squeeze(1).unsqueeze(0).to(dev)
            outs.append(self._decode_tokens(y, idx, n, h, w))
        return torch.cat(outs)

    @torch.no_grad()
    def transmit(self, image: torch.Tensor, snr_db: float, *, seed: int | torch.Generator | None = 0,
                 channel: str | None = None, strict: bool = False, csi: str | None = None,
                 csi_error_var: float | None = None, keep: torch.Tensor | None = None):
        """Send one image over the analog channel with the kept flags ``keep [1, N]`` (None: all).

        The symbols go through :meth:`channel_module` (block fading: one coefficient for the image;
        ``csi`` defaults to the configured one); the mask code travels over the error-free side link
        and is counted in ``channel_uses``. Returns the bench's outcome
        (:class:`semcom.models.deepjscc.JSCCOutcome`, ``extras["payload"]`` is what was sent)."""
        from semcom.models.deepjscc import JSCCOutcome
        from semcom.utils import make_generator

        image = self.check_input(image)
        if image.shape[0] != 1:
            raise InputError("transmit takes one image at a time ([1,3,H,W])")
        snr, extrapolated = self.check_snr(snr_db, strict)
        gen = make_generator(seed)
        was = self.training
        self.eval()
        try:
            payload = self.encode(image, keep)[0]
            rx = self.channel_module(channel, csi, csi_error_var)(payload.symbols.unsqueeze(0), snr, generator=gen)[0]
            x_hat = self.decode([payload.received(rx)])
        finally:
            self.train(was)
        return JSCCOutcome(x_hat, "ok", payload.channel_uses, payload.channel_uses,
                           side_info_bits=int(payload.side_bits.numel()),
                           extras={"snr_db": snr, "extrapolated": extrapolated, "payload": payload,
                                   "patches_sent": payload.symbol_uses // self.config.symbols_per_patch})


def sesc_summary(model: SESC) -> dict[str, Any]:
    """Size facts of a model (for docs and metadata): parameters and full-feature SPP."""
    return {"parameters": model.num_parameters(), "spp_full": model.spp_full,
            "patch_size": model.config.patch_size, "symbols_per_patch": model.config.symbols_per_patch,
            "mac_per_token_estimate": int(12 * model.config.dim ** 2 * model.config.enc_layers)}


__all__ = ["SESC", "SESCConfig", "sincos_2d", "patchify", "unpatchify", "sesc_summary"]

