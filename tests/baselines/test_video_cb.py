"""H.265 over code blocks (semcom.baselines.video_cb): accounting, loss handling, no crash on garbage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcom.baselines.video_cb import (
    FALLBACK_GREY,
    FRAMING_BITS_PER_FRAME,
    H265OverCodeBlocks,
    depacketize,
    group_access_units,
    index_nal,
    link_channel,
    split_nal_units,
)
from semcom.codecs.base import CodecBudgetError
from semcom.errors import InputError
from semcom.metrics import psnr
from semcom.semantics.symbols import CodeBlockGrant

T, H, W, FPS, GOP = 12, 32, 48, 10, 6


def _video() -> torch.Tensor:
    """A smooth moving pattern (compressible, so the clean decode is good)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    frames = []
    for t in range(T):
        r = 0.5 + 0.4 * torch.sin(6 * x + 0.4 * t)
        g = 0.5 + 0.4 * torch.cos(5 * y - 0.3 * t)
        b = 0.5 + 0.3 * torch.sin(4 * (x + y) + 0.2 * t)
        frames.append(torch.stack([r, g, b]))
    return torch.stack(frames).clamp(0, 1)


@pytest.fixture(scope="module")
def setup():
    grant = CodeBlockGrant.uniform(3, 1600)
    tx = H265OverCodeBlocks(grant, fps=FPS, gop=GOP, preset="ultrafast")
    video = _video()
    packed = tx.pack(video, clean_decode=True)
    return tx, grant, video, packed


def test_bit_accounting(setup):
    tx, grant, video, packed = setup
    assert packed.blocks.shape == (T, grant.total_bits)
    assert packed.channel_bits == T * 4800
    assert packed.stream_bits + packed.framing_bits + packed.padding_bits == packed.channel_bits
    assert packed.framing_bits == FRAMING_BITS_PER_FRAME * T
    assert packed.padding_bits >= 0 and packed.stream_bits <= T * 4800 - FRAMING_BITS_PER_FRAME * T
    assert 8 * sum(packed.frame_bytes) == packed.stream_bits and len(packed.frame_bytes) == T
    assert packed.matched_kbps == pytest.approx(4800 * FPS / 1000)
    assert packed.stream_bits > 0.8 * (T * 4800 - FRAMING_BITS_PER_FRAME * T)  # the rate is used
    # the pipe on the channel is the index NALs + the stream, then zeros
    pipe = np.packbits(packed.blocks.reshape(-1).numpy().astype(np.uint8)).tobytes()
    assert pipe[:8] == index_nal(0) and pipe[8 : 8 + packed.frame_bytes[0]] == packed.stream[: packed.frame_bytes[0]]
    assert not pipe[(packed.stream_bits + packed.framing_bits) // 8 :].strip(b"\x00")
    acc = packed.accounting()
    assert acc["channel_bits"] == packed.channel_bits and acc["bits_per_interval"] == 4800
    assert sum(acc["frame_bits"]) == packed.stream_bits


def test_cbler0_decodes_like_the_clean_encode(setup):
    tx, grant, video, packed = setup
    out = tx.unpack(packed.blocks, torch.ones(T, 3, dtype=torch.bool), packed)
    assert bool(out.decoded.all()) and out.success_rate == 1.0
    assert torch.equal(out.frames, packed.clean)
    assert float(psnr(out.frames, video).mean()) > 25.0


def test_cbler1_all_fallback(setup):
    tx, grant, video, packed = setup
    noise = torch.randint(0, 2, packed.blocks.shape, generator=torch.Generator().manual_seed(0)).float()
    out = tx.unpack(noise, torch.zeros(T, 3, dtype=torch.bool), packed)
    assert not bool(out.decoded.any()) and out.frames_received == 0
    assert bool((out.frames == FALLBACK_GREY).all())


def test_a_lost_p_frame_freezes_until_the_next_key_frame(setup):
    tx, grant, video, packed = setup
    lost_frame = 2  # a P-frame of the first GOP
    start = 8 * (sum(packed.frame_bytes[:lost_frame]) + 8 * lost_frame)  # bit offset of its index NAL
    stop = start + 64 + 8 * packed.frame_bytes[lost_frame]
    ok = torch.ones(T, 3, dtype=torch.bool)
    for b in range(start // 1600, (stop - 1) // 1600 + 1):
        ok[b // 3, b % 3] = False
    bits = packed.blocks.clone()
    bits[~ok.repeat_interleave(1600, dim=1)] = 1.0 - bits[~ok.repeat_interleave(1600, dim=1)]  # lost bits are wrong
    out = tx.unpack(bits, ok, packed)
    dec = out.decoded.tolist()
    assert dec[:lost_frame] == [True] * lost_frame
    assert not any(dec[lost_frame:GOP])  # its successors reference it
    assert dec[GOP] is True  # the next key frame (with repeated parameter sets) restarts decoding
    for t in range(lost_frame, GOP):
        assert torch.equal(out.frames[t], packed.clean[lost_frame - 1])  # last good frame
    assert torch.equal(out.frames[GOP], packed.clean[GOP])


def test_over_the_erasure_link(setup):
    link_mod = pytest.importorskip("semcom.link")
    tx, grant, video, packed = setup
    for cbler, expect_all in ((0.0, True), (1.0, False)):
        link = link_mod.make_link("erasure", mcs=9, cbler=cbler, max_tb_bits=1600)
        out = tx.transmit(packed, link_channel(link, grant, generator=0))
        assert bool(out.decoded.all()) == expect_all
    bad = link_mod.make_link("erasure", mcs=9, cbler=0.0, max_tb_bits=2400)
    with pytest.raises(InputError):
        tx.transmit(packed, link_channel(bad, grant, generator=0))


def test_garbage_and_truncated_streams_never_crash(setup):
    tx, grant, video, packed = setup
    gen = torch.Generator().manual_seed(1)
    noise = torch.randint(0, 2, packed.blocks.shape, generator=gen).float()
    out = tx.unpack(noise, torch.ones(T, 3, dtype=torch.bool), packed)  # "passed" blocks full of garbage
    assert out.frames.shape == (T, 3, H, W) and bool(torch.isfinite(out.frames).all())
    # the pipe cut after a third: a truncated stream
    ok = torch.zeros(T, 3, dtype=torch.bool)
    ok.view(-1)[: T] = True
    out = tx.unpack(packed.blocks, ok, packed)
    assert out.frames.shape == (T, 3, H, W)
    assert bool(out.decoded[0]) and not bool(out.decoded[-1])
    # garbage access units with valid index NALs go to the decoder and are survived
    rnd = np.random.default_rng(0)
    junk = b"".join(index_nal(i) + b"\x00\x00\x00\x01\x02\x01" + bytes(rnd.integers(1, 256, 40, dtype=np.uint8)) for i in range(T))
    packets = depacketize(junk, np.ones(len(junk), dtype=bool))
    assert [i for i, _ in packets] == list(range(T))
    res = tx._decode(packets, T, H, W)
    assert res.frames.shape == (T, 3, H, W)
    assert depacketize(b"", np.ones(0, dtype=bool)) == []


def test_depacketize_drops_nal_units_touching_a_loss():
    a = index_nal(0) + b"\x00\x00\x00\x01\x02\x01\x80\x11\x22" + b"\x00\x00\x01\x02\x01\x33\x44"
    b_ = index_nal(1) + b"\x00\x00\x00\x01\x02\x01\x80\x55\x66"
    data = a + b_
    ok = np.ones(len(data), dtype=bool)
    assert [i for i, _ in depacketize(data, ok)] == [0, 1]
    ok2 = ok.copy()
    ok2[len(a) - 2] = False  # the tail of frame 0's second NAL unit is lost
    got = dict(depacketize(data, ok2))
    assert got[0].count(b"\x00\x00\x00\x01") == 1 and got[1].endswith(b"\x55\x66")
    ok3 = ok.copy()
    ok3[len(a) + 3] = False  # frame 1's index NAL is lost: its slice cannot be placed
    assert [i for i, _ in depacketize(data, ok3)] == [0]
    with pytest.raises(InputError):
        depacketize(data, ok[:-1])


def test_nal_parsing_and_index_nal():
    assert index_nal(0).startswith(b"\x00\x00\x01\x60\x01") and len(index_nal(12345)) == 8
    nals = split_nal_units(index_nal(300))
    assert nals == [(3, 8, 48)]
    s = b"\x00\x00\x00\x01\x40\x01\xaa" + b"\x00\x00\x01\x02\x01\x80\x01" + b"\x00\x00\x01\x02\x01\x00\x02" + \
        b"\x00\x00\x01\x02\x01\x80\x03"
    assert [len(au) for au in group_access_units(s)] == [3, 1]
    with pytest.raises(InputError):
        index_nal(-1)


def test_bad_input(setup):
    tx, grant, video, packed = setup
    with pytest.raises(InputError):
        tx.unpack(packed.blocks[:-1], torch.ones(T, 3, dtype=torch.bool), packed)
    with pytest.raises(InputError):
        tx.unpack(packed.blocks, torch.ones(T, 2, dtype=torch.bool), packed)
    with pytest.raises(InputError):
        H265OverCodeBlocks((100, 100), fps=10)
    with pytest.raises(InputError):
        H265OverCodeBlocks(grant, fps=0)
    with pytest.raises(InputError):
        tx.pack(video[:, :, :31])  # odd height
    tiny = H265OverCodeBlocks(CodeBlockGrant.uniform(1, 40), fps=FPS)
    with pytest.raises(InputError):
        tiny.pack(video)  # the grant does not carry the framing
    small = H265OverCodeBlocks(CodeBlockGrant.uniform(1, 80), fps=FPS, preset="ultrafast")
    with pytest.raises(CodecBudgetError):
        small.pack(video)


@pytest.mark.parametrize("flag", [0.5, float("nan"), 2.0, -1.0])
def test_crc_flags_that_are_not_booleans_are_refused(setup, flag):
    """A CRC flag of 0.5, NaN or 2 used to count as "passed" (``.to(bool)``); found by ``semcom fuzz``."""
    tx, grant, video, packed = setup
    ok = torch.ones(T, 3)
    ok[1, 2] = flag
    with pytest.raises(InputError, match="booleans or 0/1"):
        tx.unpack(packed.blocks, ok, packed)


def test_docstring_examples():
    import doctest

    import semcom.baselines.video_cb as mod

    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0
