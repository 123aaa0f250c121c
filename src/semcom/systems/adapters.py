"""The built-in systems of the bench, registered on import (``semcom.systems.available_systems()``).

================  ==============================================  ============================================
name              system                                          spec options
================  ==============================================  ============================================
``separation``    classical codec + 5G NR link                    ``codec``, ``link`` (``bittrue``,
                  (:class:`semcom.baselines.SeparationSystem`)    ``adaptive`` = bit-true with the MCS adapted
                                                                  to the SNR, ``bler_table``, ``erasure``,
                                                                  ``capacity``), ``adapt``, ``mcs_index``,
                                                                  ``mcs_table``, ``modulation_order``,
                                                                  ``code_rate``, ``adaptation``
                                                                  (``quality``, ``target_bler``),
                                                                  ``target_bler``,
                                                                  ``loss_policy``, ``fading``, ``decoder``,
                                                                  ``cbler``, ``cbr``, ``downscale``
                                                                  (1, 2, 4, 8: lower the resolution
                                                                  when that does better),
                                                                  ``downscale_choice`` (``psnr``,
                                                                  ``joint``), ``bg1_repetition``
                                                                  (MCS 4 as 38.212 sends it,
                                                                  :mod:`semcom.link.layout`),
                                                                  ``noise`` (bit-true links:
                                                                  ``torch`` or ``fast``)
``deepjscc``,     a learned JSCC model from a checkpoint          ``ckpt`` or its alias ``checkpoint``
``adjscc``,       (:class:`LearnedSystem`); the 1D coders         (a committed name, see
``scc``,          (``vlscc1d``, ``scc1d``) take vectors           :func:`semcom.models.list_pretrained`, or a
``vlscc2d``,      ``[1, dim]``; ``adjscc`` (SNR-adaptive) gets    ``.pt`` path), ``strict``
``vlscc1d``,      the channel SNR of every transmission in its
``scc1d``         ``encode`` and ``decode``
``learned``       any registered model's checkpoint (a user's)    ``ckpt``/``checkpoint`` (required), ``strict``;
                                                                  every learned system: ``refine`` (steps),
                                                                  ``refine_lr``, ``refine_samples``
                                                                  (deepjscc, adjscc; see
                                                                  :mod:`semcom.models.refine`)
``seb``           the seb codec (:class:`SebSystem`)              ``delivery`` (``stack`` or ``link``),
                                                                  ``extractor``, ``fine_ratio``,
                                                                  ``protect_ratio``, ``uep``, ``rate0``,
                                                                  ``rate1``, ``kb_fine``, ``kb_coarse``,
                                                                  ``kb_crops``, ``fidelity``, ``cbr``
``prt``           the prt keypoint video call on a clip           ``test`` (Table I grant), ``allocator``,
                  ``[T,3,H,W]`` (:class:`PrtKeypointSystem`)      ``concealer``, ``mcs``
================  ==============================================  ============================================

Budgets. ``separation`` is built at a CBR (its grant: ``ceil(cbr H W 3)`` channel uses); the learned
models spend what their architecture spends (``fixed_budget``: the compare core leaves them at their
own); ``seb`` without ``cbr`` sends its configured fine ratio and code rates, and with ``cbr`` picks,
per image, the largest fine ratio and the lowest code rates that fit the budget (the seb sweep's
equal-budget search, over the link without the stack).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import math
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch

from semcom.errors import ConfigError
from semcom.systems.base import register_system
from semcom.systems.channels import ChannelSpec
from semcom.systems.outcome import Outcome, source_size

__all__ = ["separation", "LearnedSystem", "SebSystem", "PrtKeypointSystem", "learned"]

SEPARATION_LINKS = ("bittrue", "adaptive", "bler_table", "erasure", "capacity")


def _qualname(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def source_hash(obj: Any) -> str | None:
    """SHA-256 of the source file defining ``obj`` (its class), for provenance; None when unknown."""
    try:
        path = inspect.getsourcefile(obj if isinstance(obj, type) else type(obj))
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None
    except (TypeError, OSError):
        return None


# ------------------------------------------------------------------ separation
def separation(codec: str = "heif", link: str = "adaptive", cbr: float | None = None,
               channel: ChannelSpec | str | None = None, adapt: bool = False, mcs_index: int | None = None,
               mcs_table: int = 1, modulation_order: int = 2, code_rate: float = 0.5, target_bler: float = 0.1,
               adaptation: str = "quality",
               loss_policy: str = "corrupt", fading: str = "per_cb", decoder: str = "fast",
               cbler: float | None = None, downscale: int = 1, downscale_choice: str = "psnr",
               bg1_repetition: bool = False, noise: str | None = None, config: dict | None = None):
    """The separation baseline as a bench system: :class:`semcom.baselines.SeparationSystem` built from
    spec options (see the module table). ``cbr`` defaults to 1/12.

    ``config``: a complete :class:`~semcom.baselines.SeparationConfig` dict instead (how the recipe
    sweeps pass theirs); ``cbr``, when given, overrides its CBR and the other options must not be set.
    """
    from semcom.baselines import SeparationConfig, SeparationSystem

    if config is not None:
        if config.get("outer_loop"):
            raise ConfigError("separation: outer_loop makes the system's results depend on the order of its "
                              "transmissions, and a comparison sends points in any order: use semcom link olla")
        return SeparationSystem(SeparationConfig.from_dict({**config, **({"cbr": cbr} if cbr is not None else {})}))

    if link not in SEPARATION_LINKS:
        raise ConfigError(f"separation: link must be one of {SEPARATION_LINKS}, got {link!r}")
    ch = ChannelSpec.parse(channel)
    extra: dict[str, Any] = {}
    if ch.csi == "estimated":
        extra["csi_error_var"] = ch.csi_error_var
    if cbler is not None:
        extra["cbler"] = cbler
    if not isinstance(bg1_repetition, bool):
        raise ConfigError(f"separation: bg1_repetition must be true or false, got {bg1_repetition!r}")
    if bg1_repetition:
        extra["bg1_repetition"] = True
    if noise is not None:
        from semcom.link.nr import NOISES

        if noise not in NOISES or link not in ("bittrue", "adaptive"):
            raise ConfigError(f"separation: noise is the bit-true link's noise source ({' or '.join(NOISES)}; "
                              f"link=bittrue or adaptive), got noise={noise!r} with link={link!r}")
        extra["noise"] = noise
    cfg = SeparationConfig(
        codec=codec, cbr=1 / 12 if cbr is None else float(cbr), fidelity="bittrue" if link == "adaptive" else link,
        link_adaptation=bool(adapt or link == "adaptive"), mcs_index=mcs_index, mcs_table=mcs_table,
        modulation_order=modulation_order, code_rate=code_rate, target_bler=target_bler, adaptation=adaptation,
        channel=ch.link_kwargs()["channel"], fading=fading, csi=ch.csi, loss_policy=loss_policy,
        decoder=decoder, downscale=downscale, downscale_choice=downscale_choice, link=extra,
    )
    return SeparationSystem(cfg)


register_system("separation", separation)


# ------------------------------------------------------------------ learned JSCC models
class LearnedSystem:
    """A learned JSCC model (:class:`semcom.models.LearnedJSCC`) on a channel, as a bench system.

    ``transmit`` runs the model's own ``transmit`` on the channel of the comparison (the model's
    ``encode``/``decode`` receive the SNR and CSI when they take them). An SNR outside the trained
    range is not an error: ``extras["extrapolated"]`` says so (``strict=True`` refuses it).
    """

    fixed_budget = True

    def __init__(self, model: Any, channel: ChannelSpec | str | None = None, *, strict: bool = False,
                 checkpoint: str | None = None, refine: Any = None) -> None:
        from semcom.models.refine import RefineConfig, supports_refinement

        if refine is not None and not supports_refinement(model):
            raise ConfigError(f"{getattr(model, 'name', type(model).__name__)}: refine needs a model with a "
                              "differentiable reconstruct() (deepjscc, adjscc)")
        self.refine = refine if refine is None or isinstance(refine, RefineConfig) else RefineConfig.from_dict(refine)
        self.model = model
        self.channel = ChannelSpec.parse(channel)
        self.strict = bool(strict)
        self.checkpoint = checkpoint
        self.name = getattr(model, "name", type(model).__name__)
        self.size_multiple = int(getattr(model, "input_multiple", getattr(model, "size_multiple", 1)))
        self._budgets: dict[tuple, int | None] = {}

    def transmit(self, source: torch.Tensor, snr_db: float, *, seed: int | torch.Generator | None = 0) -> Outcome:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # recorded in extras["extrapolated"]
            kw = {"refine": self.refine} if self.refine is not None else {}
            out = self.model.transmit(source, snr_db, seed=seed, channel=self.channel.name, strict=self.strict,
                                      csi=self.channel.csi, csi_error_var=self.channel.csi_error_var, **kw)
        return out

    def budget(self, source_shape: Sequence[int]) -> int | None:
        """Channel uses the model spends on a source of this shape (``None`` for variable-length models)."""
        key = tuple(int(s) for s in source_shape)
        if key not in self._budgets:
            if getattr(self.model, "variable_length", False):
                self._budgets[key] = None
            else:
                probe = torch.full(key, 0.5)
                self._budgets[key] = int(self.model.encode(probe)[0].channel_uses)
        return self._budgets[key]

    def describe(self) -> dict:
        meta = getattr(self.model, "metadata", {}) or {}
        return {"system": "learned", "model": self.name, "class": _qualname(self.model),
                "source_sha256": source_hash(self.model), "checkpoint": self.checkpoint,
                "checkpoint_sha256": meta.get("sha256"), "config": dataclasses.asdict(self.model.config),
                "channel": self.channel.describe(),
                **({"refine": dataclasses.asdict(self.refine)} if self.refine is not None else {})}


@functools.lru_cache(maxsize=16)
def _load(ckpt: str) -> Any:
    from semcom.models import list_pretrained, load_checkpoint, load_pretrained

    if ckpt in list_pretrained():
        return load_pretrained(ckpt)
    if Path(ckpt).suffix == ".pt" or Path(ckpt).is_file():
        return load_checkpoint(ckpt)
    raise ConfigError(f"checkpoint {ckpt!r} is neither a committed name ({list_pretrained()}) nor a .pt file")


def _one_checkpoint(ckpt: str | None, checkpoint: str | None) -> str | None:
    """``ckpt`` or its alias ``checkpoint`` (a spec gives one of them, never both)."""
    if ckpt is not None and checkpoint is not None:
        raise ConfigError("give ckpt=... or checkpoint=... (the same option), not both")
    return ckpt if ckpt is not None else checkpoint


def _refine_config(refine: int | None, refine_lr: float | None, refine_samples: int | None) -> Any:
    """The spec options ``refine=STEPS``, ``refine_lr``, ``refine_samples`` as a RefineConfig (None: off)."""
    from semcom.models.refine import RefineConfig

    if refine is None:
        if refine_lr is not None or refine_samples is not None:
            raise ConfigError("refine_lr and refine_samples need refine=STEPS")
        return None
    given = {"steps": refine, "lr": refine_lr, "samples": refine_samples}
    return RefineConfig.from_dict({k: v for k, v in given.items() if v is not None})


def learned(ckpt: str | None = None, channel: ChannelSpec | str | None = None, strict: bool = False,
            *, model: str | None = None, checkpoint: str | None = None, refine: int | None = None,
            refine_lr: float | None = None, refine_samples: int | None = None) -> LearnedSystem:
    """Any learned model from a checkpoint (``ckpt`` or ``checkpoint``: a committed name or a ``.pt`` path).

    ``refine=STEPS`` (with ``refine_lr``, ``refine_samples``): the transmitter refines the encoder's
    symbols for each image at the channel's SNR (:mod:`semcom.models.refine`; deepjscc and adjscc).
    """
    ckpt = _one_checkpoint(ckpt, checkpoint)
    if not ckpt:
        raise ConfigError("learned: give ckpt=NAME (a committed checkpoint) or ckpt=PATH.pt")
    m = _load(str(ckpt))
    if model is not None and getattr(m, "name", None) != model:
        raise ConfigError(f"checkpoint {ckpt!r} holds model {getattr(m, 'name', '?')!r}, not {model!r}")
    return LearnedSystem(m, channel, strict=strict, checkpoint=str(ckpt),
                         refine=_refine_config(refine, refine_lr, refine_samples))


learned.fixed_budget = True  # type: ignore[attr-defined]
register_system("learned", learned)

#: registered name -> the committed checkpoint used when the spec gives no ``ckpt``
DEFAULT_CHECKPOINTS = {
    "deepjscc": "deepjscc_awgn5_spp0125",
    "adjscc": "adjscc_awgn_m2to20_spp0125",
    "scc": "scc_awgn10_spp0125_105min",
    "vlscc2d": "vlscc2d_awgn10_105min",
    "vlscc1d": "vlscc1d_landmarks",
    "scc1d": "scc1d_landmarks_n32",
}


def _named_learned(model: str):
    def factory(ckpt: str | None = None, channel: ChannelSpec | str | None = None, strict: bool = False,
                checkpoint: str | None = None, refine: int | None = None, refine_lr: float | None = None,
                refine_samples: int | None = None) -> LearnedSystem:
        ckpt = _one_checkpoint(ckpt, checkpoint)
        if not ckpt:
            from semcom.models import list_pretrained

            ckpt = DEFAULT_CHECKPOINTS[model]
            if ckpt not in list_pretrained():
                raise ConfigError(f"{model}: its default checkpoint {ckpt!r} is not installed; "
                                  f"give ckpt=NAME (one of {list_pretrained()}) or ckpt=PATH.pt")
        return learned(ckpt, channel, strict, model=model, refine=refine, refine_lr=refine_lr,
                       refine_samples=refine_samples)

    factory.__name__ = factory.__qualname__ = model
    factory.__doc__ = f"The {model!r} model from ``ckpt`` (default: the committed {DEFAULT_CHECKPOINTS[model]!r})."
    factory.fixed_budget = True  # type: ignore[attr-defined]
    return factory


for _name in DEFAULT_CHECKPOINTS:
    register_system(_name, _named_learned(_name))


# ------------------------------------------------------------------ seb
@functools.lru_cache(maxsize=4)
def _seb_parts(extractor: str, patch: int, sizes: tuple[int, int], crops: int, seed: int) -> tuple[Any, Any]:
    from semcom.experiments.seb_common import build_kb_from_crops, make_extractor

    ext = make_extractor(extractor, patch)
    return ext, build_kb_from_crops(ext, patch, list(sizes), crops, seed)


class SebSystem:
    """The seb codec (explicit semantic bases, importance UEP) over the 5G link, as a bench system.

    ``delivery="stack"`` sends the index streams through the protocol stack (:mod:`semcom.stack`,
    every header counted; lost transport blocks concealed); ``"link"`` straight over the bit-true
    link with failed code blocks delivered as decoded. Status: ``failed`` when the header was lost,
    ``ok`` when every block arrived, else ``recovered``. Sources are ``[1,3,H,W]`` with H and W
    multiples of ``2 * fine_patch`` (32).
    """

    fine_patch = 16

    def __init__(self, delivery: str | None = None, cbr: float | None = None, channel: ChannelSpec | str | None = None,
                 extractor: str = "learned", fine_ratio: float = 0.2, protect_ratio: float = 0.5,
                 uep: str = "importance", rate0: float = 0.5, rate1: float = 2 / 3, kb_fine: int = 1024,
                 kb_coarse: int = 256, kb_crops: int = 1600, fidelity: str = "bittrue", seed: int = 0) -> None:
        from semcom.semantics.seb_link import SebLinkConfig, SebLinks
        from semcom.semantics.seb import SebCodec, SebCodecConfig

        ch = ChannelSpec.parse(channel)
        if ch.fading and ch.csi != "perfect":
            raise ConfigError("seb runs with perfect receiver CSI only")
        delivery = delivery or ("link" if cbr is not None else "stack")
        if delivery not in ("stack", "link"):
            raise ConfigError(f"seb: delivery must be 'stack' or 'link', got {delivery!r}")
        if cbr is not None and delivery != "link":
            raise ConfigError("seb at a given cbr fits its budget over the link (delivery=link), not through the stack")
        self.delivery, self.cbr, self.channel = delivery, cbr, ch
        self.cfg = SebLinkConfig(rates=[float(rate0), float(rate1)], protect_ratio=protect_ratio, fidelity=fidelity,
                                 channel=ch.link_kwargs()["channel"])
        self.fine_ratio, self.seed = float(fine_ratio), int(seed)
        self.settings = {"extractor": extractor, "fine_ratio": float(fine_ratio), "kb_sizes": [int(kb_fine), int(kb_coarse)],
                         "kb_crops": int(kb_crops), "seed": int(seed)}
        self.ext, self.kb = _seb_parts(extractor, self.fine_patch, (int(kb_fine), int(kb_coarse)), int(kb_crops), int(seed))
        self.codec = SebCodec(self.kb, self.ext, SebCodecConfig(self.fine_patch, 2 * self.fine_patch, fine_ratio,
                                                                protect_ratio, uep))
        self.links = SebLinks(self.cfg)
        self.name = "seb"
        self.size_multiple = 2 * self.fine_patch

    def budget(self, source_shape: Sequence[int]) -> int | None:
        """``ceil(cbr * values)`` when built at a CBR; otherwise it depends on the content (None)."""
        return None if self.cbr is None else int(math.ceil(self.cbr * source_size(source_shape)[0] - 1e-9))

    def _plan(self, source: torch.Tensor, seed: Any) -> tuple[Any, Any, list[float], float] | None:
        from semcom.semantics.seb_link import matched_seb

        if self.cbr is None:
            return self.codec, self.codec.encode(source, generator=seed), list(self.cfg.rates), self.fine_ratio
        return matched_seb(self.kb, self.ext, source, self.budget(source.shape), self.cfg)

    def transmit(self, source: torch.Tensor, snr_db: float, *, seed: int | torch.Generator | None = 0) -> Outcome:
        from semcom.semantics.seb_link import send_seb
        from semcom.utils import check_image

        source = check_image(source)
        plan = self._plan(source, 0)
        budget = self.budget(source.shape)
        if plan is None:
            return Outcome(torch.full_like(source, 0.5), "no_fit", 0, budget, error="no Seb configuration fits this budget")
        codec, msg, rates, ratio = plan
        delivery = "stack" if self.delivery == "stack" else "corrupt"
        out = send_seb(codec, msg, rates, delivery, self.links, float(snr_db), seed, self.cfg,
                       self.session(source, snr_db, seed))
        intact = all(f == 1.0 for f in out.class_cb_ok) and out.regions_lost == 0
        status = "failed" if not out.header_ok else ("ok" if intact else "recovered")
        return Outcome(out.image.clamp(0, 1), status, int(out.channel_uses),
                       budget if budget is not None else int(out.channel_uses), bits_sent=int(out.bits),
                       side_info_bits=int(out.overhead_bits),
                       extras={"delivery": self.delivery, "rates": [float(r) for r in rates], "fine_ratio": float(ratio),
                               "class_cb_ok": list(out.class_cb_ok), "regions_lost": int(out.regions_lost)})

    def describe(self) -> dict:
        return {"system": "seb", "delivery": self.delivery, "cbr": self.cbr, "channel": self.channel.describe(),
                "config": {**dataclasses.asdict(self.cfg), **self.settings}, "kb_sizes": list(self.kb.sizes)}

    def session(self, source: torch.Tensor, snr_db: float, seed: Any) -> bytes:
        """The PDCP session of one transmission: the system's seed, the source's content (SHA-256),
        the SNR and the transmission seed. Two transmissions share keys only when they send the same
        message (then the same ciphertext, which reveals nothing), never two different sources."""
        import hashlib

        from semcom.stack.security import session_id

        digest = hashlib.sha256(source.detach().cpu().float().contiguous().numpy().tobytes()).hexdigest()
        return session_id("seb_system", self.seed, digest, float(snr_db), str(seed))


register_system("seb", SebSystem)


# ------------------------------------------------------------------ prt keypoint video call
@functools.lru_cache(maxsize=2)
def _prt_context(frames_bytes: bytes, shape: tuple[int, ...]) -> Any:
    import numpy as np

    from semcom.experiments.prt_sweep import context_from_frames

    frames = np.frombuffer(frames_bytes, dtype=np.uint8).reshape(shape)
    return context_from_frames(frames, hashlib.sha256(frames_bytes).hexdigest())


class PrtKeypointSystem:
    """The prt keypoint video call as a bench system: a clip ``[T, 3, H, W]`` (a face in it) through the
    semantic chain of :func:`semcom.experiments.prt_sweep.semantic_chain` (landmarks -> importance ->
    code-block allocation -> bit-true 5G link -> concealment -> warping synthesiser).

    The grant is Table I test ``test`` (K code blocks per frame), sent per frame over the bit-true link
    at MCS ``mcs``; ``channel_uses`` is what the link spent on all frames. The receiver holds the source
    frame before the call (not counted, as in the paper). Status: ``ok`` when every code block arrived,
    else ``recovered`` (lost symbols concealed). AWGN only.
    """

    fixed_budget = True

    def __init__(self, test: int = 1, allocator: str = "cidh", concealer: str = "fc", mcs: int = 9,
                 channel: ChannelSpec | str | None = None) -> None:
        from semcom.experiments.prt_sweep import SweepConfig

        self.channel = ChannelSpec.parse(channel)
        if self.channel.fading:
            raise ConfigError("the prt keypoint system runs on AWGN only")
        self.cfg = SweepConfig(link="bittrue", snr_db=[0.0], mcs=int(mcs), tests=[int(test)], allocators=[allocator],
                               concealers=[concealer], ablation_allocators=[], eval_every=1, h265=False)
        self.test, self.allocator, self.concealer = int(test), allocator, concealer
        self.name = "prt"

    def budget(self, source_shape: Sequence[int]) -> int | None:
        return None  # the grant depends on the semantic symbols of the clip

    def transmit(self, source: torch.Tensor, snr_db: float, *, seed: int | torch.Generator | None = 0) -> Outcome:
        from semcom.experiments.prt_sweep import semantic_chain
        from semcom.utils import check_image, make_generator

        source = check_image(source, name="clip", batch="T")
        frames = (source.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).contiguous().numpy()
        ctx = _prt_context(frames.tobytes(), tuple(frames.shape))
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=make_generator(seed)))
        out = semantic_chain(ctx, self.cfg, self.test, self.allocator, self.concealer, float(snr_db), seed)
        recon = torch.stack([torch.from_numpy(out["outputs"][t]).permute(2, 0, 1) for t in sorted(out["outputs"])])
        ok = out["cb_ok"]
        from semcom.link import make_link

        grant = out["grant"]
        link = make_link("bittrue", mcs=self.cfg.mcs, max_tb_bits=grant.capacities[0])
        uses = link.plan(grant.total_bits).channel_uses * len(out["sent"])
        lost = int((~ok).sum())
        return Outcome(recon.float() / 255.0, "ok" if lost == 0 else "recovered", int(uses), int(uses),
                       bits_sent=int(sum(b.numel() for b in out["sent"])), num_cb=int(ok.numel()), num_cb_failed=lost,
                       extras={"test": self.test, "allocator": self.allocator, "concealer": self.concealer})

    def describe(self) -> dict:
        return {"system": "prt", "test": self.test, "allocator": self.allocator, "concealer": self.concealer,
                "mcs": self.cfg.mcs, "channel": self.channel.describe()}


register_system("prt", PrtKeypointSystem)


# LSCI (base model + channel-coding slice, or its bitstream over 5G LDPC): registers "lsci"
from semcom.systems import lsci as _lsci  # noqa: E402,F401
