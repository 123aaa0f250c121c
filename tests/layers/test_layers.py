"""semcom.layers: forward values and the custom gradients of Eq. 1-5, GDN, power normalisation."""

import math

import pytest
import torch

from semcom.errors import InputError
from semcom.layers import GDN, IGDN, kept_symbols, masked_power_normalize, quantize_rate, rate_mask, side_bits_per_index


# ------------------------------------------------------------------ quantiser, Eq. 1-2
@pytest.mark.parametrize("levels", [2, 4, 16])
def test_quantizer_forward_matches_eq1_intervals(levels):
    r = torch.linspace(0, 1, 1001)
    q = quantize_rate(r, levels)
    for l in range(levels):  # Eq. 1: q = l when (l-0.5)/(L-1) <= r < (l+0.5)/(L-1)
        inside = (r > (l - 0.5) / (levels - 1) + 1e-6) & (r < (l + 0.5) / (levels - 1) - 1e-6)
        assert torch.all(q[inside] == l)
    assert set(q.unique().tolist()) == set(float(l) for l in range(levels))


def test_quantizer_gradient_is_L_minus_1_eq2():
    r = torch.rand(5, 7, generator=torch.Generator().manual_seed(1), requires_grad=True)
    w = torch.randn(5, 7, generator=torch.Generator().manual_seed(2))
    (quantize_rate(r, 16) * w).sum().backward()
    torch.testing.assert_close(r.grad, 15 * w)


def test_quantizer_exact_mode_has_no_proxy_gradient():
    r = torch.rand(4, requires_grad=True)
    q = quantize_rate(r, 16, mode="exact")
    assert not q.requires_grad
    torch.testing.assert_close(q, quantize_rate(r, 16, mode="ste").detach())


@pytest.mark.parametrize("bad", [dict(levels=1), dict(levels=2.5), dict(mode="noise")])
def test_quantizer_bad_arguments(bad):
    with pytest.raises(InputError):
        quantize_rate(torch.rand(3), **bad)
    with pytest.raises(InputError):
        quantize_rate(torch.tensor([1, 2]))  # integer tensor


# ------------------------------------------------------------------ mask, Eq. 3-5
@pytest.mark.parametrize("n,levels", [(64, 16), (10, 16), (512, 16), (7, 4)])
def test_mask_forward_matches_eq3(n, levels):
    q = torch.arange(levels, dtype=torch.float32)
    m = rate_mask(q, n, levels)
    assert m.shape == (levels, n)
    for l in range(levels):
        expect = torch.tensor([1.0 if i < n * l / (levels - 1) else 0.0 for i in range(n)])  # Eq. 3
        torch.testing.assert_close(m[l], expect)
        k = int(m[l].sum())
        assert torch.all(m[l, :k] == 1) and torch.all(m[l, k:] == 0)  # ones before zeros
        assert k == math.ceil(n * l / (levels - 1)) == int(kept_symbols(torch.tensor(float(l)), n, levels))
    assert torch.all(m[-1] == 1) and torch.all(m[0] == 0)


@pytest.mark.parametrize("n,levels", [(64, 16), (10, 16), (7, 4)])
def test_mask_gradient_matches_eq5(n, levels):
    q = torch.arange(levels, dtype=torch.float64).requires_grad_(True)
    g = torch.randn(levels, n, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    (rate_mask(q, n, levels) * g).sum().backward()
    expect = torch.zeros(levels, dtype=torch.float64)
    for l in range(levels):
        for i in range(n):
            c = math.ceil((levels - 1) * i / n)
            if c - 2 < l <= c + 1:  # Eq. 5: 1/3 on the 3-unit interval around the boundary
                expect[l] += g[l, i] / 3
    torch.testing.assert_close(q.grad, expect)


def test_mask_gradient_window_is_three_units_wide():
    # d m_i / d q for a single symbol i, as q sweeps all levels: exactly 3 levels carry 1/3
    n, levels = 15, 16  # (L-1)/N = 1: the boundary of symbol i sits at q = i
    for i in range(n):
        q = torch.arange(levels, dtype=torch.float64).requires_grad_(True)
        onehot = torch.zeros(levels, n, dtype=torch.float64)
        onehot[:, i] = 1
        (rate_mask(q, n, levels) * onehot).sum().backward()
        nz = torch.nonzero(q.grad).flatten().tolist()
        assert nz == [l for l in range(levels) if i - 2 < l <= i + 1]
        assert torch.allclose(q.grad[nz], torch.full((len(nz),), 1 / 3, dtype=torch.float64))


def test_rate_gradient_chain_quantiser_then_mask():
    # r -> Eq. 1 -> q -> Eq. 3 -> m: dm/dr = (L-1) * (1/3) inside the window
    r = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    n, levels = 15, 16
    m = rate_mask(quantize_rate(r, levels), n, levels)
    m[0, 8].backward()  # q = round(7.5) = 8; symbol 8's window is (6, 9] -> inside
    assert float(r.grad) == pytest.approx(15 / 3)


def test_mask_exact_mode_and_errors():
    q = torch.tensor([[3.0, 15.0]])
    m = rate_mask(q, 64, 16, mode="exact")
    assert m.shape == (1, 2, 64) and not m.requires_grad
    torch.testing.assert_close(m, rate_mask(q, 64, 16, mode="ste"))
    with pytest.raises(InputError):
        rate_mask(torch.tensor([16.0]), 64, 16)
    with pytest.raises(InputError):
        rate_mask(torch.tensor([float("nan")]), 64, 16)
    with pytest.raises(InputError):
        rate_mask(q, 0, 16)
    with pytest.raises(InputError):
        rate_mask(q, 8, 16, mode="soft")
    assert side_bits_per_index(16) == 4 and side_bits_per_index(5) == 3


# ------------------------------------------------------------------ GDN and power
def test_gdn_formula_and_inverse():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 5, generator=g)
    gdn = GDN(3)
    with torch.no_grad():
        gdn.gamma.copy_(gdn._gamma_np.init(torch.tensor([[0.2, 0.05, 0.0], [0.0, 0.3, 0.1], [0.1, 0.0, 0.4]])))
        gdn.beta.copy_(gdn._beta_np.init(torch.tensor([1.0, 0.5, 2.0])))
    beta = torch.tensor([1.0, 0.5, 2.0])
    gamma = torch.tensor([[0.2, 0.05, 0.0], [0.0, 0.3, 0.1], [0.1, 0.0, 0.4]])
    norm = beta.view(1, 3, 1, 1) + torch.einsum("ij,bjhw->bihw", gamma, x * x)
    torch.testing.assert_close(gdn(x), x / torch.sqrt(norm), atol=1e-5, rtol=1e-5)
    igdn = IGDN(3)
    igdn.load_state_dict(gdn.state_dict())
    torch.testing.assert_close(igdn(x), x * torch.sqrt(norm), atol=1e-5, rtol=1e-5)
    with pytest.raises(InputError):
        gdn(torch.randn(1, 4, 2, 2))


def test_masked_power_normalize_unit_power_over_sent_symbols():
    g = torch.Generator().manual_seed(0)
    y = torch.complex(torch.randn(3, 4, 4, 8, generator=g), torch.randn(3, 4, 4, 8, generator=g)) * 5
    m = (torch.rand(3, 4, 4, 8, generator=g) < 0.4).float()
    z = masked_power_normalize(y, m)
    p = ((z.abs() ** 2) * m).sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3))
    torch.testing.assert_close(p, torch.ones(3))
    with pytest.raises(InputError):
        masked_power_normalize(y.real, m)
    with pytest.raises(InputError):
        masked_power_normalize(y, m[..., :4])
