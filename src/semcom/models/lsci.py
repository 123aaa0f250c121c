"""LSCI base model: encoder, nearest-centre quantiser, generator (Dong et al., JSAC 2022, Sec. III-A).

The base model of the layer-based semantic communication system for images (LSCI) follows the
generative compression network of Agustsson et al. (ICCV 2019), which the paper cites:

    x --E--> w --Q (nearest of L learned centres, Eq. 3-4)--> w^q --G--> x'      (Eq. 2, 6)
                     |                                  ^
                     +-- indices --(arithmetic coder)-->+   bytes on the wire

* Encoder ``E``: seven 3x3 convolutions (Table I), GDN between them. The paper's strides are
  ``(1, 2, 2, 2, 2, 2, 1)`` with features ``64, 128, 256, 512, 1024, 1024, C=4``;
  :data:`PAPER_CONFIG` is that network (for a GPU). The committed CPU model keeps the seven
  convolutions but narrows them and downsamples 16x (``(1, 2, 2, 2, 2, 1, 1)``) so that 64x64
  training crops still give a 4x4 latent and the rate lands in the range the paper compares at.
* Quantiser ``Q`` (:class:`CentreQuantizer`): each latent value goes to the nearest of ``L``
  learned scalar centres (Eq. 3); gradients flow through the soft assignment
  ``sum_j softmax(-sigma (w - c_j)^2) c_j`` (the soft/hard trick of Agustsson/Mentzer), the forward
  value is the hard one.
* Bit count: the semantic-entropy bound of Eq. 5, ``dim(w^q) log2 L`` (:meth:`LSCIBase.bound_bits`),
  and beside it a real bitstream (:mod:`semcom.codecs.arithmetic`: adaptive arithmetic coding of the
  centre indices, one context per latent channel); bpp is counted from those bytes.
* Generator ``G``: a transposed convolution, residual blocks, more transposed convolutions
  (Table I: 1 + 4 ConvT and 9 ResBlocks at the paper's scale), a last 3x3 convolution to RGB.

Distortion (Eq. 8): ``d = MSE + alpha (1 - SSIM) + beta * P`` with ``alpha = 0.01``, ``beta = 0.001``
(:func:`distortion`). ``P`` is LPIPS in the paper; LPIPS has no backbone weights offline, so the
default substitute is ``1 - MS-SSIM`` (``perceptual="ms_ssim"``); ``"lpips"`` stays selectable and
works where the LPIPS weights exist locally (ConfigError otherwise, never a random backbone).

Example:
    >>> import torch
    >>> from semcom.models.lsci import LSCIBase
    >>> m = LSCIBase({"enc_channels": [8, 8, 8, 8, 8, 8], "gen_channels": [8, 8, 8, 8], "res_blocks": 1})
    >>> out = m(torch.rand(1, 3, 64, 64))
    >>> out["x_hat"].shape, out["indices"].shape
    (torch.Size([1, 3, 64, 64]), torch.Size([1, 16, 4, 4]))
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from semcom.errors import CheckpointError, CodecError, ConfigError, InputError
from semcom.layers import GDN
from semcom.models.checkpoint_io import float_state, half_state
from semcom.utils import check_image, from_dict

#: Eq. 8 weights of the paper
ALPHA_SSIM = 0.01
BETA_PERCEPTUAL = 0.001


@dataclasses.dataclass
class LSCIConfig:
    """Hyper-parameters of the base model.

    enc_channels: features of the first six encoder convolutions; latent_channels: C, the seventh
    (sets the rate with ``centres``). enc_strides: the seven strides. gen_channels / gen_strides:
    the generator's transposed convolutions (the first is followed by ``res_blocks`` residual
    blocks); the product of ``gen_strides`` must equal that of ``enc_strides``. centres: L;
    centre_range: initial centres ``linspace(-r, r, L)``; sigma: softness of the soft assignment.
    """

    enc_channels: Sequence[int] = (32, 64, 96, 128, 128, 128)
    latent_channels: int = 16
    enc_strides: Sequence[int] = (1, 2, 2, 2, 2, 1, 1)
    gen_channels: Sequence[int] = (128, 96, 64, 32)
    gen_strides: Sequence[int] = (2, 2, 2, 2)
    res_blocks: int = 3
    centres: int = 8
    centre_range: float = 2.0
    sigma: float = 1.0

    def __post_init__(self) -> None:
        self.enc_channels = tuple(int(c) for c in self.enc_channels)
        self.enc_strides = tuple(int(s) for s in self.enc_strides)
        self.gen_channels = tuple(int(c) for c in self.gen_channels)
        self.gen_strides = tuple(int(s) for s in self.gen_strides)
        if len(self.enc_channels) != 6 or len(self.enc_strides) != 7:
            raise ConfigError("the encoder has seven convolutions: 6 enc_channels + latent_channels, 7 enc_strides")
        if len(self.gen_channels) != len(self.gen_strides) or not self.gen_channels:
            raise ConfigError("gen_channels and gen_strides must have the same non-zero length")
        if any(s not in (1, 2) for s in self.enc_strides + self.gen_strides):
            raise ConfigError("strides must be 1 or 2")
        if math.prod(self.enc_strides) != math.prod(self.gen_strides):
            raise ConfigError("the generator must upsample by the encoder's downsampling factor")
        if min(self.enc_channels + self.gen_channels) < 1 or not 1 <= self.latent_channels <= 4096:
            raise ConfigError("channels must be positive (latent_channels <= 4096)")
        if not 2 <= self.centres <= 256:
            raise ConfigError(f"centres must be in [2, 256], got {self.centres}")
        if self.res_blocks < 0 or self.sigma <= 0 or self.centre_range <= 0:
            raise ConfigError("res_blocks >= 0, sigma > 0 and centre_range > 0 are required")

    @property
    def factor(self) -> int:
        """Spatial downsampling factor of the encoder."""
        return math.prod(self.enc_strides)


#: Table I at the paper's scale (for a GPU): 7 convolutions 64..1024, C=4, 32x down, 9 ResBlocks.
PAPER_CONFIG = {"enc_channels": [64, 128, 256, 512, 1024, 1024], "latent_channels": 4,
                "enc_strides": [1, 2, 2, 2, 2, 2, 1], "gen_channels": [1024, 512, 256, 128, 64],
                "gen_strides": [2, 2, 2, 2, 2], "res_blocks": 9, "centres": 5}


# --------------------------------------------------------------------------- quantiser
class CentreQuantizer(nn.Module):
    """Nearest-centre scalar quantiser over ``L`` learned centres (Eq. 3-4).

    ``forward(w, mode)`` returns ``(w_q, indices)``: ``mode="ste"`` (training) gives the hard value
    forward and the soft assignment's gradient backward, ``"hard"`` the hard value, ``"soft"`` the
    soft value. ``indices`` (int64, shape of ``w``) index :attr:`centres`.
    """

    def __init__(self, levels: int, centre_range: float = 2.0, sigma: float = 1.0) -> None:
        super().__init__()
        self.levels, self.sigma = int(levels), float(sigma)
        self.centres = nn.Parameter(torch.linspace(-centre_range, centre_range, self.levels))

    def forward(self, w: torch.Tensor, mode: str = "ste") -> tuple[torch.Tensor, torch.Tensor]:
        if mode not in ("ste", "hard", "soft"):
            raise ConfigError(f"quantiser mode must be ste, hard or soft, got {mode!r}")
        dist = (w.unsqueeze(-1) - self.centres) ** 2
        idx = dist.argmin(-1)
        hard = self.centres[idx]
        if mode == "hard":
            return hard, idx
        soft = (torch.softmax(-self.sigma * dist, dim=-1) * self.centres).sum(-1)
        return (soft if mode == "soft" else soft + (hard - soft).detach()), idx

    def dequantize(self, indices: torch.Tensor) -> torch.Tensor:
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.levels):
            raise InputError(f"centre indices must lie in [0, {self.levels})")
        return self.centres.detach()[indices]


# --------------------------------------------------------------------------- networks
class ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))`` with 3x3 convolutions."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(ch, ch, 3, padding=1), nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.relu(self.a(x)))


def _up(cin: int, cout: int, stride: int) -> nn.Module:
    return nn.ConvTranspose2d(cin, cout, 3, stride=stride, padding=1, output_padding=stride - 1)


def build_encoder(cfg: LSCIConfig) -> nn.Sequential:
    """Seven 3x3 convolutions with GDN between them (Table I)."""
    chans = (3,) + cfg.enc_channels + (cfg.latent_channels,)
    layers: list[nn.Module] = []
    for i, s in enumerate(cfg.enc_strides):
        layers.append(nn.Conv2d(chans[i], chans[i + 1], 3, stride=s, padding=1))
        if i < 6:
            layers.append(GDN(chans[i + 1]))
    return nn.Sequential(*layers)


def build_generator(cfg: LSCIConfig) -> nn.Sequential:
    """ConvT, ``res_blocks`` ResBlocks, the other ConvTs (LeakyReLU after each), a 3x3 conv to RGB.

    LeakyReLU rather than IGDN: with IGDN the generator diverged within a few steps at lr 1e-3 and
    stayed at the mean image at 3e-4 in our CPU runs."""
    g = cfg.gen_channels
    layers: list[nn.Module] = [_up(cfg.latent_channels, g[0], cfg.gen_strides[0]), nn.LeakyReLU(0.2)]
    layers += [ResBlock(g[0]) for _ in range(cfg.res_blocks)]
    for i in range(1, len(g)):
        layers += [_up(g[i - 1], g[i], cfg.gen_strides[i]), nn.LeakyReLU(0.2)]
    layers.append(nn.Conv2d(g[-1], 3, 3, padding=1))
    return nn.Sequential(*layers)


class LSCIBase(nn.Module):
    """The base model: ``forward`` (training), ``encode`` -> bytes, ``decode`` bytes -> image.

    Images are ``[B, 3, H, W]`` floats in [0, 1]; sides that are not multiples of
    :attr:`LSCIConfig.factor` are padded (edge replication) and the output cropped back.
    """

    name = "lsci_base"

    def __init__(self, config: LSCIConfig | dict | None = None) -> None:
        super().__init__()
        if config is None:
            config = LSCIConfig()
        self.config = config if isinstance(config, LSCIConfig) else from_dict(LSCIConfig, config)
        c = self.config
        self.encoder = build_encoder(c)
        self.quantizer = CentreQuantizer(c.centres, c.centre_range, c.sigma)
        self.generator = build_generator(c)
        self.metadata: dict = {}

    # ---- tensors
    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        f = self.config.factor
        ph, pw = (-x.shape[-2]) % f, (-x.shape[-1]) % f
        return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        """Unquantised features ``w = E(x)`` (Eq. 2), ``[B, C, H/f, W/f]`` (sides padded up)."""
        return self.encoder(self._pad(x))

    def synthesise(self, wq: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """``x' = G(w^q)`` (Eq. 6), cropped to ``size`` when given; not clamped."""
        y = self.generator(wq) + 0.5   # centred on mid-grey: a fresh generator starts near the mean image
        return y[..., : size[0], : size[1]] if size is not None else y

    def forward(self, x: torch.Tensor, mode: str = "ste") -> dict:
        w = self.analyse(x)
        wq, idx = self.quantizer(w, mode)
        return {"x_hat": self.synthesise(wq, x.shape[-2:]), "w": w, "wq": wq, "indices": idx}

    # ---- bits
    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        f = self.config.factor
        return self.config.latent_channels, -(-height // f), -(-width // f)

    def bound_bits(self, height: int, width: int) -> float:
        """Eq. 5: ``dim(w^q) * log2(L)`` bits for one ``height x width`` image."""
        c, h, w = self.latent_shape(height, width)
        return c * h * w * math.log2(self.config.centres)

    def version(self) -> str:
        """SHA-256 (hex) of the config and weights: the base-model version slices are tied to."""
        h = hashlib.sha256(json.dumps(dataclasses.asdict(self.config), sort_keys=True).encode())
        for k, v in sorted(self.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().float().contiguous().numpy().tobytes())
        return h.hexdigest()

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> bytes:
        """One image ``[1, 3, H, W]`` (or ``[3, H, W]``) -> the bitstream (header + coded indices)."""
        from semcom.codecs.arithmetic import encode_indices

        x = check_image(image)
        if x.shape[0] != 1:
            raise InputError(f"encode takes one image, got a batch of {x.shape[0]}")
        _, idx = self.quantizer(self.analyse(x), "hard")
        return encode_indices(idx[0], self.config.centres, x.shape[-2:], tag=self._tag(), factor=self.config.factor)

    @torch.no_grad()
    def decode(self, data: bytes) -> torch.Tensor:
        """Bitstream -> image ``[1, 3, H, W]`` in [0, 1]; CodecError on a corrupt stream."""
        idx, size = self.decode_indices(data)
        return self.synthesise(self.quantizer.dequantize(idx).unsqueeze(0), size).clamp(0, 1)

    def decode_indices(self, data: bytes) -> tuple[torch.Tensor, tuple[int, int]]:
        """Bitstream -> (centre indices ``[C, h, w]``, image size); checks it fits this model."""
        from semcom.codecs.arithmetic import decode_indices

        idx, size = decode_indices(data, self.config.centres, tag=self._tag(), factor=self.config.factor,
                                   latent_channels=self.config.latent_channels)
        if tuple(idx.shape) != self.latent_shape(*size):
            raise CodecError(f"latent {tuple(idx.shape)} does not fit a {size} image for this model")
        return idx, size

    def _tag(self) -> int:
        """16-bit tag of the model config carried in the bitstream header (wrong model -> CodecError)."""
        d = hashlib.sha256(json.dumps(dataclasses.asdict(self.config), sort_keys=True).encode()).digest()
        return int.from_bytes(d[:2], "big")

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# --------------------------------------------------------------------------- loss
def distortion(x_hat: torch.Tensor, x: torch.Tensor, alpha: float = ALPHA_SSIM, beta: float = BETA_PERCEPTUAL,
               perceptual: str = "ms_ssim") -> tuple[torch.Tensor, dict]:
    """Eq. 8: ``MSE + alpha (1 - SSIM) + beta * P`` (P = 1 - MS-SSIM, or LPIPS where available).

    The paper's ``||x - x'||_2`` is taken as the mean squared error over pixels in [0, 1].
    Returns (loss, logged terms).
    """
    from semcom.metrics import ssim
    from semcom.training.loop import perceptual_loss

    xc = x_hat.clamp(0, 1)
    mse = F.mse_loss(x_hat, x)
    s = ssim(xc, x).mean()
    p = perceptual_loss(perceptual, x_hat, x) if beta > 0 else torch.zeros(())
    total = mse + alpha * (1 - s) + beta * p
    return total, {"mse": float(mse.detach()), "ssim": float(s.detach()), "perceptual": float(p.detach())}


# --------------------------------------------------------------------------- checkpoints
def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_module(module: nn.Module, config: dict, path: str | Path, kind: str, half: bool = True) -> str:
    """Write ``{kind, config, state_dict}`` (fp16 weights when ``half``); returns its SHA-256."""
    sd = module.state_dict()
    sd = {k: v.cpu() for k, v in (half_state(sd, str(path)) if half else sd).items()}
    buf = io.BytesIO()
    torch.save({"kind": kind, "config": config, "state_dict": sd}, buf)
    Path(path).write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def load_blob(path: str | Path, kind: str) -> tuple[dict, dict, dict]:
    """(config, fp32 state_dict, metadata) of a checkpoint written by :func:`save_module`.

    Loads with ``weights_only=True``; the metadata JSON beside it must exist and its ``sha256``
    must match the file (CheckpointError otherwise).
    """
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        raise CheckpointError(f"no checkpoint with metadata at {path}")
    meta = json.loads(meta_path.read_text())
    if sha256_file(path) != meta.get("sha256"):
        raise CheckpointError(f"{path.name}: SHA-256 differs from its metadata")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("kind") != kind:
        raise CheckpointError(f"{path.name} is not a {kind} checkpoint")
    return blob["config"], float_state(blob["state_dict"]), meta


def load_base(path: str | Path) -> LSCIBase:
    """An :class:`LSCIBase` from a checkpoint (see :func:`load_blob`), in eval mode, metadata attached."""
    cfg, sd, meta = load_blob(path, "lsci_base")
    m = LSCIBase(cfg)
    m.load_state_dict(sd)
    m.eval()
    m.metadata = meta
    return m


def checkpoint_path(name: str) -> Path:
    return Path(__file__).resolve().parent.parent / "checkpoints" / f"{name}.pt"


def load_pretrained_base(name: str = "lsci_base") -> LSCIBase:
    """A committed base model (``lsci_base``: MSE/SSIM/MS-SSIM stage; ``lsci_gan``: after WGAN-GP)."""
    return load_base(checkpoint_path(name))


__all__ = ["LSCIConfig", "PAPER_CONFIG", "CentreQuantizer", "LSCIBase", "distortion", "load_base",
           "load_pretrained_base", "save_module", "load_blob", "sha256_file", "ALPHA_SSIM", "BETA_PERCEPTUAL"]
