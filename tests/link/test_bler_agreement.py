"""The bit-true link's code-block error rate agrees with the BLER-table link at 10 % BLER.

QPSK at code rates 1/2 and 2/3 (table entries: MCS 7 and 9 of 38.214 Table 5.1.3.1-1), single-CB
transport blocks of 1480 payload bits (LDPC K' = 1496, within the tables' code-block sizes), AWGN,
Sionna BP decoder with 20 iterations. Tolerance: 1 dB on the SNR where each curve crosses 10 %.
"""

import math

import numpy as np
import pytest
import torch

from semcom.link import BLERTableLink, MCS, NRLink

K = 1480


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def table_crossing(link: BLERTableLink, target: float = 0.1) -> float:
    """SNR (dB) where the table BLER of this link's code block equals ``target`` (bisection)."""
    cbs = link.plan(K).cb_sizes[0]
    lo, hi = -5.0, 20.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if link.cbler_at(mid, cbs) > target else (lo, mid)
    return 0.5 * (lo + hi)


def crossing(snrs, blers, target: float = 0.1) -> float:
    """Interpolated SNR where a decreasing measured BLER curve crosses ``target`` (log-BLER, linear in dB)."""
    for (s0, b0), (s1, b1) in zip(zip(snrs, blers), zip(snrs[1:], blers[1:])):
        if b0 >= target > b1:
            l0, l1 = math.log10(max(b0, 1e-3)), math.log10(max(b1, 1e-3))
            return s0 + (math.log10(target) - l0) / (l1 - l0) * (s1 - s0)
    raise AssertionError(f"BLER curve does not cross {target}: {list(zip(snrs, blers))}")


def bittrue_cbler(rate: float, snr_db: float, num_cb: int, seed: int) -> float:
    link = NRLink(MCS.from_rate(2, rate), max_tb_bits=K)
    bits = torch.randint(0, 2, (num_cb, K), generator=torch.Generator().manual_seed(seed)).float()
    return link.transmit(bits, snr_db, generator=seed).cbler()


def test_crossing_helper():
    assert crossing([0.0, 1.0], [1.0, 0.01]) == pytest.approx(0.5)
    with pytest.raises(AssertionError):
        crossing([0.0, 1.0], [0.05, 0.01])


@pytest.mark.parametrize("rate", [0.5, 2 / 3])
def test_agreement_fast(rate):
    """Cheap version: the bit-true curve crosses 10 % within 1.5 dB of the table's crossing."""
    table = BLERTableLink(MCS.from_rate(2, rate), max_tb_bits=K)
    x_t = table_crossing(table)
    assert bittrue_cbler(rate, x_t - 1.5, 32, seed=1) > 0.1
    assert bittrue_cbler(rate, x_t + 1.5, 32, seed=2) < 0.1


@pytest.mark.slow
@pytest.mark.parametrize("rate", [0.5, 2 / 3])
def test_agreement_within_1db(rate):
    table = BLERTableLink(MCS.from_rate(2, rate), max_tb_bits=K)
    x_t = table_crossing(table)
    snrs = [float(s) for s in np.round(x_t + np.arange(-1.25, 1.01, 0.25), 3)]
    blers = [bittrue_cbler(rate, s, 160, seed=10 + i) for i, s in enumerate(snrs)]
    x_b = crossing(snrs, blers)
    assert abs(x_b - x_t) <= 1.0, (x_b, x_t, list(zip(snrs, blers)))
