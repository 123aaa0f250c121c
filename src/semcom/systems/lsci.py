"""LSCI as a bench system: the base model with a channel-coding slice, or its bitstream over 5G LDPC.

``lsci:mode=slice`` (default): the base encoder's quantised features ``w^q`` go through the
channel-coding slice model trained for the comparison's channel (``lsci_channel_awgn`` or
``lsci_channel_rayleigh``), analog, with layered feedback; the generator decodes the slice
decoder's output. Fixed budget: ``layers * symbols * h * w`` channel uses per image.

``lsci:mode=ldpc``: the base model's entropy-coded bitstream (:meth:`LSCIBase.encode`) is the
source stream of the separation baseline (:class:`semcom.baselines.SeparationSystem`: length
field, 5G NR LDPC + QAM over the bit-true link, MCS adapted to the SNR within the budget). A
damaged stream fails its CRC and the receiver outputs mid-grey (status ``failed``). Budget:
``cbr`` (default: the channel uses of the matching slice, so both modes are compared at the same
channel uses).

Example:
    >>> from semcom.systems import build_system               # doctest: +SKIP
    >>> sys_ = build_system("lsci:mode=slice")                # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import torch

from semcom.errors import CodecError, ConfigError, InputError
from semcom.systems.base import register_system
from semcom.systems.channels import ChannelSpec
from semcom.systems.outcome import Outcome, source_size
from semcom.utils import check_image, make_generator

SLICE_FOR_CHANNEL = {"awgn": "lsci_channel_awgn", "rayleigh_block": "lsci_channel_rayleigh"}


@functools.lru_cache(maxsize=4)
def _base(name: str):
    from semcom.models.lsci import load_pretrained_base

    return load_pretrained_base(name)


@functools.lru_cache(maxsize=8)
def _slice(name: str, base_name: str):
    from semcom.models.lsci import checkpoint_path, load_blob
    from semcom.models.lsci_slices import ChannelSlice

    cfg, sd, meta = load_blob(checkpoint_path(name), "lsci_channel_slice")
    if cfg.get("base_version") != _base(base_name).version():
        raise ConfigError(f"channel slice {name} was trained on another base model than {base_name}")
    m = ChannelSlice(cfg)
    m.load_state_dict(sd)
    return m.eval()


class LSCIStreamCodec:
    """The base model's bitstream behind the two codec methods the separation baseline uses."""

    name = "lsci"

    def __init__(self, base) -> None:
        self.base = base

    def encode_to_budget(self, image: torch.Tensor, max_bits: int) -> bytes:
        from semcom.codecs import CodecBudgetError

        data = self.base.encode(image)
        if 8 * len(data) > max_bits:
            raise CodecBudgetError(f"lsci: the stream of {8 * len(data)} bits exceeds the budget of {max_bits}",
                                   8 * len(data), max_bits)
        return data

    def decode_robust(self, data: bytes, shape=None, fallback: float = 0.5, damaged: bool = False):
        from semcom.codecs import DecodeOutcome

        try:
            img = self.base.decode(data)
        except CodecError as exc:
            return DecodeOutcome(torch.full((1, 3, *shape), float(fallback)), "failed", str(exc))
        if shape is not None and tuple(img.shape[-2:]) != tuple(shape):
            return DecodeOutcome(torch.full((1, 3, *shape), float(fallback)), "failed", "size mismatch")
        return DecodeOutcome(img, "recovered" if damaged else "ok", "")


class LsciSystem:
    """LSCI on a channel (see the module docstring). Sources ``[1, 3, H, W]`` in [0, 1]."""

    def __init__(self, channel: ChannelSpec | str | None = None, cbr: float | None = None, mode: str = "slice",
                 base: str = "lsci_base", slice: str | None = None, fidelity: str = "bittrue",
                 decoder: str = "fast") -> None:
        self.channel = ChannelSpec.parse(channel)
        if mode not in ("slice", "ldpc"):
            raise ConfigError(f"lsci: mode must be slice or ldpc, got {mode!r}")
        if self.channel.csi != "perfect":
            raise ConfigError("lsci runs with perfect receiver CSI only")
        self.mode, self.base_name = mode, base
        self.base = _base(base)
        self.slice_name = slice or SLICE_FOR_CHANNEL.get(self.channel.name)
        if self.slice_name is None:
            raise ConfigError(f"lsci: no channel slice for channel {self.channel.name!r}; pass slice=NAME")
        self.name = f"lsci-{mode}"
        self.size_multiple = self.base.config.factor
        if mode == "slice":
            if cbr is not None:
                raise ConfigError("lsci:mode=slice spends its slice's fixed channel uses; cbr cannot be set")
            self.fixed_budget = True
        self.cbr = cbr
        self.fidelity, self.decoder = fidelity, decoder
        self._sep = None

    @property
    def slice(self):
        return _slice(self.slice_name, self.base_name)

    def budget(self, source_shape: Sequence[int]) -> int:
        h, w = int(source_shape[-2]), int(source_shape[-1])
        _, lh, lw = self.base.latent_shape(h, w)
        uses = self.slice.uses(lh, lw)
        if self.mode == "slice" or self.cbr is None:
            return uses
        return int(-(-self.cbr * source_size(source_shape)[0] // 1))

    def _separation(self, source_shape):
        from semcom.baselines import SeparationConfig, SeparationSystem

        cbr = self.cbr if self.cbr is not None else self.budget(source_shape) / source_size(source_shape)[0]
        if self._sep is None or abs(self._sep.config.cbr - cbr) > 1e-12:
            # one stream size: the target rule (the quality search would run the GAN once per candidate MCS)
            cfg = SeparationConfig(codec="jpeg2000", cbr=cbr, fidelity=self.fidelity, link_adaptation=True,
                                   adaptation="target_bler",
                                   channel=self.channel.link_kwargs()["channel"], csi="perfect",
                                   decoder=self.decoder, loss_policy="corrupt")
            sep = SeparationSystem(cfg)
            sep.codec = LSCIStreamCodec(self.base)   # the LSCI bitstream is the source stream
            self._sep = sep
        return self._sep

    def transmit(self, source: torch.Tensor, snr_db: float, *, seed: int | torch.Generator | None = 0) -> Outcome:
        x = check_image(source)
        if x.shape[0] != 1:
            raise InputError("LsciSystem.transmit takes one image [1, 3, H, W]")
        if not isinstance(snr_db, (int, float)) or snr_db != snr_db or abs(snr_db) == float("inf"):
            raise InputError(f"snr_db must be a finite number, got {snr_db!r}")
        if self.mode == "ldpc":
            out = self._separation(x.shape).transmit(x, float(snr_db), seed=seed)
            return Outcome(out.reconstruction, out.status, out.channel_uses, out.channel_uses_budget,
                           bits_sent=out.bits_sent, side_info_bits=out.side_info_bits, num_cb=out.num_cb,
                           num_cb_failed=out.num_cb_failed, error=out.error,
                           extras={**out.extras, "mode": "ldpc", "base": self.base_name})
        with torch.no_grad():
            res = self.base(x, "hard")
            w_hat, uses = self.slice(res["wq"], float(snr_db), generator=make_generator(seed))
            img = self.base.synthesise(w_hat, x.shape[-2:]).clamp(0, 1)
        return Outcome(img, "ok", int(uses), int(uses), bits_sent=0, side_info_bits=0,
                       extras={"mode": "slice", "slice": self.slice_name, "base": self.base_name})

    def describe(self) -> dict:
        return {"system": "lsci", "mode": self.mode, "base": self.base_name,
                "base_sha256": self.base.metadata.get("sha256"), "slice": self.slice_name,
                "base_config": dataclasses.asdict(self.base.config), "channel": self.channel.describe(),
                "cbr": self.cbr}


register_system("lsci", LsciSystem)

__all__ = ["LsciSystem", "LSCIStreamCodec", "SLICE_FOR_CHANNEL"]
