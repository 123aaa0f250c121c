"""Error-resilient H.264/H.265 over code blocks (semcom.baselines.video_resilient): slices sized to the
blocks, exact accounting, concealment of a lost block, FEC repair, total loss without a crash or hang."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from semcom.baselines.video_resilient import (
    FRAMING_BITS_PER_UNIT,
    UNIT_HEADER_BYTES,
    ResilientVideoOverCodeBlocks,
    access_units,
    fec_positions,
    pack_units,
    parse_block,
    parse_nal_units,
)
from semcom.codecs.base import CodecBudgetError
from semcom.errors import InputError
from semcom.metrics import psnr
from semcom.semantics.symbols import CodeBlockGrant

T, H, W, FPS = 10, 48, 64, 10
K, C = 5, 384  # Table I test 3's grant: 5 blocks of 384 bits (48 bytes)
_MORE, _CONT = 0x8000, 0x4000


def _video() -> torch.Tensor:
    """A smooth moving pattern with some texture (compressible, so the clean decode is good)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    frames = []
    for t in range(T):
        r = 0.5 + 0.4 * torch.sin(9 * x + 0.5 * t)
        g = 0.5 + 0.4 * torch.cos(7 * y - 0.4 * t)
        b = 0.5 + 0.3 * torch.sin(6 * (x + y) + 0.3 * t)
        frames.append(torch.stack([r, g, b]))
    return torch.stack(frames).clamp(0, 1)


def _blocks_bytes(packed) -> list[bytes]:
    """The T*K blocks as bytes, in time order."""
    g = packed.grant
    out = []
    for t in range(packed.shape[0]):
        for s, e in g.ranges:
            bits = packed.blocks[t, s:e].numpy().astype(np.uint8)
            out.append(np.packbits(bits[: (e - s) // 8 * 8]).tobytes())
    return out


@pytest.fixture(scope="module")
def video():
    return _video()


@pytest.fixture(scope="module")
def h264(video):
    tx = ResilientVideoOverCodeBlocks(CodeBlockGrant.uniform(K, C), fps=FPS, standard="h264", refresh=5,
                                      preset="fast")
    return tx, tx.pack(video, clean_decode=True)


@pytest.fixture(scope="module")
def h265(video):
    tx = ResilientVideoOverCodeBlocks(CodeBlockGrant.uniform(K, C), fps=FPS, standard="h265", refresh=5,
                                      preset="fast")
    return tx, tx.pack(video, clean_decode=True)


def _slices_and_fragments(packed):
    """(whole H.264 slices, fragmented NAL units joined) carried by the blocks."""
    units = [u for blk in _blocks_bytes(packed) for u in parse_block(blk)]
    whole = [p for _, flags, p in units if flags == 0 and 1 <= (p[0] & 0x1F) <= 5]
    frags, cur = [], b""
    for _, flags, p in units:
        if flags:
            cur = (cur if flags & _CONT else b"") + p
            if not flags & _MORE:
                frags.append(cur)
    return whole, frags


def test_h264_slices_are_sized_to_the_code_block_grant(h264):
    tx, packed = h264
    room = C // 8 - UNIT_HEADER_BYTES
    assert "slice-max-size=" in packed.encoder_params and "intra-refresh=1" in packed.encoder_params
    assert "bframes=0" in packed.encoder_params
    whole, frags = _slices_and_fragments(packed)
    assert len(whole) + len(frags) == sum(packed.slices) > T  # the first (IDR) picture needs several slices
    assert all(len(p) <= room for p in whole)  # every slice that fits a block lies whole in one block
    # only a slice larger than a block (one macroblock x264 cannot split) crosses blocks
    assert len(frags) == packed.fragmented and all(len(p) > room for p in frags)
    assert packed.fragmented <= sum(packed.slices) // 4


def test_h264_slices_never_cross_a_block_when_macroblocks_fit(video):
    """With blocks larger than any macroblock (200 bytes), no slice crosses a block at all."""
    tx = ResilientVideoOverCodeBlocks(CodeBlockGrant.uniform(2, 1600), fps=FPS, standard="h264", refresh=5, preset="fast")
    packed = tx.pack(video)
    whole, frags = _slices_and_fragments(packed)
    assert packed.fragmented == 0 and frags == [] and len(whole) == sum(packed.slices) > T
    assert 0 < packed.max_slice_bytes <= 1600 // 8 - UNIT_HEADER_BYTES


def test_h265_slices_nearest_equivalent_and_fragments(h265):
    tx, packed = h265
    # one slice per block on average (K), capped by the CTU rows: 48 rows of pixels are 3 rows of 16
    assert "ctu=16:slices=3" in packed.encoder_params
    units = [u for blk in _blocks_bytes(packed) for u in parse_block(blk)]
    heads = [u for u in units if u[1] & _MORE and not u[1] & _CONT]
    assert len(heads) == packed.fragmented  # a fragmented slice starts once
    assert all(n == packed.slices[0] for n in packed.slices)  # x265: N slices per picture


@pytest.mark.parametrize("fixture", ["h264", "h265"])
def test_bit_accounting_is_exact(fixture, request):
    tx, packed = request.getfixturevalue(fixture)
    assert packed.blocks.shape == (T, K * C) and packed.channel_bits == T * K * C
    assert packed.stream_bits + packed.framing_bits + packed.fec_bits + packed.padding_bits == packed.channel_bits
    units = [u for blk in _blocks_bytes(packed) for u in parse_block(blk)]
    assert packed.framing_bits == FRAMING_BITS_PER_UNIT * len(units)
    assert packed.stream_bits == 8 * sum(len(p) for _, _, p in units)
    assert packed.fec_bits == 0 and packed.padding_bits >= 0
    assert packed.out_of_band_bits > 0  # parameter sets, signalled at set-up
    assert packed.stream_bits > 0.5 * packed.channel_bits  # the rate is used
    acc = packed.accounting()
    assert acc["channel_bits"] == T * K * C and acc["matched_kbps"] == pytest.approx(K * C * FPS / 1000)


@pytest.mark.parametrize("fixture", ["h264", "h265"])
def test_no_loss_decodes_like_the_clean_encode(fixture, request, video):
    tx, packed = request.getfixturevalue(fixture)
    out = tx.unpack(packed.blocks, torch.ones(T, K, dtype=torch.bool), packed)
    assert bool(out.decoded.all()) and bool(out.complete.all()) and out.concealed_rate == 0.0
    assert torch.equal(out.frames, packed.clean)
    assert float(psnr(out.frames, video).mean()) > 20.0


def _block_of_a_slice(packed, want_frame_with_more_slices=True):
    """(block index, frame) of a block that carries a slice of a P-frame with at least two slices, and only it."""
    blocks = _blocks_bytes(packed)
    for i, blk in enumerate(blocks):
        units = parse_block(blk)
        frames = {f for f, _, _ in units}
        if len(frames) == 1:
            (f,) = frames
            if f > 0 and packed.slices[f] > len(units) and all(flags == 0 for _, flags, _ in units):
                return i, f
    raise AssertionError("no block carries part of a multi-slice P-frame")


def test_h264_conceals_a_lost_block(h264, video):
    tx, packed = h264
    i, f = _block_of_a_slice(packed)
    ok = torch.ones(T, K, dtype=torch.bool)
    ok[i // K, i % K] = False
    bits = packed.blocks.clone()
    bits[i // K] = 1.0 - bits[i // K]  # what a failed block carries is garbage; it must not be read
    out = tx.unpack(torch.where(ok.repeat_interleave(C, dim=1), packed.blocks, bits), ok, packed)
    assert not bool(out.complete[f]) and bool(out.complete[:f].all())
    assert bool(out.decoded[f])  # the partly received picture is output (concealed), not dropped
    assert out.concealed_rate > 0
    assert torch.equal(out.frames[:f], packed.clean[:f])
    assert not torch.equal(out.frames[f], packed.clean[f])
    assert float(psnr(out.frames[f : f + 1], packed.clean[f : f + 1])) > 20.0  # concealment, not garbage


def test_h265_recovery_policy_freezes_a_damaged_picture(h265):
    tx, packed = h265
    assert tx.display == "recovery"
    i, f = _block_of_a_slice(packed)
    ok = torch.ones(T, K, dtype=torch.bool)
    ok[i // K, i % K] = False
    out = tx.unpack(packed.blocks, ok, packed)
    assert not bool(out.complete[f]) and not bool(out.decoded[f])
    assert torch.equal(out.frames[f], out.frames[f - 1])  # the last shown frame
    # the picture is shown again once a whole refresh period of complete frames has passed
    assert all(bool(out.decoded[t]) == (t < f or t >= f + tx.refresh) for t in range(T))


@pytest.mark.parametrize("fixture", ["h264", "h265"])
def test_every_block_lost_is_all_fallback_without_a_hang(fixture, request):
    tx, packed = request.getfixturevalue(fixture)
    garbage = torch.randint(0, 2, packed.blocks.shape, generator=torch.Generator().manual_seed(0)).float()
    t0 = time.monotonic()
    out = tx.unpack(garbage, torch.zeros(T, K, dtype=torch.bool), packed)
    assert time.monotonic() - t0 < 10.0
    assert not bool(out.decoded.any()) and not bool(out.complete.any()) and out.frames_received == 0
    assert bool((out.frames == 0.5).all())
    # garbage in blocks whose CRC "passed" is survived too (decoder errors, never an exception)
    out = tx.unpack(garbage, torch.ones(T, K, dtype=torch.bool), packed)
    assert out.frames.shape == (T, 3, H, W) and bool(torch.isfinite(out.frames).all())


def test_fec_repairs_one_lost_block_per_group(video):
    tx = ResilientVideoOverCodeBlocks(CodeBlockGrant.uniform(K, C), fps=FPS, standard="h264", refresh=5, fec_group=3,
                                      preset="fast")
    packed = tx.pack(video, clean_decode=True)
    assert packed.fec_bits == (T * K // 3) * C  # one parity block per 3
    assert packed.stream_bits + packed.framing_bits + packed.fec_bits + packed.padding_bits == packed.channel_bits
    blocks = _blocks_bytes(packed)
    for p in np.flatnonzero(fec_positions(T * K, 3)):
        x = np.bitwise_xor(np.frombuffer(blocks[p - 2], np.uint8), np.frombuffer(blocks[p - 1], np.uint8))
        assert x.tobytes() == blocks[p]
    ok = torch.ones(T, K, dtype=torch.bool)
    ok[0, 0] = ok[3, 4] = False  # one per group: both repaired
    out = tx.unpack(packed.blocks, ok, packed)
    assert out.blocks_repaired == 2 and bool(out.complete.all()) and torch.equal(out.frames, packed.clean)
    ok[0, 1] = False  # two in one group: not repairable
    out = tx.unpack(packed.blocks, ok, packed)
    assert out.blocks_repaired == 1 and not bool(out.complete.all())


def test_scale_codes_a_smaller_picture(video):
    tx = ResilientVideoOverCodeBlocks(CodeBlockGrant.uniform(K, C), fps=FPS, standard="h264", refresh=5, scale=2,
                                      preset="fast")
    packed = tx.pack(video, clean_decode=True)
    assert packed.coded_shape == (T, H // 2, W // 2) and packed.clean.shape == (T, 3, H, W)
    out = tx.unpack(packed.blocks, torch.ones(T, K, dtype=torch.bool), packed)
    assert torch.equal(out.frames, packed.clean) and float(psnr(out.frames, video).mean()) > 20.0


def test_units_pack_and_parse():
    units = [(0, b"\x65" + bytes(range(1, 30))), (0, b"\x41" * 10), (1, b"\x41" * 100), (2, b"\x01\x02")]
    blocks, written, fragmented = pack_units(units, [48, 48])
    assert fragmented == 1 and all(len(b) <= 48 for b in blocks)
    parsed = [u for b in blocks for u in parse_block(b.ljust(48, b"\0"))]
    assert written == len(parsed)
    whole = [(f, p) for f, flags, p in parsed if flags == 0]
    assert whole[:2] == units[:2] and whole[-1] == units[-1]
    frag = b"".join(p for f, flags, p in parsed if f == 1)
    assert frag == units[2][1]
    assert [flags for f, flags, _ in parsed if f == 1][0] == _MORE
    # a unit that fits an empty block is never split: it opens a new block
    blocks, _, fragmented = pack_units([(0, b"a" * 30), (0, b"b" * 30)], [48])
    assert fragmented == 0 and len(blocks) == 2
    assert parse_block(b"") == [] and parse_block(b"\0" * 10) == []
    assert parse_block(b"\x00\x01\x00\xff" + b"x" * 4) == []  # a length past the block's end
    rng = np.random.default_rng(0)
    for _ in range(50):
        parse_block(rng.integers(0, 256, 48, dtype=np.uint8).tobytes())  # never raises
    with pytest.raises(InputError):
        pack_units([(0, b"x")], [4])


def test_nal_parsing_groups_pictures():
    s = (b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x00\x01\x68\xce" + b"\x00\x00\x01\x06\x05\x10"
         + b"\x00\x00\x01\x65\x88\x01" + b"\x00\x00\x01\x65\x20\x01" + b"\x00\x00\x01\x41\x9a\x02")
    nals = parse_nal_units(s, "h264")
    assert [n.type for n in nals] == [7, 8, 6, 5, 5, 1]
    assert [n.parameter_set for n in nals] == [True, True, False, False, False, False]
    assert nals[2].droppable and [n.first_in_picture for n in nals[3:]] == [True, False, True]
    assert [len(au) for au in access_units(nals)] == [5, 1]
    with pytest.raises(InputError):
        parse_nal_units(s, "vp9")


def test_bad_input(h264, video):
    tx, packed = h264
    g = CodeBlockGrant.uniform(K, C)
    for kwargs in ({"standard": "vp9"}, {"fec_group": 1}, {"refresh": 1}, {"scale": 3}, {"display": "best"},
                   {"slices": 0}):
        with pytest.raises(InputError):
            ResilientVideoOverCodeBlocks(g, fps=FPS, **kwargs)
    with pytest.raises(InputError):
        ResilientVideoOverCodeBlocks(CodeBlockGrant((384, 392)), fps=FPS, fec_group=2)  # unequal blocks
    with pytest.raises(InputError):
        ResilientVideoOverCodeBlocks(CodeBlockGrant.uniform(2, 64), fps=FPS)  # blocks below 16 bytes
    with pytest.raises(InputError):
        tx.unpack(packed.blocks[:-1], torch.ones(T, K, dtype=torch.bool), packed)
    with pytest.raises(InputError):
        tx.unpack(packed.blocks, torch.ones(T, K + 1, dtype=torch.bool), packed)
    with pytest.raises(InputError):
        tx.unpack(packed.blocks * 2, torch.ones(T, K, dtype=torch.bool), packed)
    with pytest.raises(InputError):
        tx.pack(video[:, :, :47])  # odd height
    small = ResilientVideoOverCodeBlocks(CodeBlockGrant.uniform(1, 128), fps=FPS, preset="fast")
    noise = torch.rand(T, 3, H, W, generator=torch.Generator().manual_seed(0))
    with pytest.raises(CodecBudgetError):
        small.pack(noise)


def test_docstring_examples():
    import doctest

    import semcom.baselines.video_resilient as mod

    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0
