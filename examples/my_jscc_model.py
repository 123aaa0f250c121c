"""A user's learned JSCC model, registered with semcom (see docs/extending.md).

Train it and compare it with the built-in systems:

    semcom train tinyjscc --plugin examples/my_jscc_model.py --config examples/tinyjscc.json --out runs/tinyjscc
    semcom compare --plugin examples/my_jscc_model.py --systems learned:ckpt=runs/tinyjscc/tinyjscc.pt \
        deepjscc separation:codec=heif,link=capacity --cbr match:learned --snr 0:10:5
"""

import dataclasses

import torch
from torch import nn

from semcom.layers import power_normalize
from semcom.models import LearnedJSCC, SymbolPayload, jscc_channel, register_model


@dataclasses.dataclass
class TinyJSCCConfig:
    width: int = 32  # hidden channels
    channel: str = "awgn"  # training channel: awgn, rayleigh_block, rayleigh_fast
    snr_db: float = 10.0  # training SNR (or [low, high])
    snr_range_db: list = dataclasses.field(default_factory=lambda: [0.0, 20.0])  # valid SNRs


@register_model("tinyjscc")
class TinyJSCC(LearnedJSCC):
    """One complex symbol per 4x4 pixels (SPP 1/16, CBR 1/48); the SNR is given to the decoder."""

    Config = TinyJSCCConfig
    size_multiple = 4

    def __init__(self, config=None):
        super().__init__(config)
        w = self.config.width
        self.enc = nn.Sequential(nn.Conv2d(3, w, 4, 4), nn.PReLU(w), nn.Conv2d(w, 2, 1))
        self.dec = nn.Sequential(nn.Conv2d(3, w, 1), nn.PReLU(w), nn.ConvTranspose2d(w, 3, 4, 4), nn.Sigmoid())

    def _symbols(self, x):  # [B,3,H,W] -> [B, H W / 16] complex, unit power
        lat = self.enc(x)
        return power_normalize(torch.complex(lat[:, 0], lat[:, 1]).reshape(x.shape[0], -1))

    def _image(self, z, h, w, snr_db):  # received symbols (+ the SNR as a third map) -> image
        z = z.reshape(z.shape[0], h // 4, w // 4)
        snr = torch.as_tensor(snr_db, dtype=torch.float32).reshape(-1, 1, 1).expand_as(z.real) / 20
        return self.dec(torch.stack([z.real, z.imag, snr], 1))

    def forward(self, x, snr_db=None, generator=None):
        """Training: image -> symbols -> channel -> image; returns x_hat and the SPP per example."""
        x = self.check_input(x)
        snr = self.sample_training_snr(x.shape[0], generator) if snr_db is None else snr_db
        y = jscc_channel(self._symbols(x), snr, self.config.channel, generator)
        return {"x_hat": self._image(y, *x.shape[-2:], snr), "spp": torch.full((x.shape[0],), 1 / 16)}

    @torch.no_grad()
    def encode(self, x):
        x = self.check_input(x)
        empty = torch.zeros(0, dtype=torch.uint8)
        return [SymbolPayload(z.to(torch.complex64), empty, *x.shape[-2:]) for z in self._symbols(x)]

    @torch.no_grad()
    def decode(self, payloads, snr_db=10.0):  # semcom passes the channel's SNR when decode takes it
        h, w = payloads[0].height, payloads[0].width
        return self._image(torch.stack([p.symbols for p in payloads]), h, w, snr_db)
