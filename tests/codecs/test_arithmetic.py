"""The adaptive arithmetic coder of the LSCI indices: round trip, rate near the entropy, bad input."""

import math

import pytest
import torch

from semcom.codecs.arithmetic import (
    decode_indices, decode_symbols, empirical_entropy_bits, encode_indices, encode_symbols,
)
from semcom.errors import CodecError, InputError


def _skewed(shape, levels, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = torch.softmax(torch.randn(levels, generator=g) * 2, 0)
    n = math.prod(shape)
    return torch.multinomial(p, n, replacement=True, generator=g).reshape(shape)


@pytest.mark.parametrize("shape,levels", [((16, 8, 8), 8), ((3, 2, 5), 2), ((1, 1, 1), 256), ((5, 4, 4), 5)])
def test_round_trip(shape, levels):
    idx = _skewed(shape, levels)
    data = encode_indices(idx, levels, (shape[1] * 16, shape[2] * 16), factor=16, tag=77)
    got, size = decode_indices(data, levels, factor=16, tag=77)
    assert torch.equal(got, idx) and size == (shape[1] * 16, shape[2] * 16)


def test_symbols_round_trip_many_contexts():
    g = torch.Generator().manual_seed(3)
    sym = torch.randint(0, 6, (3000,), generator=g).tolist()
    ctx = torch.randint(0, 4, (3000,), generator=g).tolist()
    assert decode_symbols(encode_symbols(sym, ctx, 6, 4), 3000, ctx, 6, 4) == sym


def test_rate_close_to_entropy_and_below_bound():
    idx = _skewed((16, 16, 16), 8)
    body_bits = 8 * len(encode_indices(idx, 8, (256, 256), factor=16)) - 15 * 8
    h = empirical_entropy_bits(idx, 8)
    assert h <= body_bits <= 1.10 * h + 64          # adaptive coding costs a few % over order-0 entropy
    assert body_bits < idx.numel() * 3               # below the Eq. 5 bound dim * log2(L)


def test_corrupt_streams_raise_codec_error():
    idx = _skewed((8, 4, 4), 8)
    data = encode_indices(idx, 8, (64, 64), factor=16, tag=5)
    bad = [b"", data[:10], b"X" + data[1:], data[:15], data[:-3],
           data[:20] + bytes([data[20] ^ 0xFF]) + data[21:], data[:3] + b"\x09" + data[4:]]
    for blob in bad:
        with pytest.raises(CodecError):
            decode_indices(blob, 8, factor=16, tag=5)
    with pytest.raises(CodecError):
        decode_indices(data, 8, factor=16, tag=6)      # another model's stream
    with pytest.raises(CodecError):
        decode_indices(data, 4, factor=16, tag=5)      # other number of centres
    with pytest.raises(CodecError):
        decode_indices("text", 8, factor=16)


def test_random_garbage_never_decodes():
    g = torch.Generator().manual_seed(1)
    for _ in range(30):
        blob = bytes(torch.randint(0, 256, (40,), generator=g).tolist())
        with pytest.raises(CodecError):
            decode_indices(blob, 8, factor=16)


def test_bad_indices_input_error():
    with pytest.raises(InputError):
        encode_indices(torch.zeros(2, 2), 8, (32, 32), factor=16)
    with pytest.raises(InputError):
        encode_indices(torch.full((1, 2, 2), 8), 8, (32, 32), factor=16)
    with pytest.raises(InputError):
        encode_indices(torch.zeros(1, 2, 2, dtype=torch.float32), 8, (32, 32), factor=16)
    with pytest.raises(InputError):
        encode_indices(torch.zeros(1, 2, 2, dtype=torch.long), 8, (64, 64), factor=16)
