"""make_link / LinkConfig: every fidelity, strict keyword checking."""

import pytest
import torch

from semcom.errors import ConfigError, LinkError
from semcom.link import (BLERTableLink, CapacityLink, ErasureLink, LinkConfig, LinkResult, MCS, NRLink,
                         make_link)


def test_make_link_builds_each_fidelity():
    m = MCS.from_table(9)
    assert isinstance(make_link("bittrue", mcs=m), NRLink)
    assert isinstance(make_link("bler_table", mcs=m), BLERTableLink)
    assert isinstance(make_link("erasure", mcs=m, cbler=0.1), ErasureLink)
    assert isinstance(make_link("capacity"), CapacityLink)
    assert isinstance(make_link(mcs=9), NRLink)  # default fidelity


def test_make_link_refuses_unknown():
    with pytest.raises(ConfigError):
        make_link("bittrue", mcs=9, cbler=0.1)  # erasure-only keyword
    with pytest.raises(ConfigError):
        make_link("erasure", mcs=9, cbler=0.1, decoder="fast")
    with pytest.raises(ConfigError):
        make_link("nonsense", mcs=9)
    with pytest.raises(LinkError):
        make_link("erasure", mcs=9)  # cbler missing
    with pytest.raises(LinkError):
        make_link("bittrue", mcs=9, channel="rician")
    with pytest.raises(LinkError):
        make_link("bittrue", mcs=9, decoder="turbo")
    with pytest.raises(LinkError):
        make_link("bittrue")  # MCS missing


def test_link_config_from_dict():
    cfg = LinkConfig.from_dict({"fidelity": "erasure", "mcs_index": 9, "cbler": 0.0, "max_tb_bits": 500})
    link = cfg.build()
    assert isinstance(link, ErasureLink) and link.max_tb_bits == 500
    res = link.transmit(torch.ones(3, 1000), 0.0)
    assert isinstance(res, LinkResult) and res.bits.eq(1).all()
    cfg = LinkConfig.from_dict({"fidelity": "bittrue", "modulation_order": 4, "code_rate": 0.5, "decoder": "sionna"})
    assert cfg.build().mcs == MCS.from_rate(4, 0.5)
    with pytest.raises(ConfigError):
        LinkConfig.from_dict({"fidelity": "bittrue", "mcs_idx": 9})  # unknown key
    with pytest.raises(ConfigError):
        LinkConfig.from_dict({"fidelity": "bittrue", "mcs_index": 9, "cbler": 0.1}).build()
    with pytest.raises(ConfigError):
        LinkConfig.from_dict({"fidelity": "bittrue"}).build()
    with pytest.raises(ConfigError):
        LinkConfig.from_dict({"fidelity": "bittrue", "mcs_index": 9, "code_rate": 0.5}).build()
    with pytest.raises(ConfigError):
        LinkConfig.from_dict({"fidelity": "bittrue", "mcs_index": 29}).build()  # reserved index


def test_describe_is_plain_data():
    import json

    for link in [make_link("bittrue", mcs=9), make_link("erasure", mcs=9, cbler=0.2), make_link("capacity")]:
        json.dumps(link.describe())


def test_links_take_seed_as_well_as_generator():
    """One name across systems, links and channels: ``seed=`` is ``generator=``; both at once is an error."""
    import pytest
    import torch

    from semcom.errors import InputError
    from semcom.link import MCS, make_link

    bits = torch.randint(0, 2, (1, 600), generator=torch.Generator().manual_seed(0)).float()
    for fidelity in ("bittrue", "erasure", "capacity"):
        kw = {"cbler": 0.3} if fidelity == "erasure" else {}
        link = make_link(fidelity=fidelity, mcs=MCS.from_rate(2, 0.5), channel="awgn", **kw)
        a = link.transmit(bits, 1.0, seed=3)
        b = link.transmit(bits, 1.0, generator=3)
        assert torch.equal(a.bits, b.bits) and torch.equal(a.cb_ok, b.cb_ok)
        with pytest.raises(InputError, match="not both"):
            link.transmit(bits, 1.0, seed=3, generator=3)
