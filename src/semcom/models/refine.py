"""Encoder-side refinement: better channel symbols for the one image being sent, same decoder.

A trained encoder maps every image to its symbols in one pass (amortised inference). For the one
image a transmitter holds, symbols that the *unchanged* decoder reconstructs better usually exist
at the same power and the same number of channel uses. The transmitter knows the image, the
decoder's weights and, like the link-adapted digital baselines, the channel's SNR, so it can search
for them. Starting from the encoder's symbols ``z0``, it minimises the expected distortion over the
channel

    J(z) = E_w || x - g( h(P(z)) ) ||^2 ,   P(z) = z sqrt(n) / ||z||   (unit average power),

where ``h`` is the model's analog channel at the SNR (:func:`semcom.models.jscc_channel`: AWGN,
or block/fast Rayleigh with the receiver's equalisation) and ``g`` the model's decoder
(:meth:`~semcom.models.LearnedJSCC.reconstruct`), and sends ``P(z_K)``. The receiver is unchanged;
the payload has the same symbols, power and side information as the plain encoder's: no channel
use is added. What the transmitter pays is ``steps * samples`` decoder passes forward and backward.

This is the semi-amortised inference of learned image compression (refining the latent of one image
under a fixed decoder: Campos et al., CVPR Workshops 2019; Yang, Bamler, Mandt, NeurIPS 2020) carried
over to the analog channel, where the expectation over the channel noise replaces quantisation.

Choices (where nothing in the five papers says): Adam on the real and imaginary parts of ``z``;
``samples`` Monte-Carlo channel draws per step (default 1); the learning rate decays from ``lr``
to ``lr * lr_final_ratio`` along a half cosine; the last iterate is sent; mean squared error in
[0, 1] (what PSNR measures). The search's noise comes from its own generator, derived from
``seed`` in a stream of its own (:func:`search_generator`), never from the transmission's: the
transmitter does not know the channel's realisation.

Example:
    >>> import torch
    >>> from semcom.models import DeepJSCC
    >>> from semcom.models.refine import RefineConfig, refine_symbols
    >>> model = DeepJSCC({"latent_channels": 8, "hidden_channels": 16}).eval()
    >>> x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> z, log = refine_symbols(model, x, 5.0, RefineConfig(steps=5))
    >>> z.shape, round(float(z.abs().pow(2).mean()), 4), log["steps"]
    (torch.Size([256]), 1.0, 5)
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from typing import Any

import torch

from semcom.errors import ConfigError, InputError
from semcom.layers import power_normalize
from semcom.utils import from_dict

__all__ = ["RefineConfig", "refine_symbols", "search_generator", "supports_refinement"]


@dataclasses.dataclass
class RefineConfig:
    """How the transmitter searches (see the module docstring).

    Attributes:
        steps: Adam steps (0: the encoder's symbols unchanged).
        lr: initial learning rate on the symbols' real and imaginary parts (unit average power).
        lr_final_ratio: the learning rate at the last step, as a fraction of ``lr`` (half cosine).
        samples: channel draws per step (the Monte-Carlo estimate of the expectation).
        seed: seeds the search's own noise stream (:func:`search_generator`).
    """

    steps: int = 100
    lr: float = 0.05
    lr_final_ratio: float = 0.1
    samples: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "samples", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "samples" else 0):
                raise ConfigError(f"refine {name} must be an int >= {1 if name == 'samples' else 0}, got {v!r}")
        for name in ("lr", "lr_final_ratio"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"refine {name} must be a finite number > 0, got {v!r}")
        if self.lr_final_ratio > 1:
            raise ConfigError(f"refine lr_final_ratio must be <= 1, got {self.lr_final_ratio!r}")

    @classmethod
    def from_dict(cls, data: dict | None) -> "RefineConfig":
        return from_dict(cls, data, where="refine")


def search_generator(seed: int) -> torch.Generator:
    """The generator of the search's channel draws: seeded by SHA-256 of ``"semcom.refine:<seed>"``,
    a stream no transmission seed (``make_generator(seed)``: ``manual_seed(seed)``) reproduces."""
    digest = hashlib.sha256(f"semcom.refine:{int(seed)}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


def supports_refinement(model: Any) -> bool:
    """Whether ``model`` (an instance or a class) has a differentiable symbols -> image path
    (``reconstruct`` overridden from :class:`~semcom.models.LearnedJSCC`'s refusing default)."""
    from semcom.models.deepjscc import LearnedJSCC

    cls = model if isinstance(model, type) else type(model)
    return getattr(cls, "reconstruct", LearnedJSCC.reconstruct) is not LearnedJSCC.reconstruct


def refine_symbols(model: Any, image: torch.Tensor, snr_db: float, config: RefineConfig | None = None, *,
                   channel: str | None = None, csi: str = "perfect", csi_error_var: float = 0.0,
                   start: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Refine the symbols a learned JSCC ``model`` sends for ``image`` ``[1,3,H,W]`` at ``snr_db``.

    Args:
        model: a :class:`~semcom.models.LearnedJSCC` whose :meth:`reconstruct` is differentiable
            (DeepJSCC, ADJSCC); its weights are not changed.
        image: one image ``[1,3,H,W]`` in [0, 1].
        snr_db: the SNR the transmitter expects (per complex symbol).
        config: :class:`RefineConfig` (default: its defaults).
        channel, csi, csi_error_var: the channel the search averages over (default: the model's).
        start: the encoder's symbols ``[n]`` when already computed (default: encoded here).

    Returns:
        ``(symbols [n] complex64 at unit average power, log)``; ``log`` holds ``steps``,
        ``loss_first`` and ``loss_last`` (the search's own noisy MSE at its first and last step)
        and ``seconds``.

    Raises:
        ConfigError: the model has no differentiable reconstruction.
        InputError: not one image.
    """
    from semcom.models.deepjscc import jscc_channel

    cfg = config if config is not None else RefineConfig()
    if not supports_refinement(model):
        raise ConfigError(f"model {getattr(model, 'name', type(model).__name__)!r} has no differentiable "
                          "reconstruct(): its symbols cannot be refined")
    image = model.check_input(image)
    if image.shape[0] != 1:
        raise InputError("refine_symbols takes one image [1,3,H,W]")
    snr = float(snr_db)
    h, w = image.shape[-2:]
    z0 = start if start is not None else model._encode(image, snr, csi)[0].symbols
    t0 = time.perf_counter()
    log = {"steps": cfg.steps, "loss_first": None, "loss_last": None}
    if cfg.steps == 0:
        return z0, {**log, "seconds": 0.0}
    u = torch.view_as_real(z0.detach().clone().unsqueeze(0)).requires_grad_(True)
    opt = torch.optim.Adam([u], lr=cfg.lr)
    floor = cfg.lr_final_ratio
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * k / max(cfg.steps - 1, 1))))
    gen = search_generator(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    was_training = model.training
    model.eval()
    try:
        for p in params:
            p.requires_grad_(False)
        with torch.enable_grad():
            for _ in range(cfg.steps):
                z = power_normalize(torch.view_as_complex(u)).expand(cfg.samples, -1)
                y = jscc_channel(z, snr, channel or model.config.channel, gen, csi=csi, csi_error_var=csi_error_var)
                loss = (model.reconstruct(y, h, w, snr) - image).pow(2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                log["loss_last"] = float(loss.detach())
                log["loss_first"] = log["loss_last"] if log["loss_first"] is None else log["loss_first"]
    finally:
        for p in params:
            p.requires_grad_(True)
        model.train(was_training)
    with torch.no_grad():
        z = power_normalize(torch.view_as_complex(u.detach()))[0].to(torch.complex64)
    if not torch.isfinite(torch.view_as_real(z)).all():
        raise InputError("refinement diverged (non-finite symbols); lower lr")
    return z, {**log, "seconds": time.perf_counter() - t0}
