"""The compiled Gaussian noise (semcom.link._gauss) and NRLink(noise="fast")."""

import math

import numpy as np
import pytest
import torch

from semcom.errors import ConfigError, InputError, LinkError
from semcom.link import MCS, LinkConfig, NRLink, make_link
from semcom.link._gauss import LAYERS, complex_normal_fast, normal_fast, ziggurat_tables

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_SIDE = 1000  # 1000 x 1000 complex samples: 2e6 real N(0, 1) values


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    """2e6 real samples: real and imaginary parts of CN(0, 2), i.e. N(0, 1) each."""
    z = complex_normal_fast((N_SIDE, N_SIDE), seed=12345, var=2.0, threads=1)
    return torch.view_as_real(z).reshape(-1).double().numpy()


def test_tables_have_equal_layers():
    t = ziggurat_tables()
    x, f, v = t["x"], t["f"], t["v"]
    assert t["r"] == pytest.approx(3.6541528853610088, rel=1e-12)  # Marsaglia & Tsang's 256-layer edge
    assert x[0] * f[1] == pytest.approx(v, rel=1e-12)  # base layer: rectangle of width x[0]
    areas = x[1:LAYERS] * (f[2:] - f[1:LAYERS])
    np.testing.assert_allclose(areas, v, rtol=1e-9)
    assert x[LAYERS] == 0.0 and f[LAYERS] == 1.0 and np.all(np.diff(x[1:]) < 0)


def test_moments_within_standard_errors(samples):
    n = samples.size
    m = samples.mean()
    c = samples - m
    var = (c ** 2).mean()
    skew = (c ** 3).mean() / var ** 1.5
    kurt = (c ** 4).mean() / var ** 2
    assert abs(m) < 5 / math.sqrt(n)
    assert abs(var - 1) < 5 * math.sqrt(2 / n)
    assert abs(skew) < 5 * math.sqrt(6 / n)
    assert abs(kurt - 3) < 5 * math.sqrt(24 / n)


@pytest.mark.parametrize("t", [2.0, 3.0, 4.0])
def test_tail_probabilities(samples, t):
    p = math.erfc(t / math.sqrt(2))  # P(|x| > t) of N(0, 1)
    n = samples.size
    assert abs(float((np.abs(samples) > t).mean()) - p) < 5 * math.sqrt(p * (1 - p) / n) + 1 / n


def test_kolmogorov_smirnov(samples):
    stats = pytest.importorskip("scipy.stats")
    assert stats.kstest(samples[:500_000], "norm").pvalue > 1e-3
    tail = np.abs(samples[np.abs(samples) > 3.0])  # the outer layers and the tail
    assert stats.kstest(tail, lambda x: 1 - math.erfc(3 / math.sqrt(2)) ** -1 * stats.norm.sf(x) * 2).pvalue > 1e-3


def test_reproducible_and_independent_of_threads():
    a = complex_normal_fast((7, 5003), seed=9, var=0.5, threads=1)
    assert a.dtype == torch.complex64 and a.shape == (7, 5003)
    assert torch.equal(a, complex_normal_fast((7, 5003), seed=9, var=0.5, threads=2))
    assert torch.equal(a, complex_normal_fast((7, 5003), seed=9, var=0.5))
    # a row depends only on (seed, row): fewer rows give the same leading rows; the leading dims are rows
    assert torch.equal(a[:3], complex_normal_fast((3, 5003), seed=9, var=0.5, threads=2))
    assert torch.equal(complex_normal_fast((2, 3, 50), seed=4).reshape(6, 50), complex_normal_fast((6, 50), seed=4))


def test_rows_and_seeds_differ():
    a = normal_fast(2, 1000, seed=1, threads=1)
    b = normal_fast(2, 1000, seed=2, threads=1)
    assert np.mean(a[0] == a[1]) < 0.01
    assert np.mean(a == b) < 0.01
    assert abs(np.corrcoef(a[0], a[1])[0, 1]) < 5 / math.sqrt(1000)
    assert np.mean(normal_fast(1, 1000, seed=2 ** 64 - 1) == normal_fast(1, 1000, seed=0)) < 0.01


def test_complex_variance_convention():
    z = complex_normal_fast((200, 5000), seed=3, var=0.3)
    assert float(z.abs().pow(2).mean()) == pytest.approx(0.3, rel=0.01)
    assert float(z.real.var()) == pytest.approx(0.15, rel=0.01) and float(z.imag.var()) == pytest.approx(0.15, rel=0.01)
    assert abs(float((z.real * z.imag).mean())) < 5 * 0.15 / math.sqrt(z.numel())
    assert complex_normal_fast((4,), seed=1).shape == (4,) and complex_normal_fast((0, 3), seed=1).shape == (0, 3)
    assert torch.equal(complex_normal_fast((3, 8), seed=1, var=0.0), torch.zeros(3, 8, dtype=torch.complex64))


@pytest.mark.parametrize("kw", [dict(shape=(-1, 3)), dict(seed=-1), dict(seed=2 ** 64), dict(seed=True),
                                dict(seed=1.5), dict(var=-1.0), dict(var=float("nan")), dict(threads=0)])
def test_bad_input_raises(kw):
    args = dict(shape=(2, 3), seed=1, var=1.0, threads=None) | kw
    with pytest.raises(InputError):
        complex_normal_fast(**args)


# --------------------------------------------------------------------------- NRLink(noise="fast")
QPSK_12 = MCS.from_rate(2, 0.5)


def _bits(shape, seed=0):
    return torch.randint(0, 2, shape, generator=torch.Generator().manual_seed(seed)).float()


@pytest.mark.parametrize("channel", ["awgn", "rayleigh", "rayleigh_fast"])
def test_link_fast_noise_reproducible_and_differs_from_torch(channel):
    bits = _bits((4, 800))
    link = NRLink(QPSK_12, max_tb_bits=400, channel=channel, noise="fast")
    a = link.transmit(bits, -1.0, generator=3)
    b = link.transmit(bits, -1.0, generator=3)
    assert torch.equal(a.bits, b.bits) and torch.equal(a.cb_ok, b.cb_ok)
    assert not torch.equal(a.bits, link.transmit(bits, -1.0, generator=4).bits)
    t = NRLink(QPSK_12, max_tb_bits=400, channel=channel).transmit(bits, -1.0, generator=3)
    assert not torch.equal(a.bits, t.bits)
    assert NRLink(QPSK_12, noise="fast").describe()["noise"] == "fast"
    if channel != "awgn":  # the fading gains stay torch draws: the same as with noise="torch"
        assert torch.equal(a.channel_gain, t.channel_gain)


def test_link_fast_noise_same_in_both_chains():
    pytest.importorskip("sionna")
    bits = _bits((3, 900), seed=2)
    res = [NRLink(QPSK_12, max_tb_bits=450, chain=chain, noise="fast").transmit(bits, 0.5, generator=8)
           for chain in ("fast", "sionna")]
    assert torch.equal(res[0].cb_ok, res[1].cb_ok)
    assert float((res[0].bits != res[1].bits).float().mean()) < 1e-3  # LLRs equal up to float rounding


def test_link_fast_noise_threads_do_not_matter():
    bits = _bits((6, 800), seed=5)
    a = NRLink(QPSK_12, max_tb_bits=400, noise="fast", num_threads=1).transmit(bits, 0.0, generator=2)
    b = NRLink(QPSK_12, max_tb_bits=400, noise="fast", num_threads=2).transmit(bits, 0.0, generator=2)
    assert torch.equal(a.bits, b.bits) and torch.equal(a.cb_ok, b.cb_ok)


def test_link_noise_option_is_checked_and_plumbed():
    with pytest.raises(LinkError, match="noise"):
        NRLink(QPSK_12, noise="numpy")
    with pytest.raises(ConfigError, match="noise"):
        make_link("erasure", mcs=9, cbler=0.1, noise="fast")
    with pytest.raises(ConfigError, match="noise"):
        LinkConfig.from_dict({"fidelity": "bittrue", "mcs_index": 9, "noise": "bad"}).build()
    assert make_link("bittrue", mcs=9, noise="fast").noise == "fast"
    assert LinkConfig.from_dict({"fidelity": "bittrue", "mcs_index": 9, "noise": "fast"}).build().noise == "fast"
    assert LinkConfig.from_dict({"fidelity": "bittrue", "mcs_index": 9}).build().noise == "torch"


def test_bler_equal_to_torch_noise_at_the_waterfall():
    """QPSK 1/2, 3000 single-CB TBs of 400 bits at 2 dB (BLER ~0.1): the two sources agree within
    a two-proportion interval (4.5 standard errors)."""
    bits = _bits((3000, 400), seed=1)
    bler = {}
    for noise in ("torch", "fast"):
        res = NRLink(QPSK_12, max_tb_bits=400, noise=noise).transmit(bits, 2.0, generator=7)
        bler[noise] = float((~res.tb_ok).float().mean())
    p = 0.5 * (bler["torch"] + bler["fast"])
    assert 0.02 < p < 0.5, bler  # a waterfall point: the test can see a difference
    assert abs(bler["torch"] - bler["fast"]) < 4.5 * math.sqrt(2 * p * (1 - p) / 3000), bler
