"""What the LDPC decoder studies share (``semcom bench ldpc`` and its ``--tuning`` study): random
codewords through QAM and AWGN to channel LLRs, block errors, the Eb/N0 of a BLER crossing, and
Sionna's decoder in memory-bounded batches."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from semcom.utils import make_generator


def qpsk_awgn_llrs(encoder: Any, num_codewords: int, ebno_db: float, generator: torch.Generator) -> tuple:
    """Random info bits ``[B, k]``, their QPSK/AWGN channel logits ``[B, n]`` (exact max-log) and Es/N0 in dB.

    ``Es/N0 = Eb/N0 * 2 * k / n`` (2 coded bits per QPSK symbol, ``k/n`` information bits per coded bit);
    noise ``CN(0, no)`` with ``no = 10**(-esno_db/10)`` at unit symbol energy.
    """
    from semcom.link.demap_fast import demap_qam_maxlog

    k, n = encoder.k, encoder.n
    u = torch.randint(0, 2, (num_codewords, k), generator=generator).to(torch.float32)
    c = encoder(u)
    esno_db = ebno_db + 10.0 * math.log10(2.0 * k / n)
    no = 10.0 ** (-esno_db / 10.0)
    c2 = c.reshape(num_codewords, n // 2, 2)
    x = torch.complex(1.0 - 2.0 * c2[..., 0], 1.0 - 2.0 * c2[..., 1]) / math.sqrt(2.0)
    w = torch.complex(torch.randn(x.shape, generator=generator), torch.randn(x.shape, generator=generator))
    y = x + math.sqrt(no / 2.0) * w
    return u, demap_qam_maxlog(y, no, 2), esno_db


def block_errors(u_hat: torch.Tensor, u: torch.Tensor) -> np.ndarray:
    """Per-codeword block error flags ``[B]`` (any information bit wrong)."""
    return (u_hat != u).any(dim=-1).cpu().numpy()


def snr_at_bler(ebno_db: Sequence[float], bler: Sequence[float], target: float = 0.1) -> float | None:
    """The Eb/N0 where a measured BLER curve crosses ``target``, interpolating ``log10(BLER)`` linearly.

    Points with zero BLER are skipped (log undefined) except to bound the crossing. Returns ``None``
    when the curve does not cross ``target``.

    Example:
        >>> round(snr_at_bler([1.0, 2.0], [1.0, 0.01], 0.1), 3)
        1.5
    """
    x = np.asarray(ebno_db, dtype=float)
    y = np.asarray(bler, dtype=float)
    order = np.argsort(x)
    x, y = x[order], y[order]
    for i in range(len(x) - 1):
        if y[i] >= target >= y[i + 1] and y[i] > 0:
            if y[i + 1] <= 0:
                return float(x[i + 1])
            ly0, ly1, lt = math.log10(y[i]), math.log10(y[i + 1]), math.log10(target)
            if ly0 == ly1:
                return float(x[i])
            return float(x[i] + (lt - ly0) * (x[i + 1] - x[i]) / (ly1 - ly0))
    return None


def calibrate_ebno(encoder: Any, decoder: Any, codewords: int, target: float, seed: int) -> float:
    """Eb/N0 (on a 0.05 dB grid) at which ``decoder``'s BLER first drops to ``target`` or below (bisection)."""
    lo, hi = -1.0, 8.0
    for _ in range(8):
        mid = round((lo + hi) / 2 / 0.05) * 0.05
        gen = make_generator(seed)
        u, llr, _ = qpsk_awgn_llrs(encoder, codewords, mid, gen)
        bler = float(block_errors(decoder(llr), u).mean())
        if bler > target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 0.05 + 1e-9:
            break
    return round(hi, 2)


def qam_awgn_llrs(encoder: Any, num_codewords: int, ebno_db: float, generator: torch.Generator,
                  bits_per_symbol: int = 2) -> tuple:
    """Random info bits ``[B, k]`` and their Gray-QAM/AWGN channel logits ``[B, n]`` (exact max-log).

    ``Es/N0 = Eb/N0 * m * k / n`` at unit symbol energy; the same generator state gives the same bits
    and noise realisation at every Eb/N0 (only the noise's scale changes).
    """
    from sionna.phy.mapping import Mapper

    from semcom.link.demap_fast import demap_qam_maxlog

    k, n, m = encoder.k, encoder.n, bits_per_symbol
    u = torch.randint(0, 2, (num_codewords, k), generator=generator).to(torch.float32)
    x = Mapper("qam", m)(encoder(u))
    no = 10.0 ** (-(ebno_db + 10.0 * math.log10(m * k / n)) / 10.0)
    w = torch.complex(torch.randn(x.shape, generator=generator), torch.randn(x.shape, generator=generator))
    return u, demap_qam_maxlog(x + math.sqrt(no / 2.0) * w.to(x.dtype), no, m)


def sionna_decode(dec: Any, llr: torch.Tensor, batch: int) -> torch.Tensor:
    """Sionna's decoder in batches of at most ``batch`` words and about 2x10^5 LLRs (long codes are memory bound)."""
    batch = max(16, min(batch, 200_000 // llr.shape[-1]))
    return torch.cat([dec(llr[i:i + batch]) for i in range(0, llr.shape[0], batch)])


def gap_se(grid: list, curve: list, eb0: float, errors_sio: int, discordant: int) -> float | None:
    """Standard error (dB) of a gap: paired count noise in decades over the local slope (decades/dB)."""
    i = grid.index(eb0)
    lo, hi = max(i - 1, 0), min(i + 1, len(grid) - 1)
    if curve[hi] <= 0:  # steep long codes: no error one step up, take the slope below instead
        hi = i
    if errors_sio == 0 or curve[lo] <= 0 or curve[hi] <= 0 or hi == lo:
        return None
    slope = (math.log10(curve[lo]) - math.log10(curve[hi])) / (grid[hi] - grid[lo])
    if slope <= 0:
        return None
    return round(math.sqrt(max(discordant, 1)) / errors_sio / math.log(10.0) / slope, 4)
