"""SE-SC as a bench system: ``semcom compare sesc ...`` (registered as ``sesc``).

The committed masked-transformer codec (:class:`semcom.models.sesc.SESC`), a semantic-aware weight
model and the Sec. V rate policy of Fu et al. ("Scalable Extraction Based Semantic Communication
for 6G Wireless Networks"):

* without a budget (``cbr=None``), patches whose weight is below ``mu`` are masked
  (:func:`semcom.semantics.sesc.threshold_mask`): the channel uses depend on the content, so
  :meth:`SescSystem.budget` is ``None``;
* at a CBR (``semcom compare --cbr``), ``mu`` starts low (``mu0``, default 0: every patch is a
  candidate, the paper's "initially set relatively low") and is raised until the sent features plus
  the mask code fit ``ceil(cbr * 3 H W)`` channel uses
  (:func:`semcom.semantics.sesc.rate_policy`; equal weights, e.g. no face under task relevance,
  are broken by a fixed spread-out order): never more; a budget below one patch gives the
  outcome ``no_fit`` (nothing sent, the mid-grey fallback).

Spec options: ``ckpt`` (default ``sesc_rayleigh``), ``mu`` (0.2, without a budget), ``mu0`` (0.0,
the starting threshold with a budget), ``weights`` (``task``: relevance
from the face detector's output on the source; ``cnn``: the learned relevance CNN on the source;
``entropy``; ``random``; every weight model runs at the transmitter on the source image),
``strict``. ``ckpt`` names the codec: the masked transformer ``sesc_rayleigh`` or the masked CNN
``sesc_cnn_rayleigh`` (any SE-SC checkpoint file). Images are
``[1,3,H,W]`` with H and W multiples of the patch size (8). The analog symbols cross the comparison's
channel (CSI from its spec); the mask code is sent over the error-free side link and counted.

Example::

    semcom compare sesc:mu=0.3 separation:codec=jpeg2000,link=adaptive --channel rayleigh_block --budget match:sesc:mu=0.3
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Sequence

import numpy as np
import torch

from semcom.errors import ConfigError
from semcom.systems.base import register_system
from semcom.systems.channels import ChannelSpec
from semcom.systems.outcome import Outcome, source_size

__all__ = ["SescSystem"]


class SescSystem:
    """SE-SC (codec + weight model + mu policy) on a channel (see the module docstring)."""

    def __init__(self, ckpt: str = "sesc_rayleigh", mu: float = 0.2, weights: str = "task", cbr: float | None = None,
                 channel: ChannelSpec | str | None = None, strict: bool = False, mu0: float = 0.0) -> None:
        from semcom.experiments.sesc_common import WEIGHT_MODELS, load_codec, weight_fn

        for label, v in (("mu", mu), ("mu0", mu0)):
            if isinstance(v, bool) or not (isinstance(v, (int, float)) and 0 <= v <= 1):
                raise ConfigError(f"sesc: {label} must be a number in [0, 1], got {v!r}")
        if weights not in WEIGHT_MODELS:
            raise ConfigError(f"sesc: weights must be one of {WEIGHT_MODELS}, got {weights!r}")
        if cbr is not None and not (isinstance(cbr, (int, float)) and cbr > 0 and math.isfinite(cbr)):
            raise ConfigError(f"sesc: cbr must be positive, got {cbr!r}")
        self.model = load_codec(str(ckpt))
        self.ckpt, self.mu, self.mu0, self.weights_name, self.cbr = str(ckpt), float(mu), float(mu0), weights, cbr
        self.channel = ChannelSpec.parse(channel)
        self.strict = bool(strict)
        self.weights = weight_fn(weights, self.model)
        self.name = "sesc"
        self.size_multiple = self.model.config.patch_size

    def budget(self, source_shape: Sequence[int]) -> int | None:
        """``ceil(cbr * 3 H W)`` at a CBR; without one the uses depend on the content (None)."""
        return None if self.cbr is None else int(math.ceil(self.cbr * source_size(source_shape)[0] - 1e-9))

    def keep(self, source: torch.Tensor) -> tuple[np.ndarray | None, dict]:
        """The sent-patch flags for ``source`` and what decided them (None when nothing fits)."""
        from semcom.semantics.sesc import BudgetTooSmallError, rate_policy, threshold_mask

        w = self.weights(source, self.model.config.patch_size)
        b = self.budget(source.shape)
        if b is None:
            return threshold_mask(w, self.mu), {"mu": self.mu}
        try:
            r = rate_policy(w, b, self.model.config.symbols_per_patch, mu0=self.mu0,
                            side_bits_per_symbol=self.model.config.side_bits_per_symbol, tie_break="spread")
        except BudgetTooSmallError as exc:
            return None, {"error": str(exc)}
        return r.keep, {"mu": r.mu, "budget_binding": r.binding}

    def transmit(self, source: torch.Tensor, snr_db: float, *, seed: int | torch.Generator | None = 0) -> Outcome:
        source = self.model.check_input(source)
        keep, info = self.keep(source)
        budget = self.budget(source.shape)
        if keep is None:
            return Outcome(torch.full_like(source, 0.5), "no_fit", 0, budget, error=info["error"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an SNR outside the trained range is recorded in extras
            out = self.model.transmit(source, snr_db, seed=seed, channel=self.channel.name, strict=self.strict,
                                      csi=self.channel.csi, csi_error_var=self.channel.csi_error_var,
                                      keep=torch.as_tensor(keep).reshape(1, -1))
        extras = {k: v for k, v in out.extras.items() if k != "payload"}
        extras.update(info, patches=int(keep.size), weights=self.weights_name)
        return Outcome(out.reconstruction, "ok", out.channel_uses, budget if budget is not None else out.channel_uses,
                       side_info_bits=out.side_info_bits, extras=extras)

    def describe(self) -> dict:
        meta = getattr(self.model, "metadata", {}) or {}
        return {"system": "sesc", "checkpoint": self.ckpt, "checkpoint_sha256": meta.get("sha256"), "mu": self.mu, "mu0": self.mu0,
                "weights": self.weights_name, "cbr": self.cbr, "config": dataclasses.asdict(self.model.config),
                "channel": self.channel.describe(), "side_link": "mask code, error-free, 1 bit per channel use"}


def sesc(ckpt: str = "sesc_rayleigh", mu: float = 0.2, weights: str = "task", cbr: float | None = None,
         channel: ChannelSpec | str | None = None, strict: bool = False, mu0: float = 0.0) -> SescSystem:
    """The SE-SC system (see :class:`SescSystem`)."""
    return SescSystem(ckpt, mu, weights, cbr, channel, strict, mu0)


register_system("sesc", sesc)

