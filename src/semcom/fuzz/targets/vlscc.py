"""Fuzz targets: the VL-SCC 2D payload (``SymbolPayload``: symbols + side information).

``vlscc_side_info``: the side bits (rate map, 4 bits per 16x16 block), the image size fields and
the number of symbols are corrupted; a payload whose rate map does not announce the symbols it
holds must raise ``InputError``. A different but consistent rate map decodes (``accepted``: the
side link is error-free by design, nothing can detect it).

``vlscc_symbols``: the received complex symbols take hostile values (NaN, inf, huge, wrong dtype).
Finite perturbations are what an analog channel does (``accepted``); a non-finite symbol must be
refused or flagged. In every case a decoded image must be ``[1, 3, H, W]``, finite, in [0, 1];
otherwise the case is ``silent_wrong``.

The model is a small randomly initialised VL-SCC 2D (the decoder's parsing does not depend on
trained weights).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..core import Target, Verdict, mutate_bits, register
from .codecs import _image_ok, test_image


def _vlscc_setup():
    from semcom.models import VLSCC2D

    torch.manual_seed(0)
    model = VLSCC2D({"semantic_channels": 16, "sce_channels": 16, "ran_channels": 8, "n_symbols": 8}).eval()
    (payload,) = model.encode(test_image(64, 64))
    return model, payload


def _side_mutation(p, rng: np.random.Generator):
    what = int(rng.integers(0, 4))
    if what == 0:
        bits, note = mutate_bits(p.side_bits.numpy(), rng)
        return dataclasses.replace(p, side_bits=torch.from_numpy(bits)), "side bits: " + note
    if what == 1:
        v = [2, 255, -1, -(2**40), float("nan"), 0.5][int(rng.integers(0, 6))]
        bad = p.side_bits.to(torch.float64 if isinstance(v, float) else torch.int64)
        bad[int(rng.integers(0, bad.numel()))] = v
        return dataclasses.replace(p, side_bits=bad), f"side bit value {v!r}"
    if what == 2:
        h = [0, -16, 16, 48, 65, 128, 1 << 20, 64.0, 64.5, None, True][int(rng.integers(0, 11))]
        field = "height" if rng.random() < 0.5 else "width"
        return dataclasses.replace(p, **{field: h}), f"{field} := {h!r}"
    n = int(rng.integers(0, p.symbols.numel() + 8))
    sym = torch.cat([p.symbols, torch.ones(8, dtype=p.symbols.dtype)])[:n]
    return dataclasses.replace(p, symbols=sym), f"{n} symbols instead of {p.symbols.numel()}"


def _symbol_mutation(p, rng: np.random.Generator):
    sym = p.symbols.clone()
    idx = torch.from_numpy(rng.integers(0, sym.numel(), int(rng.integers(1, 4))))
    values = [complex(np.nan, 0), complex(np.inf, 0), complex(0, -np.inf), complex(1e38, 1e38), None]
    v = values[int(rng.integers(0, len(values)))]
    if v is None:
        noise = torch.randn(sym.shape, dtype=torch.complex64, generator=torch.Generator().manual_seed(int(rng.integers(0, 2**31))))
        return dataclasses.replace(p, symbols=sym + 0.3 * noise), "analog noise"
    sym[idx] = v
    return dataclasses.replace(p, symbols=sym), f"symbols {idx.tolist()} := {v}"


def _make_case(mutate):
    def case(state, rng: np.random.Generator) -> Verdict:
        model, payload = state
        bad, note = mutate(payload, rng)
        out = model.decode([bad])
        if not _image_ok(out, (payload.height, payload.width)):
            return Verdict("silent_wrong", f"decoded to a bad image (NaN, range or size): {note}")
        return Verdict("accepted", note)
    return case


register(Target(name="vlscc_side_info", setup=_vlscc_setup, case=_make_case(_side_mutation), timeout_s=20.0,
                area="semcom.models.vlscc: VLSCC2D.decode with corrupted side bits, sizes, symbol counts"))
register(Target(name="vlscc_symbols", setup=_vlscc_setup, case=_make_case(_symbol_mutation), timeout_s=20.0,
                area="semcom.models.vlscc: VLSCC2D.decode with non-finite or extreme received symbols"))
