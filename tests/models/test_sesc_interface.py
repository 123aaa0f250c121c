"""The interface both SE-SC codecs share (the masked transformer ``sesc`` and the masked CNN
``sesc_cnn``): symbol and mask-bit accounting, reproducible transmission, typed errors on bad input.
Model-specific behaviour is in ``test_sesc.py`` and ``test_sesc_cnn.py``."""

import pytest
import torch

from semcom.errors import CodecError, InputError
from semcom.models import build_model
from semcom.models.deepjscc import SymbolPayload
from semcom.semantics.sesc import encode_mask

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {
    "sesc": {"dim": 16, "dec_dim": 16, "enc_layers": 1, "dec_layers": 1, "heads": 2, "dec_heads": 2,
             "symbols_per_patch": 4},
    "sesc_cnn": {"dim": 16, "dec_dim": 16, "enc_layers": 2, "dec_layers": 2, "symbols_per_patch": 4},
}


@pytest.fixture(scope="module", params=sorted(TINY))
def model(request):
    torch.manual_seed(0)
    return build_model(request.param, TINY[request.param]).eval()


def _img(h=32, w=48, seed=0):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_encode_counts_symbols_and_mask_bits(model):
    x = _img()
    keep = torch.zeros(1, 24, dtype=torch.bool)
    keep[0, [0, 5, 6, 7, 20]] = True
    p = model.encode(x, keep)[0]
    bits = encode_mask(keep[0].numpy())
    assert p.symbol_uses == 5 * 4 and p.side_bits.tolist() == bits.tolist()
    assert p.channel_uses == 20 + len(bits)  # 1 bit per channel use on the side link
    assert abs(float((p.symbols.abs() ** 2).mean()) - 1) < 1e-4
    out = model.transmit(x, 10.0, seed=0, keep=keep)
    assert out.channel_uses == p.channel_uses and out.image.shape == x.shape and out.side_bits == len(bits)
    assert model.transmit(x, 10.0, seed=0).payload.symbol_uses == 24 * 4


def test_transmit_is_reproducible_and_channels_run(model):
    x = _img()
    for ch in ("awgn", "rayleigh"):
        assert torch.equal(model.transmit(x, 5.0, seed=3, channel=ch).image, model.transmit(x, 5.0, seed=3, channel=ch).image)


@pytest.mark.parametrize("bad", ["size", "nan", "gray"])
def test_bad_images_get_typed_errors(model, bad):
    x = {"size": torch.rand(1, 3, 30, 32), "nan": torch.full((1, 3, 32, 32), float("nan")),
         "gray": torch.rand(1, 1, 32, 32)}[bad]  # 30 is not a multiple of the patch size
    with pytest.raises(InputError):
        model.encode(x)


def test_bad_masks_and_payloads_get_typed_errors(model):
    with pytest.raises(InputError):
        model.encode(_img(32, 32), torch.ones(1, 15, dtype=torch.bool))
    with pytest.raises(InputError):
        model.encode(_img(32, 32), torch.zeros(1, 16, dtype=torch.bool))  # nothing sent
    p = model.encode(_img(32, 32))[0]
    with pytest.raises(InputError):  # symbol count does not match the mask
        model.decode([SymbolPayload(p.symbols[:-4], p.side_bits, 32, 32)])
    with pytest.raises(CodecError):  # corrupt mask code
        model.decode([SymbolPayload(p.symbols, torch.tensor([1, 1, 0], dtype=torch.uint8), 32, 32)])
    nan = p.symbols.clone()
    nan[0] = complex(float("nan"), 0)
    with pytest.raises(InputError):
        model.decode([SymbolPayload(nan, p.side_bits, 32, 32)])
    with pytest.raises(InputError):
        model.transmit(_img(32, 32), float("nan"))
