"""FastTBChain.encode_awgn_llrs (encoding fused with the compiled-noise AWGN kernel) equals encode
followed by awgn_llrs, float for float."""

import numpy as np
import pytest

from semcom.errors import InputError, LinkError
from semcom.link import MCS
from semcom.link.chain_fast import FastTBChain
from semcom.link.layout import tb_layout

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _same_floats(a, b):
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("qm, rate, k", [(2, 0.5, 500), (2, 0.5, 16400), (4, 2 / 3, 8700), (4, 2 / 3, 20000),
                                         (2, 120 / 1024, 3000)])  # the last repeats bits
@pytest.mark.parametrize("threads", [1, 2])
def test_encode_fused_equals_encode_then_channel(qm, rate, k, threads):
    mcs = MCS.from_rate(qm, rate)
    chain = FastTBChain(tb_layout(k, mcs), mcs, num_threads=threads)
    u = np.random.default_rng(2).integers(0, 2, (5, chain.lay.tbs)).astype(np.float32)  # the link's float bits
    c = chain.encode(u)
    for no in (10 ** -0.4, 1.3):
        assert _same_floats(chain.encode_awgn_llrs(u, 41, no), chain.awgn_llrs(c, 41, no))
        assert _same_floats(chain.encode_awgn_llrs(u[2:], 41, no, row0=2), chain.awgn_llrs(c[2:], 41, no, row0=2))
        assert _same_floats(chain.encode_awgn_llrs(u.astype(np.uint8), 41, no, threads=1), chain.awgn_llrs(c, 41, no))


def test_encode_fused_errors():
    mcs = MCS.from_rate(2, 0.5)
    chain = FastTBChain(tb_layout(2000, mcs), mcs)
    u = np.zeros((2, chain.lay.tbs), np.float32)
    bad = u.copy()
    bad[1, 3] = np.nan
    with pytest.raises(InputError, match="0 or 1"):
        chain.encode_awgn_llrs(bad, 1, 0.5)
    with pytest.raises(InputError, match="TB bits"):
        chain.encode_awgn_llrs(u[:, 1:], 1, 0.5)
    with pytest.raises(InputError, match="seed"):
        chain.encode_awgn_llrs(u, -1, 0.5)
    with pytest.raises(InputError, match="overflow"):  # as awgn_llrs: no = 1e-40
        chain.encode_awgn_llrs(u, 1, 1e-40)
    with pytest.raises(InputError):
        chain.encode_awgn_llrs(u, 1, -1.0)
    m16 = MCS.from_rate(4, 0.5)
    app = FastTBChain(tb_layout(2000, m16), m16, demapper="app")
    with pytest.raises(LinkError, match="fused"):
        app.encode_awgn_llrs(np.zeros((1, app.lay.tbs), np.float32), 1, 0.5)
