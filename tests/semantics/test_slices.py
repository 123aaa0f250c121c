"""Model propagation of LSCI slice models: compression, packages over the link, refusals."""

import pytest
import torch

from semcom.errors import ConfigError, InputError
from semcom.models.lsci_slices import ChannelSlice
from semcom.semantics.slices import (
    SliceCorruptError, SliceMissingError, SliceReceiver, SliceServer, SliceVersionError, pack_slice, prune,
    send_over_link, unpack_slice,
)

CFG = {"latent_channels": 2, "symbols": 1, "layers": 2, "hidden": [4, 4, 4]}
BUILDERS = {"lsci_channel_slice": lambda c: ChannelSlice(c)}


def _slice(seed=0):
    torch.manual_seed(seed)
    return ChannelSlice(CFG)


def test_quantisation_error_bounded_and_sparsity_exact():
    net = _slice()
    for bits in (4, 8, 12):
        sd, _ = unpack_slice(pack_slice(net.state_dict(), kind="k", name="n", base_version="v", config={},
                                        bits=bits), base_version="v")
        for key, t in net.state_dict().items():
            step = (t.max() - t.min()) / (2 ** bits - 1) if t.numel() > 1 else 0
            assert (sd[key] - t).abs().max() <= step / 2 + 1e-6, key
    sd, _ = unpack_slice(pack_slice(net.state_dict(), kind="k", name="n", base_version="v", config={},
                                    bits=8, sparsity=0.7), base_version="v")
    w = sd["encoders.0.2.weight"]
    assert abs(float((w == 0).float().mean()) - 0.7) < 0.02


def test_prune_keeps_largest():
    t = torch.tensor([[0.1, -5.0], [0.3, 2.0]])
    assert prune(t, 0.5).tolist() == [[False, True], [False, True]]


def test_smaller_packages_with_fewer_bits_and_more_sparsity():
    sd = _slice().state_dict()
    sizes = [len(pack_slice(sd, kind="k", name="n", base_version="v", config={}, bits=b, sparsity=s))
             for b, s in ((16, 0.0), (8, 0.0), (4, 0.0), (4, 0.8))]
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.slow
def test_round_trip_over_bit_true_link_and_assembly():
    _round_trip("bittrue", {})


def test_round_trip_over_link_abstraction_and_assembly():
    _round_trip("erasure", {"cbler": 0.0})


def _round_trip(fidelity, kw):
    from semcom.link import make_link

    server = SliceServer("base-v1")
    net = _slice()
    pkg = server.add("awgn", net, "lsci_channel_slice", CFG, bits=6, sparsity=0.5)
    link = make_link(fidelity, mcs=9, **kw)
    got = send_over_link(pkg, link, snr_db=20.0, generator=1)
    assert got.bits == 8 * len(pkg) and got.channel_uses > 0 and got.cb_failed == 0
    rx = SliceReceiver("base-v1", BUILDERS)
    assert rx.receive(got.received) == "awgn"
    ref_sd, _ = unpack_slice(pkg, base_version="base-v1")
    ref = ChannelSlice(CFG)
    ref.load_state_dict(ref_sd)
    wq = torch.randn(1, 2, 3, 3)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(rx.get("awgn")(wq, 10.0, g1)[0], ref.eval()(wq, 10.0, g2)[0])


def test_corrupted_slice_rejected_and_not_installed():
    from semcom.link import make_link

    server = SliceServer("base-v1")
    pkg = server.add("awgn", _slice(), "lsci_channel_slice", CFG)
    got = send_over_link(pkg, make_link("erasure", mcs=9, cbler=1.0), snr_db=10.0, generator=0)
    rx = SliceReceiver("base-v1", BUILDERS)
    with pytest.raises(SliceCorruptError):
        rx.receive(got.received)
    flipped = bytearray(pkg)
    flipped[len(pkg) // 2] ^= 1
    with pytest.raises(SliceCorruptError):
        rx.receive(bytes(flipped))
    assert "awgn" not in rx.installed and rx.log[-1]["event"] == "refused"


def test_version_mismatch_refused_and_missing_slice_requested():
    server = SliceServer("base-v2")
    server.add("awgn", _slice(), "lsci_channel_slice", CFG)
    rx = SliceReceiver("base-v1", BUILDERS)
    with pytest.raises(SliceVersionError):
        rx.receive(server.packages["awgn"])
    with pytest.raises(SliceMissingError) as info:
        rx.get("awgn")
    with pytest.raises(SliceVersionError):
        server.serve(info.value.request)                # the sender serves another base version
    good = SliceServer("base-v1")
    good.add("awgn", _slice(), "lsci_channel_slice", CFG)
    assert rx.receive(good.serve(info.value.request)) == "awgn"
    assert isinstance(rx.get("awgn"), ChannelSlice)


def test_bad_input():
    sd = _slice().state_dict()
    with pytest.raises(ConfigError):
        pack_slice(sd, kind="k", name="n", base_version="v", config={}, bits=1)
    with pytest.raises(ConfigError):
        pack_slice(sd, kind="k", name="n", base_version="v", config={}, sparsity=1.0)
    bad = dict(sd)
    bad["decoder.0.weight"] = bad["decoder.0.weight"].clone().fill_(float("nan"))
    with pytest.raises(InputError):
        pack_slice(bad, kind="k", name="n", base_version="v", config={})
    for blob in (b"", b"SLC1" + b"\0" * 40, "text"):
        with pytest.raises(SliceCorruptError):
            unpack_slice(blob, base_version="v")
