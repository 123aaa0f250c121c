"""demap_qam_maxlog: agreement with Sionna's max-log demapper, labelling, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sionna.phy.mapping import Constellation, Demapper, Mapper

from semcom.errors import InputError
from semcom.link.demap_fast import demap_qam_maxlog, qam_pam_levels
from semcom.utils import make_generator


@pytest.mark.parametrize("m", [2, 4, 6, 8])
def test_constellation_is_sionnas(m):
    levels, labels = qam_pam_levels(m)
    pts = Constellation("qam", m)().detach().numpy()
    for q in range(2**m):
        bits = [(q >> (m - 1 - j)) & 1 for j in range(m)]
        re = int("".join(map(str, bits[0::2])), 2)
        im = int("".join(map(str, bits[1::2])), 2)
        assert abs(levels[re] + 1j * levels[im] - pts[q]) < 1e-6
        assert labels[re].tolist() == bits[0::2]


@pytest.mark.parametrize("m", [2, 4, 6, 8])
def test_agrees_with_sionna_maxlog(m):
    g = make_generator(m)
    y = torch.complex(torch.randn(8, 300, generator=g), torch.randn(8, 300, generator=g)) * 0.9
    ref_dm = Demapper("maxlog", "qam", m)
    # scalar no
    ref = ref_dm(y, torch.tensor(0.2))
    out = demap_qam_maxlog(y, 0.2, m)
    assert out.shape == (8, 300 * m) and out.dtype == torch.float32
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-3 * float(ref.abs().max()) * 1e-2)
    # per-symbol no (e.g. no / |h|^2 after equalising a fading channel)
    no = torch.rand(8, 300, generator=g) * 0.5 + 0.02
    ref = ref_dm(y, no)
    out = demap_qam_maxlog(y, no, m)
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-3)
    # broadcast per row
    no_row = torch.rand(8, 1, generator=g) + 0.1
    assert torch.allclose(demap_qam_maxlog(y, no_row, m), ref_dm(y, no_row), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("m", [2, 4, 6])
def test_noiseless_symbols_give_correct_signs(m):
    bits = torch.randint(0, 2, (4, 60 * m), generator=make_generator(1)).float()
    x = Mapper("qam", m)(bits)
    llr = demap_qam_maxlog(x, 0.01, m)
    assert torch.equal((llr > 0).float(), bits)  # logits: positive means bit 1


def test_qpsk_closed_form_and_numpy_input():
    y = np.array([[0.3 - 0.2j, -1.0 + 0.5j]], dtype=np.complex64)
    out = demap_qam_maxlog(y, 0.5, 2)
    expect = -2.0 * np.sqrt(2.0) / 0.5 * np.array([[0.3, -0.2, -1.0, 0.5]])
    assert np.allclose(out.numpy(), expect, rtol=1e-5)
    assert demap_qam_maxlog(torch.zeros(0, 5, dtype=torch.complex64), 1.0, 4).shape == (0, 20)


def test_bad_inputs_raise():
    y = torch.zeros(2, 3, dtype=torch.complex64)
    with pytest.raises(InputError):
        demap_qam_maxlog(torch.zeros(2, 3), 1.0, 2)  # not complex
    with pytest.raises(InputError):
        demap_qam_maxlog(y, 0.0, 2)
    with pytest.raises(InputError):
        demap_qam_maxlog(y, -1.0, 2)
    with pytest.raises(InputError):
        demap_qam_maxlog(y, torch.ones(4), 2)  # does not broadcast
    with pytest.raises(InputError):
        demap_qam_maxlog(y, torch.ones(5, 2, 3), 2)  # would enlarge y
    for m in (0, 3, 14, 2.0, True):
        with pytest.raises(InputError):
            demap_qam_maxlog(y, 1.0, m)
    bad = y.clone()
    bad[0, 1] = complex(float("nan"), 0.0)
    with pytest.raises(InputError):
        demap_qam_maxlog(bad, 1.0, 4)
    with pytest.raises(InputError):
        demap_qam_maxlog(y, float("inf"), 4)
