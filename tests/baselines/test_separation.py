import pytest
import torch

from semcom import metrics
from semcom.baselines import SeparationConfig, SeparationSystem, bits_to_bytes, bytes_to_bits
from semcom.baselines.separation import LENGTH_FIELD_BITS
from semcom.data import test_images
from semcom.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def photo():
    return test_images(subset="tiny")[0].image[:, :, :128, :128].contiguous()


def test_bytes_bits_roundtrip():
    data = bytes(range(256))
    bits = bytes_to_bits(data)
    assert bits.shape == (2048,) and set(bits.unique().tolist()) <= {0.0, 1.0}
    assert bits_to_bytes(bits) == data
    assert bytes_to_bits(b"\x80")[0] == 1.0  # most significant bit first
    with pytest.raises(InputError):
        bits_to_bytes(torch.ones(7))


def test_config_is_strict():
    with pytest.raises(ConfigError, match="unknown key"):
        SeparationSystem({"codec": "jpeg2000", "bogus": 1})
    with pytest.raises(ConfigError):
        SeparationConfig(loss_policy="pray")
    with pytest.raises(ConfigError):
        SeparationConfig(cbr=-1)


def test_high_snr_bittrue_is_lossless_transport_and_accounting_is_honest(photo):
    system = SeparationSystem({"codec": "jpeg2000", "cbr": 1 / 12, "fidelity": "bittrue"})
    out = system.transmit(photo, snr_db=12.0, seed=0)
    h, w = photo.shape[-2:]
    budget = system.channel_uses_budget(h, w)
    assert out.status == "ok" and out.num_cb_failed == 0
    # the stream and its length field fit the grant, and the link spent no more than the budget
    assert 0 < out.stream_bits + LENGTH_FIELD_BITS <= out.payload_capacity_bits
    assert out.channel_uses <= budget == out.channel_uses_budget
    # what was decoded is exactly what the codec makes of its own stream
    k_stream = ((out.payload_capacity_bits - LENGTH_FIELD_BITS) // 8) * 8
    stream = system.codec.encode_to_budget(photo, k_stream)
    assert 8 * len(stream) == out.stream_bits
    assert torch.allclose(out.image, system.codec.decode(stream), atol=1e-6)
    assert abs(out.bpp - (8 * len(stream) + LENGTH_FIELD_BITS) / (h * w)) < 1e-12
    assert float(metrics.psnr(photo, out.image)[0]) > 20


def test_low_snr_fails_with_fallback_and_is_counted(photo):
    system = SeparationSystem({"codec": "jpeg2000", "cbr": 1 / 12, "fidelity": "bittrue"})
    out = system.transmit(photo, snr_db=-8.0, seed=0)
    assert out.num_cb_failed == out.num_cb > 0
    assert out.status in ("recovered", "failed")
    if out.status == "failed":
        assert torch.all(out.image == 0.5)


def test_truncate_policy_keeps_prefix(photo):
    system = SeparationSystem({"codec": "jpeg2000", "cbr": 1 / 12, "fidelity": "erasure",
                               "link": {"cbler": 0.5}, "loss_policy": "truncate"})
    statuses = {system.transmit(photo, snr_db=5.0, seed=s).status for s in range(6)}
    assert statuses <= {"ok", "recovered", "failed"}
    assert statuses - {"ok"}, "with half the code blocks lost some transmissions must be damaged"


def test_capacity_link_gives_more_bits_than_ldpc(photo):
    ldpc = SeparationSystem({"codec": "jpeg2000", "fidelity": "bittrue"})
    ideal = SeparationSystem({"codec": "jpeg2000", "fidelity": "capacity"})
    a = ldpc.transmit(photo, snr_db=6.0, seed=1)
    b = ideal.transmit(photo, snr_db=6.0, seed=1)
    assert b.payload_capacity_bits > a.payload_capacity_bits
    assert b.status == "ok"
    assert metrics.psnr(photo, b.image)[0] > metrics.psnr(photo, a.image)[0]


def test_fixed_grant_spends_the_same_channel_uses_for_every_image(photo):
    system = SeparationSystem({"codec": "jpeg2000", "fidelity": "bittrue"})
    other = torch.flip(photo, dims=[-1]) * 0.5
    a = system.transmit(photo, snr_db=10.0, seed=0)
    b = system.transmit(other, snr_db=10.0, seed=0)
    assert a.channel_uses == b.channel_uses and a.payload_capacity_bits == b.payload_capacity_bits


def test_same_seed_same_result(photo):
    system = SeparationSystem({"codec": "heif", "fidelity": "bittrue", "channel": "rayleigh"})
    a = system.transmit(photo, snr_db=4.0, seed=3)
    b = system.transmit(photo, snr_db=4.0, seed=3)
    assert a.status == b.status and torch.equal(a.image, b.image)


def test_bad_input(photo):
    system = SeparationSystem({"codec": "jpeg2000", "fidelity": "capacity"})
    with pytest.raises(InputError):
        system.transmit(torch.full_like(photo, float("nan")), 5.0)
    with pytest.raises(InputError):
        system.transmit(photo, float("nan"))
    with pytest.raises(InputError):
        system.transmit(torch.cat([photo, photo]), 5.0)


def test_tiny_budget_is_no_fit(photo):
    system = SeparationSystem({"codec": "heif", "cbr": 1e-4, "fidelity": "bittrue"})
    out = system.transmit(photo, snr_db=10.0)
    assert out.status == "no_fit" and out.channel_uses == 0 and torch.all(out.image == 0.5)


def test_link_adaptation_picks_faster_mcs_at_higher_snr_and_meets_its_target(photo):
    from semcom.link.abstract import bler_table_lookup

    system = SeparationSystem({"codec": "jpeg2000", "fidelity": "bittrue", "link_adaptation": True,
                               "adaptation": "target_bler"})
    budget = system.channel_uses_budget(128, 128)
    effs = []
    for snr in (0.0, 6.0, 14.0):
        link = system.link_for(snr, budget)
        k = link.max_payload_bits(budget)
        cb = max(t.cb_size for t in link.plan(k).tbs)
        assert float(bler_table_lookup(link.mcs, cb, torch.tensor([10 ** (snr / 10)]))[0]) <= 0.1
        effs.append(link.mcs.spectral_efficiency)
    assert effs[0] < effs[1] < effs[2]
    low, high = system.transmit(photo, 0.0, seed=0), system.transmit(photo, 14.0, seed=0)
    assert high.payload_capacity_bits > low.payload_capacity_bits and high.mcs != low.mcs
    with pytest.raises(ConfigError):
        SeparationConfig(target_bler=1.5)
    with pytest.raises(ConfigError):
        SeparationConfig(adaptation="psychic")


def test_link_option_bg1_repetition_reaches_every_adapted_link():
    """``link: {"bg1_repetition": True}``: link adaptation lays the grant out as the link does. At -1.4 dB
    the target rule picks MCS 4 either way; the standard's layout carries 9736 bits in one TB on base
    graph 1 where the default carries 10 040 in three capped TBs, with a lower payload error."""
    got = {}
    for flag in (False, True):
        system = SeparationSystem({"codec": "jpeg2000", "fidelity": "bler_table", "link_adaptation": True,
                                   "adaptation": "target_bler", "link": {"bg1_repetition": flag}})
        budget = system.channel_uses_budget(256, 256)
        link, choice = system.link_for(-1.4, budget), system.adapted_mcs(-1.4, budget)
        plan = link.plan(link.max_payload_bits(budget))
        assert link.bg1_repetition is flag and link.mcs.index == 4 and choice.payload_bits == plan.k
        got[flag] = (plan.k, [t.base_graph for t in plan.tbs], choice.error_probability)
    assert got[False][:2] == (10040, [2, 2, 2]) and got[True][:2] == (9736, [1])
    assert got[True][2] < got[False][2] < 0.1


def test_adapted_mcs_over_block_fading_is_not_the_awgn_rule():
    """Regression: over block Rayleigh the adapted MCS came from the AWGN table at the mean SNR, so the
    image was lost more often as the SNR rose (a payload error near 1 at 16 dB)."""
    from semcom.link.adaptation import payload_error

    cfg = {"codec": "jpeg2000", "fidelity": "bler_table", "link_adaptation": True, "adaptation": "target_bler"}
    awgn = SeparationSystem(cfg)
    fading = SeparationSystem({**cfg, "channel": "rayleigh", "fading": "per_cb"})
    budget = awgn.channel_uses_budget(256, 256)
    for snr in (12.0, 16.0):
        a, f = awgn.link_for(snr, budget), fading.link_for(snr, budget)
        p_awgn_rule = payload_error(a.plan(a.max_payload_bits(budget)), snr, channel="rayleigh")
        p_fading_rule = payload_error(f.plan(f.max_payload_bits(budget)), snr, channel="rayleigh")
        assert a.mcs != f.mcs and p_awgn_rule > 0.5 and p_fading_rule < 0.12


def test_quality_adaptation_maximises_the_expected_psnr(photo):
    from semcom.link.adaptation import grant_options, payload_error

    system = SeparationSystem({"codec": "jpeg2000", "fidelity": "bler_table", "link_adaptation": True,
                               "channel": "rayleigh"})
    budget = system.channel_uses_budget(128, 128)
    with pytest.raises(InputError):
        system.adapted_mcs(10.0, budget)
    choice = system.adapted_mcs(10.0, budget, photo)
    assert system.link_for(10.0, budget, photo).mcs == choice.mcs
    fail = float(metrics.psnr(photo, torch.full_like(photo, 0.5))[0])
    # no candidate (an upper bound: every code block counted) does better than the choice
    for _, plan in grant_options(budget, min_payload_bits=32):
        got = system.clean_quality(photo, plan.k)
        if got is not None and plan.k > choice.payload_bits:
            p = payload_error(plan, 10.0, channel="rayleigh", blocks=[0])
            assert (1 - p) * got[1] + p * fail <= choice.expected_quality + 0.3
    out = system.transmit(photo, 10.0, seed=0)
    assert out.mcs == str(choice.mcs) and out.payload_capacity_bits == choice.payload_bits


class _UndetectedErrors:
    """A link that delivers wrong bits in the given payload range while every CRC passes (an error the
    CRCs miss), delegating everything else to a real link."""

    def __init__(self, link, start: int, stop: int, mode: str = "zero"):
        self.link, self.start, self.stop, self.mode = link, start, stop, mode

    def __getattr__(self, name):
        return getattr(self.link, name)

    def transmit(self, bits, snr_db, *, generator=None):
        res = self.link.transmit(bits, snr_db, generator=generator)
        rx = res.bits.clone()
        seg = rx[..., self.start:self.stop]
        rx[..., self.start:self.stop] = torch.zeros_like(seg) if self.mode == "zero" else 1 - seg
        res.bits = rx
        res.cb_ok = torch.ones_like(res.cb_ok)
        res.tb_ok = torch.ones_like(res.tb_ok)
        return res


def test_undetected_error_in_codec_header_fails_instead_of_reporting_the_sent_image(photo):
    system = SeparationSystem({"codec": "jpeg2000", "fidelity": "erasure", "link": {"cbler": 0.0}})
    clean = system.transmit(photo, snr_db=10.0, seed=0)
    assert clean.status == "ok"
    # zero the first 16 bytes of the codec stream (its markers and main header), CRCs all passing
    system.link = _UndetectedErrors(system.link, LENGTH_FIELD_BITS, LENGTH_FIELD_BITS + 128)
    out = system.transmit(photo, snr_db=10.0, seed=0)
    assert out.num_cb_failed == 0
    assert out.status == "failed" and out.error
    assert torch.all(out.image == 0.5)


def test_undetected_error_in_codec_body_is_decoded_as_received(photo):
    system = SeparationSystem({"codec": "jpeg", "cbr": 0.25, "fidelity": "erasure", "link": {"cbler": 0.0}})
    clean = system.transmit(photo, snr_db=10.0, seed=0)
    assert clean.status == "ok"
    n = clean.stream_bits
    # invert a run of entropy-coded bits in the second half of the stream
    system.link = _UndetectedErrors(system.link, LENGTH_FIELD_BITS + n // 2, LENGTH_FIELD_BITS + n // 2 + 64, "flip")
    out = system.transmit(photo, snr_db=10.0, seed=0)
    assert out.num_cb_failed == 0
    if out.status != "failed":  # the receiver cannot know: it shows what its decoder made of the bits
        assert not torch.equal(out.image, clean.image)
    assert float(metrics.psnr(photo, out.image)[0]) < float(metrics.psnr(photo, clean.image)[0])


def test_corrupted_length_field_reaches_the_decoder(photo):
    system = SeparationSystem({"codec": "jpeg2000", "fidelity": "erasure", "link": {"cbler": 0.0}})
    system.link = _UndetectedErrors(system.link, 0, LENGTH_FIELD_BITS)  # length field says 0 bytes
    out = system.transmit(photo, snr_db=10.0, seed=0)
    assert out.status == "failed" and torch.all(out.image == 0.5)


# ---------------------------------------------------------------- lower resolution (downscale)
@pytest.fixture(scope="module")
def astronaut():
    return test_images(subset="tiny")[0].image  # 256 x 256; HEIF's smallest stream: 7176 bits, 4568 at half size


def test_length_field_carries_the_factor_and_is_unchanged_at_full_resolution():
    from semcom.baselines.separation import MAX_RESCALED_STREAM_BYTES, pack_length_field, read_length_field

    for n in (0, 1, 1000, MAX_RESCALED_STREAM_BYTES):
        assert pack_length_field(n, 1, True) == pack_length_field(n) == n.to_bytes(3, "big")
        for f in (1, 2, 4, 8):
            assert read_length_field(pack_length_field(n, f, True), True) == (n, f)
    assert read_length_field(pack_length_field(2 ** 23), False) == (2 ** 23, 1)
    with pytest.raises(InputError):
        pack_length_field(MAX_RESCALED_STREAM_BYTES + 1, 1, True)
    with pytest.raises(InputError):
        pack_length_field(10, 2, False)
    with pytest.raises(InputError):
        pack_length_field(10, 3, True)


def test_downscale_config_is_checked():
    for bad in (3, 0, 16, True, "2", 2.0):
        with pytest.raises(ConfigError, match="downscale"):
            SeparationConfig(downscale=bad)
    assert SeparationConfig(downscale=4).factors() == (1, 2, 4) and SeparationConfig().factors() == (1,)
    from semcom.systems import build_system

    assert build_system("separation:codec=heif,link=capacity,downscale=4").config.downscale == 4


def test_lower_resolution_is_sent_where_full_resolution_does_not_fit(astronaut):
    from semcom.codecs.rescale import scaled_shape, upscale

    cfg = {"codec": "heif", "cbr": 0.0305, "fidelity": "capacity"}  # about 6000 payload bits at 0 dB
    full = SeparationSystem(cfg).transmit(astronaut, 0.0, seed=0)
    assert full.status == "no_fit"
    system = SeparationSystem({**cfg, "downscale": 4})
    out = system.transmit(astronaut, 0.0, seed=0)
    f = out.extras["downscale"]
    assert out.status == "ok" and f in (2, 4) and out.image.shape == astronaut.shape
    assert out.stream_bits + LENGTH_FIELD_BITS <= out.payload_capacity_bits and out.side_info_bits == LENGTH_FIELD_BITS
    # the receiver's image is the decoded small stream brought back to full size
    _, stream, q = system.encode_best(astronaut, ((out.payload_capacity_bits - LENGTH_FIELD_BITS) // 8) * 8)
    small = system.codec.decode(stream)
    assert tuple(small.shape[-2:]) == scaled_shape(256, 256, f)
    assert torch.allclose(out.image, upscale(small, (256, 256)), atol=1e-6)
    assert abs(float(metrics.psnr(astronaut, out.image)[0]) - q) < 1e-4
    assert q > float(metrics.psnr(astronaut, full.image)[0]) + 5


def test_full_resolution_payload_is_unchanged_by_downscale(astronaut):
    cfg = {"codec": "heif", "cbr": 1 / 12, "fidelity": "capacity"}
    plain = SeparationSystem(cfg).transmit(astronaut, 10.0, seed=0)
    scaled = SeparationSystem({**cfg, "downscale": 2}).transmit(astronaut, 10.0, seed=0)
    assert scaled.extras["downscale"] == 1 and plain.status == scaled.status == "ok"
    assert scaled.bits_sent == plain.bits_sent and torch.equal(scaled.image, plain.image)


def test_quality_rule_sees_the_lower_resolution(astronaut):
    plain = SeparationSystem({"codec": "heif", "fidelity": "bler_table"})
    scaled = SeparationSystem({"codec": "heif", "fidelity": "bler_table", "downscale": 2})
    assert plain.clean_quality(astronaut, 6000) is None
    bits, q = scaled.clean_quality(astronaut, 6000)
    assert bits <= 6000 and q > 15


def test_wrong_factor_in_the_received_field_fails_cleanly(astronaut):
    cfg = {"codec": "heif", "cbr": 0.0305, "fidelity": "erasure", "link": {"cbler": 0.0}, "downscale": 4}
    system = SeparationSystem(cfg)
    assert system.transmit(astronaut, 0.0, seed=0).status == "ok"
    system.link = _UndetectedErrors(system.link, 0, 2, "flip")  # the factor bits, CRCs passing
    out = system.transmit(astronaut, 0.0, seed=0)
    assert out.status == "failed" and torch.all(out.image == 0.5) and out.image.shape == astronaut.shape


@pytest.mark.slow
def test_adapted_mcs_trades_resolution_for_a_robust_mcs_at_minus_4_db(astronaut):
    """At -4 dB the full-resolution stream needs MCS 2 or faster and is mostly lost; at half or quarter
    size it fits MCS 1, which gets through."""
    cfg = {"codec": "heif", "cbr": 0.1017, "fidelity": "bler_table", "link_adaptation": True}
    plain, scaled = SeparationSystem(cfg), SeparationSystem({**cfg, "downscale": 4})
    budget = plain.channel_uses_budget(256, 256)
    a, b = plain.adapted_mcs(-4.0, budget, astronaut), scaled.adapted_mcs(-4.0, budget, astronaut)
    assert b.mcs.spectral_efficiency < a.mcs.spectral_efficiency
    assert b.expected_quality > a.expected_quality + 3


def test_quality_rule_scores_each_alternative_with_its_own_blocks():
    """A list of (bits, q) alternatives per payload: the one that reaches one more (unreliable) block loses
    to a slightly worse one that does not."""
    from semcom.link import MCS
    from semcom.link.adaptation import select_mcs_for_quality
    from semcom.link.layout import plan_payload

    mcs = MCS.from_table(3)
    plan = plan_payload(8272, mcs)
    assert len(plan.cb_ranges) == 4 and plan.cb_ranges[-1][0] == 8064  # a small second TB
    error = lambda _plan, blocks: 0.5 if 3 in blocks else 0.01  # noqa: E731 - the last block is unreliable
    best = select_mcs_for_quality([(mcs, plan)], lambda k: [(8056, 26.94), (8256, 26.97)], error, 10.0)
    assert best.alternative == 0 and best.quality == 26.94
    assert select_mcs_for_quality([(mcs, plan)], lambda k: (8256, 26.97), error, 10.0).alternative == 0
    assert select_mcs_for_quality([(mcs, plan)], lambda k: [], error, 10.0) is None


def test_joint_downscale_choice_sends_the_chosen_alternative():
    photo = test_images(subset="tiny")[1].image[:, :, :96, :96].contiguous()
    cfg = {"codec": "jpeg2000", "cbr": 0.02, "fidelity": "bler_table", "link_adaptation": True, "downscale": 4}
    plain, joint = SeparationSystem(cfg), SeparationSystem({**cfg, "downscale_choice": "joint"})
    budget = joint.channel_uses_budget(96, 96)
    for snr in (-2.0, 4.0):
        a, b = plain.adapted_mcs(snr, budget, photo), joint.adapted_mcs(snr, budget, photo)
        assert b.expected_quality >= a.expected_quality - 1e-9  # the joint rule searches a superset
        bits, q, f = joint.quality_alternatives(photo, b.payload_bits)[b.alternative]
        out = joint.transmit(photo, snr, seed=0)
        assert out.extras["downscale"] == f and out.bits_sent + LENGTH_FIELD_BITS == bits
    for bad in ({"downscale_choice": "best"}, {"downscale_choice": "joint", "downscale": 1},
                {"downscale_choice": "joint", "link_adaptation": False}):
        with pytest.raises(ConfigError, match="downscale_choice"):
            SeparationConfig(**{**cfg, **bad})
