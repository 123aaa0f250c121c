"""The bench's core: Outcome accounting, system specs and registry, channel naming."""

import doctest
import importlib

import pytest
import torch

from semcom.errors import ConfigError, InputError
from semcom.systems import (
    SYSTEMS, ChannelSpec, Outcome, build_system, canonical_channel, get_system, parse_spec, register_system,
    source_size,
)


# ------------------------------------------------------------------ Outcome accounting
def test_rates_image_count_side_information_once():
    out = Outcome(torch.zeros(1, 3, 16, 16), "recovered", channel_uses=192, channel_uses_budget=200,
                  bits_sent=256, side_info_bits=24, num_cb=3, num_cb_failed=1)
    r = out.rates((1, 3, 16, 16))
    assert r.cbr == pytest.approx(192 / 768)
    assert r.spp == pytest.approx(192 / 256)
    assert r.bpp == pytest.approx((256 + 24) / 256)
    assert out.total_bits == 280 and not out.failed


def test_rates_clip_and_vector_sources():
    out = Outcome(torch.zeros(4, 3, 8, 8), "ok", channel_uses=96)
    assert out.rates((4, 3, 8, 8)).spp == pytest.approx(96 / 256)
    vec = Outcome(torch.zeros(1, 32), "ok", channel_uses=16)
    r = vec.rates((1, 32))
    assert r.cbr == pytest.approx(0.5) and r.spp is None and r.bpp is None
    assert source_size((2, 10)) == (20, None)


@pytest.mark.parametrize("kw", [dict(status="lost"), dict(channel_uses=-1), dict(channel_uses=1.5),
                                dict(num_cb=1, num_cb_failed=2), dict(bits_sent=True), dict(channel_uses=None),
                                dict(channel_uses_budget=-3), dict(reconstruction=None), dict(extras=[])])
def test_outcome_refuses_inconsistent_values(kw):
    args = dict(reconstruction=torch.zeros(1, 3, 4, 4), status="ok", channel_uses=4)
    args.update(kw)
    with pytest.raises(InputError):
        Outcome(**args)


def test_failed_statuses():
    for status, failed in [("ok", False), ("recovered", False), ("failed", True), ("no_fit", True)]:
        assert Outcome(torch.zeros(1, 3, 4, 4), status, 0).failed is failed


# ------------------------------------------------------------------ specs and registry
def test_parse_spec_options_and_types():
    s = parse_spec("separation:codec=heif,link=adaptive,target_bler=0.1,mcs_index=9,strict=true,x=none")
    assert s.name == "separation"
    assert s.options == {"codec": "heif", "link": "adaptive", "target_bler": 0.1, "mcs_index": 9,
                         "strict": True, "x": None}
    assert parse_spec("seb").options == {} and parse_spec("seb").label == "seb"


def test_parse_spec_module_qualname():
    s = parse_spec("mymodule.sub:MySystem:rate=2,label=mine")
    assert s.name == "mymodule.sub:MySystem" and s.options == {"rate": 2} and s.label == "mine"


@pytest.mark.parametrize("bad", ["", ":x=1", "sep:codec=heif,flag", "sep:a=1,a=2", "a:b:c:d=1:e=2", "sep:=3"])
def test_parse_spec_errors(bad):
    with pytest.raises(ConfigError):
        parse_spec(bad)


class _Toy:
    """A minimal system: sends the source through unchanged at one channel use per value."""

    def __init__(self, scale: float = 1.0, channel=None, cbr=None):
        self.scale, self.channel, self.cbr = scale, channel, cbr
        self.name = "toy"

    def transmit(self, source, snr_db, *, seed=0):
        return Outcome(source * self.scale, "ok", source.numel())

    def describe(self):
        return {"scale": self.scale}

    def budget(self, source_shape):
        return source_size(source_shape)[0]


@pytest.fixture
def toy():
    register_system("test_toy", _Toy)
    yield
    SYSTEMS.pop("test_toy", None)


def test_register_and_build(toy):
    sys = build_system("test_toy:scale=0.5", channel="rayleigh_block:csi=estimated,csi_error_var=0.1", cbr=0.25)
    assert isinstance(sys, _Toy) and sys.scale == 0.5 and sys.cbr == 0.25
    assert sys.channel == ChannelSpec("rayleigh_block", "estimated", 0.1)
    out = sys.transmit(torch.ones(1, 3, 4, 4), 5.0, seed=1)
    assert out.status == "ok" and out.channel_uses == 48


def test_register_refuses_duplicates_and_bad_names(toy):
    with pytest.raises(ConfigError, match="already registered"):
        register_system("test_toy", lambda: None)
    with pytest.raises(ConfigError, match="already registered"):
        register_system("test_toy", _Toy)
    for bad in ("", "a:b", "a,b", None):
        with pytest.raises(ConfigError):
            register_system(bad, _Toy)


def test_unknown_option_and_unknown_system(toy):
    with pytest.raises(ConfigError, match="unknown option"):
        build_system("test_toy:speed=3")
    with pytest.raises(ConfigError, match="unknown system"):
        get_system("no_such_system")
    with pytest.raises(ConfigError, match="cannot import"):
        get_system("no_such_module_xyz:Thing")
    with pytest.raises(ConfigError, match="has no"):
        get_system("semcom.systems:NoSuchThing")


def test_module_qualname_spec_needs_the_protocol():
    with pytest.raises(ConfigError, match="transmit"):
        build_system("semcom.systems.channels:ChannelSpec")


def test_factory_without_cbr_cannot_take_a_budget():
    def fixed(channel=None):
        return _Toy(channel=channel)

    register_system("test_fixed", fixed)
    try:
        with pytest.raises(ConfigError, match="CBR"):
            build_system("test_fixed", cbr=0.1)
        fixed.fixed_budget = True  # declared fixed: built at its own budget
        assert isinstance(build_system("test_fixed", cbr=0.1), _Toy)
    finally:
        SYSTEMS.pop("test_fixed", None)


# ------------------------------------------------------------------ channel naming
def test_channel_names_one_canonical_set_with_aliases():
    assert canonical_channel("rayleigh") == "rayleigh_block"
    assert ChannelSpec.parse("rayleigh").name == "rayleigh_block"
    assert ChannelSpec.parse("rayleigh_fast").link_kwargs() == {"channel": "rayleigh_fast", "csi": "perfect"}
    assert ChannelSpec.parse("awgn").link_kwargs() == {"channel": "awgn"}
    with pytest.raises(ConfigError):
        ChannelSpec.parse("rician")
    with pytest.raises(ConfigError):
        ChannelSpec("awgn", csi="none")
    with pytest.raises(ConfigError):
        ChannelSpec.parse("rayleigh_block:speed=3")


def test_link_accepts_the_canonical_block_fading_name():
    from semcom.link import make_link

    link = make_link("erasure", mcs=9, cbler=0.1, channel="rayleigh_block")
    assert link.channel == "rayleigh"


def test_analog_channel_from_spec_is_seeded():
    ch = ChannelSpec.parse("rayleigh_block:csi=perfect").analog()
    z = torch.ones(2, 8, dtype=torch.complex64)
    a = ch(z, 10.0, generator=torch.Generator().manual_seed(3))
    b = ch(z, 10.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["outcome", "base", "channels"])
def test_docstring_examples(name):
    mod = importlib.import_module(f"semcom.systems.{name}")
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0


def test_models_take_the_canonical_channel_names():
    """Old 'rayleigh' and canonical 'rayleigh_block' are the same channel draw for draw; fast fading works too."""
    from semcom.models import DeepJSCC, jscc_channel

    z = torch.randn(2, 16, dtype=torch.complex64)
    a = jscc_channel(z, 5.0, "rayleigh", torch.Generator().manual_seed(1))
    b = jscc_channel(z, 5.0, "rayleigh_block", torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    c = jscc_channel(z, 5.0, "rayleigh_fast", torch.Generator().manual_seed(1), csi="estimated", csi_error_var=0.01)
    assert c.shape == z.shape and not torch.equal(c, a)
    m = DeepJSCC({"hidden_channels": 4, "channel": "rayleigh_fast"})
    out = m(torch.rand(1, 3, 16, 16), 10.0, torch.Generator().manual_seed(0))
    assert out["x_hat"].shape == (1, 3, 16, 16)
    with pytest.raises(ConfigError):
        DeepJSCC({"channel": "rician"})


def test_snr_and_csi_reach_encode_and_decode_that_take_them():
    from semcom.models import DeepJSCC

    seen = {}

    class Adaptive(DeepJSCC):
        def encode(self, image, snr_db=None):
            seen["encode"] = snr_db
            return super().encode(image)

        def decode(self, payloads, snr_db=None, csi=None):
            seen["decode"] = (snr_db, csi)
            return super().decode(payloads)

    m = Adaptive({"hidden_channels": 4})
    m.transmit(torch.rand(1, 3, 16, 16), 7.0, seed=0, channel="rayleigh_block", csi="estimated", csi_error_var=0.1)
    assert seen == {"encode": 7.0, "decode": (7.0, "estimated")}


def test_seb_system_transmits_over_the_stack_and_the_link_with_fresh_sessions():
    """The seb system sends through the protocol stack (default) and over the link at a CBR; two
    different sources never share a PDCP session (key stream), the same source and seed do."""
    import torch

    from semcom.systems import build_system

    stack = build_system("seb")
    a, b = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)), torch.rand(1, 3, 64, 64)
    out = stack.transmit(a, 8.0, seed=1)
    assert out.status in ("ok", "recovered") and out.channel_uses > 0 and out.bits_sent > 0
    assert stack.session(a, 8.0, 1) == stack.session(a, 8.0, 1)
    assert stack.session(a, 8.0, 1) != stack.session(b, 8.0, 1) != stack.session(b, 8.0, 2)
    link = build_system("seb:cbr=0.05")
    out = link.transmit(a, 8.0, seed=1)
    assert out.channel_uses <= out.channel_uses_budget == link.budget(a.shape)


def test_separation_spec_option_noise_reaches_the_bit_true_link():
    system = build_system("separation:codec=jpeg2000,link=adaptive,noise=fast")
    assert system.link.noise == "fast" and system.config.make_link().noise == "fast"  # the adapted links too
    assert build_system("separation:codec=jpeg2000,link=bittrue").link.noise == "torch"
    for bad in ("link=capacity,noise=fast", "link=bler_table,noise=torch", "noise=gauss"):
        with pytest.raises(ConfigError, match="noise"):
            build_system(f"separation:codec=jpeg2000,{bad}")


def test_separation_spec_option_bg1_repetition_reaches_the_link():
    system = build_system("separation:codec=jpeg2000,link=bler_table,mcs_index=4,bg1_repetition=true")
    assert system.link.bg1_repetition is True
    plain = build_system("separation:codec=jpeg2000,link=bler_table,mcs_index=4")
    assert plain.link.bg1_repetition is False
    with pytest.raises(ConfigError, match="bg1_repetition"):
        build_system("separation:codec=jpeg2000,bg1_repetition=2")
