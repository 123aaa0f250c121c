"""semcom link olla: OLLA in the separation baseline's sequence run (fast checks; one slow convergence run)."""

import doctest

import numpy as np
import pytest
import torch

from semcom.baselines import SeparationConfig, SeparationSystem
from semcom.errors import ConfigError, InputError, SemcomError
from semcom.experiments import link_olla
from semcom.experiments.link_olla import OllaConfig, channel_sequence, gauss_markov_gains, run, run_sequence, run_task
from semcom.link.adaptation import ReportScatter, select_mcs

#: a small, fast run: 64 x 64 crops at CBR 1/3 (4096 channel uses per grant), JPEG2000, the table link
FAST = dict(codec="jpeg2000", crop=64, cbr=1 / 3, fidelity="bler_table", snr_db=[12.0], num_grants=12,
            rules=["target_bler"], fixed_mcs=[6])


@pytest.fixture(scope="module")
def fast_run():
    return run(FAST, progress=False)


def _olla_system(cfg: OllaConfig) -> SeparationSystem:
    return SeparationSystem(SeparationConfig.from_dict(cfg.system_configs()["olla_target_bler"]))


def _sequence(cfg: OllaConfig, system: SeparationSystem, genie: bool = False) -> dict:
    images, _ = link_olla._images(cfg)
    return run_sequence(system, images, channel_sequence(cfg, cfg.snr_db[0], 0), genie=genie)


def test_offset_follows_the_5g_rule_and_steers_the_mcs():
    cfg = OllaConfig(**FAST)
    system = _olla_system(cfg)
    trace = _sequence(cfg, system)
    ch = channel_sequence(cfg, cfg.snr_db[0], 0)
    step_up = cfg.olla_step_db * cfg.target_bler / (1 - cfg.target_bler)
    expected = [0.0]
    for ack, status in zip(trace["ack"], trace["status"]):  # a grant that sent nothing gives no feedback
        expected.append(expected[-1] + (0.0 if status == "no_fit" else step_up if ack else -cfg.olla_step_db))
    assert trace["offset_db"] == pytest.approx(expected[:-1], abs=1e-3)
    assert system.olla.offset_db == pytest.approx(expected[-1])
    assert 0 < sum(trace["ack"]) < len(trace["ack"])  # both kinds of feedback occurred
    budget = system.channel_uses_budget(cfg.crop, cfg.crop)
    for t in range(cfg.num_grants):  # the inner loop chose at report + offset
        choice = select_mcs(ch["report_db"][t] + expected[t], budget, target_bler=cfg.target_bler, min_payload_bits=32,
                            max_tb_bits=system.link.max_tb_bits)
        assert trace["mcs_index"][t] == choice.mcs.index


def test_run_is_reproducible_and_order_defined(fast_run):
    a = fast_run.data["points"][0]
    b = run(FAST, progress=False).data["points"][0]
    assert a["systems"] == b["systems"] and a["channel"] == b["channel"]
    cfg = OllaConfig(**FAST)
    for label in ("mcs6", "olla_target_bler"):  # one system per task: the same whatever order the tasks run in
        assert run_task(dict(config=vars(cfg), label=label))[0]["trace"] == a["systems"][label]["trace"]
    assert channel_sequence(OllaConfig(**{**FAST, "seed": 1}), 12.0, 0) != channel_sequence(cfg, 12.0, 0)


def test_reset_outer_loop_restarts_the_sequence():
    cfg = OllaConfig(**{**FAST, "num_grants": 10})
    system = _olla_system(cfg)
    first = _sequence(cfg, system)
    assert system.olla.offset_db != 0.0
    system.reset_outer_loop()
    assert system.olla.offset_db == 0.0 and system.olla.acks == system.olla.nacks == 0
    assert _sequence(cfg, system) == first


def test_common_random_numbers_and_genie():
    cfg = OllaConfig(**FAST)
    ch = channel_sequence(cfg, 12.0, 0)
    assert len(ch["true_snr_db"]) == len(ch["report_db"]) == cfg.num_grants
    # the report is the SNR of delay_grants earlier, plus the bias and the noise
    err = np.asarray(ch["report_db"][cfg.delay_grants:]) - np.asarray(ch["true_snr_db"][:-cfg.delay_grants])
    assert abs(err.mean() - cfg.report_bias_db) < 3 * cfg.report_noise_db / np.sqrt(err.size)
    no_noise = OllaConfig(**{**FAST, "report_noise_db": 0.0, "report_bias_db": 0.0, "delay_grants": 0})
    ch0 = channel_sequence(no_noise, 12.0, 0)
    assert ch0["report_db"] == pytest.approx(ch0["true_snr_db"])


def test_awgn_channel_keeps_the_report_draws():
    fading, awgn = OllaConfig(**FAST), OllaConfig(**{**FAST, "channel": "awgn"})
    ch, ca = channel_sequence(fading, 12.0, 0), channel_sequence(awgn, 12.0, 0)
    assert ca["true_snr_db"] == [12.0] * awgn.num_grants  # gain 1 at every grant
    d = fading.delay_grants
    noise_f = np.asarray(ch["report_db"][d:]) - np.asarray(ch["true_snr_db"][:-d])
    assert np.asarray(ca["report_db"][d:]) - 12.0 == pytest.approx(noise_f)  # the same bias and noise draws
    assert ca["link_seeds"] == ch["link_seeds"]
    parse = lambda argv: link_olla.config_from_args(link_olla._parser().parse_args(argv))  # noqa: E731
    assert parse([]).channel == "rayleigh" and parse(["--channel", "awgn"]).channel == "awgn"
    with pytest.raises(ConfigError):
        OllaConfig(**{**FAST, "channel": "rayleigh_block"})


def test_gauss_markov_gains_are_stationary_rayleigh():
    g = gauss_markov_gains(40_000, 0.9, np.random.default_rng(0))
    assert g.mean() == pytest.approx(1.0, abs=0.06)
    assert np.corrcoef(g[1:], g[:-1])[0, 1] == pytest.approx(0.81, abs=0.04)  # corr(|h_t|^2, |h_t-1|^2) = rho^2


def test_batch_se_over_a_chosen_batch_and_compare_to_fixed_uses_it(fast_run):
    v = np.array([0.0] * 10 + [2.0] * 10)
    assert link_olla.batch_se(v) == pytest.approx(1.0)  # batch means 0, 2
    assert link_olla.batch_se(v, batch=5) == pytest.approx(2 / np.sqrt(3) / 2)  # 0, 0, 2, 2
    assert link_olla.batch_se(v, batch=20) is None  # one batch
    with pytest.raises(ConfigError):
        link_olla.batch_se(v, batch=0)
    systems = fast_run.data["points"][0]["systems"]
    d = np.asarray(systems["olla_target_bler"]["trace"]["psnr"]) - np.asarray(systems["mcs6"]["trace"]["psnr"])
    got = link_olla.compare_to_fixed(systems, batch=4)["adapted_minus_best_fixed"]["olla_target_bler"]
    assert got == {"diff_db": pytest.approx(float(d.mean())), "se_db": pytest.approx(link_olla.batch_se(d, 4)),
                   "diff_second_half_db": pytest.approx(float(d[len(d) // 2:].mean()))}


@pytest.mark.parametrize("bad", [{"rho": 1.0}, {"rho": -0.1}, {"num_grants": 0}, {"delay_grants": -1},
                                 {"rules": ["best"]}, {"rules": [], "fixed_mcs": []}, {"fixed_mcs": [99]},
                                 {"target_bler": 1.5}, {"olla_step_db": 0.0}, {"codec": "nope"},
                                 {"fidelity": "capacity"}, {"snr_db": []}, {"snr_db": [float("nan")]},
                                 {"report_noise_db": -1.0}, {"report_std_db": "maybe"}, {"report_std_db": -1.0},
                                 {"report_std_db": 31.0}, {"systems": []}, {"systems": ["olla_quality"]}, {"bogus": 1}])
def test_bad_config_raises_typed_errors(bad):
    with pytest.raises(SemcomError):
        OllaConfig(**{**FAST, **bad}) if "bogus" not in bad else run({**FAST, **bad}, progress=False)


def test_separation_outer_loop_errors():
    with pytest.raises(ConfigError):
        SeparationConfig(codec="jpeg2000", outer_loop=True)  # no link adaptation
    with pytest.raises(ConfigError):
        SeparationConfig(codec="jpeg2000", fidelity="capacity", link_adaptation=True, outer_loop=True)
    system = SeparationSystem(dict(codec="jpeg2000", fidelity="bler_table", link_adaptation=True,
                                   adaptation="target_bler", outer_loop=True))
    with pytest.raises(InputError):
        system.transmit(torch.rand(1, 3, 32, 32), 10.0, csi_report_db=float("nan"))
    from semcom.systems.adapters import separation

    with pytest.raises(ConfigError, match="order"):
        separation(config={"codec": "jpeg2000", "link_adaptation": True, "outer_loop": True})


def test_scatter_aware_olla_estimates_from_the_reports_and_chooses_with_it(fast_run):
    assert "report_std_db" in fast_run.data["points"][0]["systems"]["olla_scatter_target_bler"]["trace"]
    cfg = OllaConfig(**{**FAST, "delay_grants": 1, "num_grants": 14})  # 13 differences: past the burn-in
    trace = run_task(dict(config=vars(cfg), label="olla_scatter_target_bler"))[0]["trace"]
    ch = channel_sequence(cfg, cfg.snr_db[0], 0)
    est = ReportScatter(cfg.delay_grants)
    expected = []
    for r in ch["report_db"]:  # each grant: the estimate before its own report
        expected.append(est.std_db)
        est.observe(r)
    assert trace["report_std_db"] == pytest.approx(expected, abs=1e-4) and expected[-1] > 1.0
    system = SeparationSystem(SeparationConfig.from_dict(cfg.system_configs()["olla_scatter_target_bler"]))
    budget = system.channel_uses_budget(cfg.crop, cfg.crop)
    for t in range(cfg.num_grants):  # the inner loop chose at report + offset with the scatter it had estimated
        choice = select_mcs(ch["report_db"][t] + trace["offset_db"][t], budget, target_bler=cfg.target_bler, min_payload_bits=32,
                            max_tb_bits=system.link.max_tb_bits, report_std_db=trace["report_std_db"][t])
        assert trace["mcs_index"][t] == choice.mcs.index
    assert "olla_scatter_target_bler" not in OllaConfig(**{**FAST, "report_std_db": "none"}).system_configs()


def test_separation_report_std_errors():
    base = dict(codec="jpeg2000", fidelity="bler_table", link_adaptation=True, cbr=1 / 3)
    for bad in (dict(base, report_std_db="auto"), dict(base, report_std_db="x", outer_loop=True),
                dict(base, report_std_db=2.0, channel="rayleigh_block"), dict(codec="jpeg2000", report_std_db=2.0),
                dict(base, report_std_db="auto", outer_loop=True, report_delay_grants=-1)):
        with pytest.raises(ConfigError):
            SeparationConfig.from_dict(bad)
    system = SeparationSystem(dict(base, adaptation="quality", report_std_db=3.0))
    image, _ = link_olla._images(OllaConfig(**FAST))
    wide = system.adapted_mcs(12.0, system.channel_uses_budget(64, 64), image[0])
    plain = SeparationSystem(base).adapted_mcs(12.0, system.channel_uses_budget(64, 64), image[0])
    assert wide.mcs.spectral_efficiency < plain.mcs.spectral_efficiency


def test_cli_report_std_option(capsys):
    from semcom.cli import main

    parse = lambda argv: link_olla.config_from_args(link_olla._parser().parse_args(argv))  # noqa: E731
    assert parse([]).report_std_db == "auto"
    assert parse(["--report-std", "2.5"]).report_std_db == 2.5
    assert parse(["--report-std", "none"]).report_std_db == "none"
    only = parse(["--systems", "olla_scatter_quality, mcs6", "--fixed-mcs", "6"])
    assert only.systems == ["olla_scatter_quality", "mcs6"] and list(only.system_configs()) == ["olla_scatter_quality", "mcs6"]
    assert main(["link", "olla", "--report-std", "-1"]) == 2
    assert main(["link", "olla", "--report-std", "often"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--report-std" in err


def test_anti_windup_systems_config_and_cli():
    assert not any("_aw_" in k for k in OllaConfig(**{**FAST, "anti_windup": False}).system_configs())
    aw = OllaConfig(**FAST).system_configs()  # default: with the anti-windup systems
    assert aw["olla_aw_target_bler"] == {**aw["olla_target_bler"], "olla_anti_windup": True}
    assert aw["olla_scatter_aw_target_bler"] == {**aw["olla_scatter_target_bler"], "olla_anti_windup": True}
    assert list(aw) == ["inner_target_bler", "olla_target_bler", "olla_scatter_target_bler", "olla_aw_target_bler",
                        "olla_scatter_aw_target_bler", "genie_target_bler", "mcs6"]  # the committed results' order
    assert "olla_scatter_aw_target_bler" not in OllaConfig(**{**FAST, "anti_windup": True, "report_std_db": "none"}).system_configs()
    parse = lambda argv: link_olla.config_from_args(link_olla._parser().parse_args(argv))  # noqa: E731
    assert parse([]).anti_windup is True and parse(["--anti-windup"]).anti_windup is True
    assert parse(["--no-anti-windup"]).anti_windup is False
    only = parse(["--anti-windup", "--systems", "olla_aw_quality,mcs6", "--fixed-mcs", "6"])
    assert list(only.system_configs()) == ["olla_aw_quality", "mcs6"]
    with pytest.raises(ConfigError):
        parse(["--no-anti-windup", "--systems", "olla_aw_quality"])  # not a system of the run without them
    with pytest.raises(ConfigError):
        OllaConfig(**{**FAST, "anti_windup": "yes"})
    base = dict(codec="jpeg2000", fidelity="bler_table", link_adaptation=True)
    for bad in (dict(base, outer_loop=True, olla_anti_windup=1), dict(base, olla_anti_windup=True)):
        with pytest.raises(ConfigError):
            SeparationConfig.from_dict(bad)


def test_anti_windup_keeps_the_offset_through_an_outage():
    """30 grants in an outage (every MCS fails), then 20 at 12 dB, with a current report: plain OLLA
    leaves the outage 15 dB down and on slow MCSs; with anti-windup the offset moves only on
    ACKs and on NACKs of faster MCSs, and the inner loop is back on fast MCSs at once."""
    cfg = OllaConfig(**{**FAST, "anti_windup": True, "cbr": 1.0})  # the most robust MCS carries the image
    snr = [-15.0] * 30 + [12.0] * 20
    channel = {"true_snr_db": snr, "report_db": snr, "link_seeds": list(range(len(snr)))}
    images, _ = link_olla._images(cfg)
    traces = {}
    for label in ("olla_target_bler", "olla_aw_target_bler"):
        system = SeparationSystem(SeparationConfig.from_dict(cfg.system_configs()[label]))
        traces[label] = run_sequence(system, images, channel)
    plain, aw = traces["olla_target_bler"], traces["olla_aw_target_bler"]
    assert "no_fit" not in plain["status"] + aw["status"]
    assert not any(plain["ack"][:30]) and not any(aw["ack"][:30]) and all(aw["saturated"][:30])
    assert plain["offset_db"][30] == pytest.approx(-15.0) and aw["offset_db"][30] == 0.0
    step_up = cfg.olla_step_db * cfg.target_bler / (1 - cfg.target_bler)
    expected = [0.0]
    for ack, sat in zip(aw["ack"], aw["saturated"]):
        expected.append(expected[-1] + (step_up if ack else 0.0 if sat else -cfg.olla_step_db))
    assert aw["offset_db"] == pytest.approx(expected[:-1], abs=1e-3)
    assert min(aw["mcs_index"][30:]) > max(plain["mcs_index"][30:])
    assert np.mean(aw["psnr"][30:]) > np.mean(plain["psnr"][30:])
    # the quality rule saturates at the slowest MCS that carries the image (here MCS 0 does not: FAST's grant)
    small = link_olla._images(OllaConfig(**FAST))[0][0]
    kw = dict(codec="jpeg2000", fidelity="bler_table", cbr=FAST["cbr"], link_adaptation=True, outer_loop=True, olla_anti_windup=True)
    budget = 4096  # 64 x 64 at CBR 1/3
    by_target = SeparationSystem(dict(kw, adaptation="target_bler")).most_robust_mcs(budget)
    by_quality = SeparationSystem(dict(kw, adaptation="quality")).most_robust_mcs(budget, small)
    assert by_target.index == 0 and by_quality.spectral_efficiency > by_target.spectral_efficiency


def test_cli_bad_option_is_one_line(capsys):
    from semcom.cli import main

    assert main(["link", "olla", "--rho", "1.5"]) == 2
    assert main(["link", "olla", "--rules", "best"]) == 2
    assert main(["link", "olla", "--channel", "fast"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--rho" in err


def test_cli_matches_api(tmp_path, fast_run):
    from semcom.cli import main
    from semcom.experiments.results import Results

    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"fidelity": "bler_table", "cbr": 0.3333333333333333}')
    out = tmp_path / "olla"
    assert main(["link", "olla", "--snr", "12", "--grants", "12", "--rules", "target_bler", "--fixed-mcs", "6",
                 "--codec", "jpeg2000", "--crop", "64", "--config", str(cfg), "--out", str(out),
                 "--no-plots", "--no-progress"]) == 0
    got = Results.load(out / "olla.json").data["points"][0]["systems"]
    assert got == fast_run.to_dict()["data"]["points"][0]["systems"]


def test_docstring_example():
    res = doctest.testmod(link_olla, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


@pytest.mark.slow
def test_nack_rate_converges_with_a_biased_report():
    """With a report 2 dB optimistic, 2 grants late, the inner loop alone misses its 10 % target by far;
    with OLLA the NACK rate of the grants that gave feedback (a grant whose image does not fit sends
    nothing) is within 0.03 of it after burn-in."""
    cfg = OllaConfig(**{**FAST, "num_grants": 1500, "report_bias_db": 2.0, "delay_grants": 2, "rho": 0.95})

    def nack_rate(trace, skip):
        fed = [a for a, st in zip(trace["ack"], trace["status"]) if st != "no_fit"][skip:]
        return 1.0 - float(np.mean(fed))

    olla = _sequence(cfg, _olla_system(cfg))
    assert nack_rate(olla, 300) == pytest.approx(cfg.target_bler, abs=0.03)
    assert np.mean(olla["offset_db"][300:]) < -2.0  # the offset undoes the bias (and more, for the delay)
    inner_cfg = OllaConfig(**{**vars(cfg), "num_grants": 300})
    inner = _sequence(inner_cfg, SeparationSystem(SeparationConfig.from_dict(cfg.system_configs()["inner_target_bler"])))
    assert nack_rate(inner, 0) > 2 * cfg.target_bler


def test_bayesian_outer_loop_system_config_cli_and_trace():
    """``--bayes`` adds ``olla_bayes_<rule>`` (``olla_mode="bayes"``); the system chooses under the loop's
    predictive distribution and updates it with each grant's ACK for the payload it sent."""
    from semcom.link import plan_payload
    from semcom.link.adaptation import BayesianOuterLoop, Curves

    assert not any("bayes" in k for k in OllaConfig(**FAST).system_configs())  # off by default
    cfg = OllaConfig(**{**FAST, "bayes": True, "forgetting": 0.01})
    sc = cfg.system_configs()
    assert sc["olla_bayes_target_bler"] == {**sc["inner_target_bler"], "outer_loop": True, "olla_mode": "bayes",
                                            "olla_forgetting": 0.01}
    parse = lambda argv: link_olla.config_from_args(link_olla._parser().parse_args(argv))  # noqa: E731
    assert parse(["--bayes", "--forgetting", "0.01"]).bayes is True and parse([]).bayes is False
    with pytest.raises(ConfigError):
        OllaConfig(**{**FAST, "bayes": True, "forgetting": 1.0})
    from semcom.cli import main

    assert main(["link", "olla", "--bayes", "--forgetting", "0.9"]) == 2  # a one-line error, no traceback
    system = SeparationSystem(SeparationConfig.from_dict(sc["olla_bayes_target_bler"]))
    trace = _sequence(cfg, system)
    assert {"offset_db", "posterior_scatter_db", "smoothed_weight"} <= set(trace) and "saturated" not in trace
    ch, loop = channel_sequence(cfg, cfg.snr_db[0], 0), BayesianOuterLoop(forgetting=0.01)
    budget = system.channel_uses_budget(cfg.crop, cfg.crop)
    for t in range(cfg.num_grants):  # the same choices and updates, replayed on a loop of our own
        r = ch["report_db"][t]
        choice = select_mcs(r, budget, target_bler=cfg.target_bler, min_payload_bits=32, max_tb_bits=system.link.max_tb_bits,
                            snr_spread=loop.predictive(r))
        assert trace["mcs_index"][t] == choice.mcs.index
        if trace["status"][t] == "no_fit":  # nothing sent: no feedback
            continue
        assert trace["offset_db"][t] == pytest.approx(loop.offset_for(r), abs=1e-3)
        loop.update(trace["ack"][t], plan_payload(choice.payload_bits, choice.mcs, system.link.max_tb_bits), r, Curves())
    assert loop.scatter_db == pytest.approx(trace["posterior_scatter_db"][-1], abs=1e-3) and loop.version > 3


def test_separation_bayesian_outer_loop_errors():
    base = dict(codec="jpeg2000", fidelity="bler_table", link_adaptation=True, outer_loop=True, olla_mode="bayes")
    for bad in (dict(base, olla_mode="kalman"), dict(base, outer_loop=False), dict(base, olla_anti_windup=True),
                dict(base, report_std_db="auto"), dict(base, report_std_db=2.0), dict(base, channel="rayleigh_block"),
                dict(base, olla_forgetting=1.0), dict(base, olla_forgetting="0.1"), dict(base, olla_forgetting=True)):
        with pytest.raises(ConfigError):
            SeparationConfig.from_dict(bad)
    system = SeparationSystem(base)
    assert system.adaptation_snr_db(10.0, 7.0) == 7.0  # the report itself: the loop shifts nothing, the predictive does


def test_prediction_matched_olla_systems_config_cli_and_trace():
    """``--prediction`` adds ``olla_pred_<rule>`` and ``olla_pred_scatter_<rule>`` (``olla_mode="prediction"``):
    each ACK raises the offset by ``step p / (1 - p)`` with ``p`` the grant's predicted error, which the
    trace records (``None`` when nothing was sent), and each NACK lowers it by the step."""
    assert not any("pred" in k for k in OllaConfig(**FAST).system_configs())  # off by default
    cfg = OllaConfig(**{**FAST, "prediction": True, "min_prediction": 0.02})
    sc = cfg.system_configs()
    assert sc["olla_pred_target_bler"] == {**sc["inner_target_bler"], "outer_loop": True, "olla_mode": "prediction",
                                           "olla_min_prediction": 0.02}
    assert sc["olla_pred_scatter_target_bler"] == {**sc["olla_pred_target_bler"], "report_std_db": "auto",
                                                   "report_delay_grants": cfg.delay_grants}
    assert sc["olla_pred_scatter_aw_target_bler"] == {**sc["olla_pred_scatter_target_bler"], "olla_anti_windup": True}
    assert [k for k in sc if "pred" in k] == ["olla_pred_target_bler", "olla_pred_scatter_target_bler",
                                              "olla_pred_aw_target_bler", "olla_pred_scatter_aw_target_bler"]
    fewer = OllaConfig(**{**FAST, "prediction": True, "anti_windup": False, "report_std_db": "none"})
    assert [k for k in fewer.system_configs() if "pred" in k] == ["olla_pred_target_bler"]
    parse = lambda argv: link_olla.config_from_args(link_olla._parser().parse_args(argv))  # noqa: E731
    assert parse(["--prediction", "--min-prediction", "0.05"]).min_prediction == 0.05 and parse([]).prediction is False
    for bad in (dict(prediction=1), dict(min_prediction=0.0), dict(min_prediction=0.6)):
        with pytest.raises(ConfigError):
            OllaConfig(**{**FAST, **bad})
    system = SeparationSystem(SeparationConfig.from_dict(sc["olla_pred_target_bler"]))
    assert system.olla.prediction_matched and system.olla.min_prediction == 0.02
    trace = _sequence(cfg, system)
    assert len(trace["predicted_error"]) == cfg.num_grants
    step = cfg.olla_step_db
    for t in range(cfg.num_grants - 1):
        p, moved = trace["predicted_error"][t], trace["offset_db"][t + 1] - trace["offset_db"][t]
        if trace["status"][t] == "no_fit":
            assert p is None and moved == 0
            continue
        q = min(max(p, 0.02), 0.5)
        assert moved == pytest.approx(step * q / (1 - q) if trace["ack"][t] else -step, abs=2e-4)
    summary = link_olla.summarise(trace)
    assert 0 <= summary["mean_predicted_error_second_half"] <= 1


def test_separation_prediction_mode_errors():
    base = dict(codec="jpeg2000", fidelity="bler_table", link_adaptation=True, outer_loop=True, olla_mode="prediction")
    for bad in (dict(base, outer_loop=False), dict(base, olla_min_prediction=0), dict(base, olla_min_prediction=0.9),
                dict(base, olla_min_prediction=True)):
        with pytest.raises(ConfigError):
            SeparationConfig.from_dict(bad)
    system = SeparationSystem(SeparationConfig.from_dict(base))
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    out = system.transmit(image, 12.0, seed=0, csi_report_db=13.0)
    link = system.link_for(13.0, system.channel_uses_budget(64, 64), image)
    k = out.extras["payload_capacity_bits"]
    assert out.extras["olla_predicted_error"] == pytest.approx(system.predicted_error(link, k, 13.0))
