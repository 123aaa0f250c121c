"""FastTBChain.encode_awgn_llrs and encode_noisy_llrs (encoding fused with the AWGN kernels) equal
encode followed by awgn_llrs / noisy_llrs, float for float."""

import numpy as np
import pytest
import torch

from semcom.errors import InputError, LinkError
from semcom.link import MCS
from semcom.link.base import normal_pairs
from semcom.link.chain_fast import FastTBChain
from semcom.link.layout import tb_layout

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _same_floats(a, b):
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("qm, rate, k", [(2, 0.5, 500), (2, 0.5, 16400), (4, 2 / 3, 8700), (4, 2 / 3, 20000)])
@pytest.mark.parametrize("threads", [1, 2])
def test_encode_fused_equals_encode_then_channel(qm, rate, k, threads):
    mcs = MCS.from_rate(qm, rate)
    chain = FastTBChain(tb_layout(k, mcs), mcs, num_threads=threads)
    u = np.random.default_rng(2).integers(0, 2, (5, chain.lay.tbs)).astype(np.float32)  # the link's float bits
    c = chain.encode(u)
    z = normal_pairs((5, chain.lay.num_re), torch.Generator().manual_seed(6))
    for no in (10 ** -0.4, 1.3):
        assert _same_floats(chain.encode_awgn_llrs(u, 41, no), chain.awgn_llrs(c, 41, no))
        assert _same_floats(chain.encode_awgn_llrs(u[2:], 41, no, row0=2), chain.awgn_llrs(c[2:], 41, no, row0=2))
        assert _same_floats(chain.encode_noisy_llrs(u, z, no, threads=1), chain.noisy_llrs(c, z, no))
        assert _same_floats(chain.encode_noisy_llrs(u.astype(np.uint8), z.numpy(), no), chain.noisy_llrs(c, z, no))


def test_encode_fused_errors():
    mcs = MCS.from_rate(2, 0.5)
    chain = FastTBChain(tb_layout(2000, mcs), mcs)
    u = np.zeros((2, chain.lay.tbs), np.float32)
    z = torch.zeros(2, chain.lay.num_re, 2)
    bad = u.copy()
    bad[1, 3] = np.nan
    with pytest.raises(InputError, match="0 or 1"):
        chain.encode_awgn_llrs(bad, 1, 0.5)
    with pytest.raises(InputError, match="0 or 1"):
        chain.encode_noisy_llrs(bad, z, 0.5)
    with pytest.raises(InputError, match="TB bits"):
        chain.encode_noisy_llrs(u[:, 1:], z, 0.5)
    with pytest.raises(InputError, match="noise draws"):
        chain.encode_noisy_llrs(u, z[:, 1:], 0.5)
    with pytest.raises(InputError, match="seed"):
        chain.encode_awgn_llrs(u, -1, 0.5)
    with pytest.raises(InputError, match="positive"):
        chain.encode_noisy_llrs(u, z, -1.0)
    m16 = MCS.from_rate(4, 0.5)
    app = FastTBChain(tb_layout(2000, m16), m16, demapper="app")
    with pytest.raises(LinkError, match="fused"):
        app.encode_awgn_llrs(np.zeros((1, app.lay.tbs), np.float32), 1, 0.5)
