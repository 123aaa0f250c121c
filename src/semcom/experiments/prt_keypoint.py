"""Checks of the prt keypoint application's pieces on the test clip (``semcom prt keypoint``).

Griessel et al., "Importance-Driven Semantic Resilience for Challenging Future 6G Channels",
Sec. V, scores the keypoint application with ALD: landmarks re-detected on the synthesised
frames against those detected on the original frames. Before any channel is involved, this
experiment measures what each substitute of :mod:`semcom.semantics.keypoint` contributes on the
synthetic test clip (:func:`semcom.data.talking_head.talking_head_sequence`, test portrait):

* ``detector``: MediaPipe's landmarks on the generated frames against the warp targets the
  clip was made with (how well E's input follows the synthetic motion), in pixels;
* ``clip_build_seconds``: time to generate the clip on this machine (load-dependent);
* ``synthesizer``: ALD of Syn (:class:`WarpSynthesizer`, source = frame 0) driven by the
  quantised symbols of every frame (E then Syn, nothing lost) and, as the floor to beat, of the
  still source frame shown for every frame;
* ``importance``: the mean of P's weights per symbol over the clip, and its two raw terms;
* ``concealment``: ALD of R then Syn when symbols are dropped i.i.d. at ``drop_rates`` (no
  allocation, no link: every symbol is its own code block), for the FC, hold-last and
  zero-motion concealers.

Writes ``<out>/keypoint_checks.json`` (Results with provenance).

Example:
    >>> res = run({"frames": 6, "size": 128, "drop_rates": [0.5], "concealers": ["hold_last"], "out": None})
    >>> sorted(res.data)
    ['clip_build_seconds', 'concealment', 'detector', 'importance', 'synthesizer']
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import numpy as np
import torch

from semcom.data import faces
from semcom.data.talking_head import TEST_PORTRAIT, talking_head_sequence
from semcom.errors import ConfigError
from semcom.experiments.common import load_config_file
from semcom.experiments.results import Results, provenance
from semcom.metrics.landmarks import average_landmark_distance
from semcom.semantics.keypoint import (
    SYMBOL_NAMES,
    HoldLastConcealer,
    ZeroMotionConcealer,
    keypoint_roles,
    load_concealer,
)
from semcom.semantics.symbols import CodeBlockGrant, unpack_code_blocks
from semcom.utils import from_dict

__all__ = ["KeypointChecksConfig", "run", "main"]

CONCEALERS = ("fc", "hold_last", "zero_motion")


@dataclasses.dataclass
class KeypointChecksConfig:
    """Configuration of :func:`run` (unknown keys are refused).

    Attributes:
        portrait, seed, frames, size: the synthetic clip (default: the test portrait).
        drop_rates: i.i.d. symbol drop rates of the concealment check (frame 0 always received).
        concealers: any of ``"fc"``, ``"hold_last"``, ``"zero_motion"``.
        mask_seed: seed of the drop masks.
        out: results folder (``None``: do not write).
    """

    portrait: str = TEST_PORTRAIT
    seed: int = 1000
    frames: int = 64
    size: int = 256
    drop_rates: list[float] = dataclasses.field(default_factory=lambda: [0.1, 0.5, 0.9])
    concealers: list[str] = dataclasses.field(default_factory=lambda: list(CONCEALERS))
    mask_seed: int = 0
    out: str | None = "results/prt"

    def __post_init__(self) -> None:
        if isinstance(self.frames, bool) or not isinstance(self.frames, int) or self.frames < 2:
            raise ConfigError(f"frames must be an integer >= 2, got {self.frames!r}")
        if not self.drop_rates or not all(0 <= float(r) <= 1 for r in self.drop_rates):
            raise ConfigError(f"drop_rates must be values in [0, 1], got {self.drop_rates!r}")
        if not self.concealers or not set(self.concealers) <= set(CONCEALERS):
            raise ConfigError(f"concealers must be a non-empty subset of {CONCEALERS}, got {self.concealers!r}")


def run(config: KeypointChecksConfig | dict | None = None) -> Results:
    """Measure the detector, Syn, P and the concealers on one synthetic clip (see the module docstring)."""
    cfg = config if isinstance(config, KeypointChecksConfig) else from_dict(KeypointChecksConfig, config or {})
    t0 = time.time()
    clip = talking_head_sequence(cfg.frames, cfg.size, cfg.seed, cfg.portrait)
    build_s = time.time() - t0
    with faces.FaceLandmarker() as fl:
        lms, found = faces.detect_video(clip.frames, landmarker=fl)
        if not found.all():
            raise ConfigError(f"the detector missed the face in {int((~found).sum())} frames of the clip")
        detector = {"ald_to_warp_targets_px": average_landmark_distance(lms, clip.driving, cfg.size),
                    "frames_with_face": int(found.sum()), "frames": cfg.frames}

        roles = keypoint_roles(clip.frames[0], lms[0], concealer="hold", landmarker=fl)
        e, syn, imp = roles.extractor, roles.synthesizer, roles.importance
        sent = [e.extract(lms[t], index=t) for t in range(cfg.frames)]

        def ald_of(points_per_frame: list) -> float:
            out = np.stack([syn.synthesize(p) for p in points_per_frame])
            redet, ok = faces.detect_video(out, landmarker=fl)
            if not ok.all():
                raise ConfigError("the detector missed the face on a synthesised frame")
            return average_landmark_distance(redet, lms, cfg.size)

        synthesizer = {
            "ald_px": ald_of([e.dequantise(f) for f in sent]),
            "still_source_ald_px": average_landmark_distance(np.repeat(lms[:1], cfg.frames, 0), lms, cfg.size),
        }
        rhos, motion, effect = [], [], []
        for f in sent:
            rhos.append(imp.importance(f).numpy())
            motion.append(imp.last_terms["motion"])
            effect.append(imp.last_terms["effect"])
        importance = {
            "symbols": list(SYMBOL_NAMES),
            "mean_rho": np.mean(rhos, 0).round(6).tolist(),
            "mean_motion": np.mean(motion, 0).round(8).tolist(),
            "mean_effect": np.mean(effect, 0).round(6).tolist(),
            "weights": {"motion": imp.motion_weight, "effect": imp.effect_weight, "floor": imp.floor},
        }

        grant = CodeBlockGrant.uniform(e.n_symbols, e.symbol_bits)
        eye = np.eye(e.n_symbols, dtype=int)
        concealment: dict = {}
        for rate in cfg.drop_rates:
            rng = np.random.default_rng(cfg.mask_seed + int(round(rate * 1000)))
            masks = rng.uniform(0, 1, (cfg.frames, e.n_symbols)) >= rate
            masks[0] = True
            per = {}
            for name in cfg.concealers:
                r = {"fc": load_concealer, "hold_last": HoldLastConcealer, "zero_motion": ZeroMotionConcealer}[name](e)
                history: list = []
                pts = []
                for t, f in enumerate(sent):
                    rec = unpack_code_blocks(list(f.payloads), masks[t], eye, f.sizes, grant, t)
                    c = r.conceal(tuple(history), rec)
                    history = (history + [c])[-8:]
                    pts.append(e.dequantise(c))
                per[name] = {"ald_px": ald_of(pts)}
            concealment[str(rate)] = per | {"missing_share": float(1 - masks.mean())}
    data = {"detector": detector, "synthesizer": synthesizer, "importance": importance,
            "concealment": concealment, "clip_build_seconds": round(build_s, 2)}
    res = Results("keypoint_checks", data, provenance(cfg, cfg.seed))
    if cfg.out:
        res.save(cfg.out)
    return res


def main(argv: Sequence[str] | None = None) -> int:
    from semcom import cliargs

    p = cliargs.ArgumentParser(prog="semcom prt keypoint", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=None, help="JSON file with KeypointChecksConfig keys")
    p.add_argument("--out", default=None, help="results folder (default results/prt)")
    p.add_argument("--frames", type=cliargs.typed(cliargs.parse_int, what="frames", lo=2, hi=10000), default=None)
    a = p.parse_args(argv)
    cfg = load_config_file(a.config)
    cfg.update(cliargs.given(a, ("out", "frames")))
    checked = from_dict(KeypointChecksConfig, cfg)  # a bad config fails before any work
    if checked.out:
        cliargs.check_out_dir(checked.out)
    torch.set_num_threads(1)
    res = run(cfg)
    d = res.data
    print(f"detector vs warp targets: {d['detector']['ald_to_warp_targets_px']:.3f} px")
    syn = d["synthesizer"]
    print(f"Syn ALD: {syn['ald_px']:.3f} px (still source frame: {syn['still_source_ald_px']:.3f} px)")
    for rate, per in d["concealment"].items():
        print(f"drop {rate}: " + ", ".join(f"{k} {v['ald_px']:.3f} px" for k, v in per.items() if isinstance(v, dict)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    from semcom.cliargs import guarded

    raise SystemExit(guarded(main))
