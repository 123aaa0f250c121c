"""SE-SC's second scalable semantic codec: a masked CNN (Fu et al., Table I, "masked CNN" row).

The same interface and wire format as the masked transformer (:class:`semcom.models.sesc.SESC`:
``encode(image, keep)`` -> ``K S`` complex symbols of the kept ``p x p`` patches plus the mask code,
``decode``, ``transmit``, the bench's outcome, the same mask code and accounting), with
convolutions in place of attention:

```
image [B,3,H,W] -> patch embedding (conv p x p, stride p = a linear map per patch) -> [B,D,H/p,W/p]
  -> zero the unsent patches -> masked residual 3x3 convolutions on the patch grid (after each,
     the unsent positions are zeroed again, so the features of a sent patch depend only on sent
     patches: a sparse convolution) -> 1x1 conv -> S complex symbols at each sent position
  -> power normalisation over the K S symbols -> channel
  -> linear (D') -> scatter into the grid, every unsent position = the learned shared vector
  -> residual 3x3 convolutions, dilations 1, 2, 4, ... (they fill the unsent regions from the sent
     ones) -> 1x1 conv to 3 p^2 -> the patches -> sigmoid -> image
```

Config: :class:`SESCCNNConfig` (the transformer's fields; ``dim``/``enc_layers`` are the encoder's
channels and masked conv layers, ``dec_dim``/``dec_layers`` the decoder's; ``heads``, ``mlp_ratio``
and ``tile`` are unused). Table I's claim for it is low complexity for mobile devices: at the
committed sizes it spends fewer multiply-adds per patch than the transformer and none on attention.

Example:
    >>> import torch
    >>> m = SESCCNN({"dim": 16, "dec_dim": 16, "enc_layers": 1, "dec_layers": 2}).eval()
    >>> x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> keep = torch.zeros(1, 16, dtype=torch.bool); keep[0, :6] = True
    >>> p = m.encode(x, keep)[0]
    >>> p.symbol_uses, m.decode([p]).shape
    (96, torch.Size([1, 3, 32, 32]))
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from semcom.models.deepjscc import LearnedJSCC
from semcom.models.sesc import SESC, SESCConfig, unpatchify


@dataclasses.dataclass
class SESCCNNConfig(SESCConfig):
    """:class:`SESCConfig` read for convolutions (module docstring); smaller CPU defaults."""

    dim: int = 96
    enc_layers: int = 3
    dec_dim: int = 96
    dec_layers: int = 5


class SESCCNN(SESC):
    """The masked-CNN scalable semantic codec (module docstring); registry name ``sesc_cnn``."""

    name = "sesc_cnn"
    Config = SESCCNNConfig

    def __init__(self, config: SESCCNNConfig | dict | None = None) -> None:
        LearnedJSCC.__init__(self, config)  # not SESC's: no transformer modules
        c = self.config
        p, s = c.patch_size, c.symbols_per_patch
        self.size_multiple = p
        self.patch_embed = nn.Conv2d(3, c.dim, p, stride=p)
        self.enc_convs = nn.ModuleList(nn.Conv2d(c.dim, c.dim, 3, padding=1) for _ in range(c.enc_layers))
        self.to_channel = nn.Conv2d(c.dim, 2 * s, 1)
        self.from_channel = nn.Linear(2 * s, c.dec_dim)
        self.shared = nn.Parameter(torch.zeros(c.dec_dim))  # the learned shared vector ("basic knowledge")
        nn.init.normal_(self.shared, std=0.02)
        dil = [2 ** (i % 3) for i in range(c.dec_layers)]
        self.dec_convs = nn.ModuleList(nn.Conv2d(c.dec_dim, c.dec_dim, 3, padding=d, dilation=d) for d in dil)
        self.head = nn.Conv2d(c.dec_dim, 3 * p * p, 1)
        self.act = nn.GELU()

    def embed_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Patch embeddings ``[B, N, dim]`` (raster order, before masking)."""
        return self.patch_embed(x).flatten(2).transpose(1, 2)

    def _symbols(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Masked convolutions over the sent patches only -> complex symbols ``[B, K, S]``."""
        b = x.shape[0]
        gh, gw = self.grid(*x.shape[-2:])
        m = torch.zeros(b, gh * gw, device=x.device).scatter(1, idx, 1.0).reshape(b, 1, gh, gw)
        f = self.patch_embed(x) * m
        for conv in self.enc_convs:
            f = (f + self.act(conv(f))) * m
        r = self.to_channel(f).flatten(2).transpose(1, 2)  # [B, N, 2S]
        r = r.gather(1, idx.unsqueeze(-1).expand(-1, -1, r.shape[-1]))
        s = self.config.symbols_per_patch
        return torch.complex(r[..., :s], r[..., s:])

    def _decode_tokens(self, y: torch.Tensor, idx: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
        """Received symbols ``[B, K, S]`` at ``idx [B, K]`` -> image ``[B,3,H,W]``."""
        b, c = y.shape[0], self.config
        gh, gw = self.grid(h, w)
        t = self.from_channel(torch.cat([y.real, y.imag], dim=-1))
        full = self.shared.expand(b, n, c.dec_dim).clone()
        full = full.scatter(1, idx.unsqueeze(-1).expand(-1, -1, c.dec_dim), t)
        f = full.transpose(1, 2).reshape(b, c.dec_dim, gh, gw)
        for conv in self.dec_convs:
            f = f + self.act(conv(f))
        out = torch.sigmoid(self.head(f)).flatten(2).transpose(1, 2)  # [B, N, 3 p^2], (c, i, j) per patch
        return unpatchify(out, c.patch_size, h, w)


__all__ = ["SESCCNN", "SESCCNNConfig"]
