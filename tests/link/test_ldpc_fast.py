"""FastLDPC5GDecoder: exact decoding of Sionna's 5G codes, BLER parity with Sionna's decoder, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

from semcom.errors import InputError, LinkError
from semcom.experiments.bench_ldpc import BenchConfig, block_errors, parity_curve, qpsk_awgn_llrs, snr_at_bler
from semcom.experiments.ldpc_tuning import TUNING_CODES, TuningConfig, overconfident_llrs, scaling_point
from semcom.link.ldpc_fast import (DEFAULT_PRECISION, LOW_RATE_PRECISION, PRECISIONS, FastLDPC5GDecoder, default_scaling,
                                   ldpc_layout)
from semcom.utils import make_generator

# (k, n, num_bits_per_symbol): BG2 with fillers, BG2 k_b = 6/8/9/10, BG1, interleaver, high/low rate
CODES = [
    (100, 200, None),
    (500, 1000, None),
    (600, 900, 4),
    (1000, 1500, None),
    (3000, 4500, 6),
    (4000, 6000, None),
    (8448, 12672, None),
    (300, 1400, None),
    (1200, 1300, 2),
]


@pytest.fixture
def one_torch_thread():
    """Sionna's decoder runs many small PyTorch ops: on shared cores one intra-op thread is far faster."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _bits(b: int, k: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 2, (b, k), generator=make_generator(seed)).to(torch.float32)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("k,n,m", CODES)
def test_noiseless_exact_infobits_and_codeword(k, n, m, precision):
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=m)
    u = _bits(6, k, k + n)
    c = enc(u)
    llr = 3.0 * (2.0 * c - 1.0)  # logits: positive means bit 1
    dec = FastLDPC5GDecoder(enc, return_syndrome_ok=True, precision=precision)
    u_hat, ok = dec(llr)
    assert u_hat.dtype == torch.float32 and u_hat.shape == (6, k)
    assert torch.equal(u_hat, u)
    assert bool(ok.all())
    assert int(dec.last_iterations.max()) == 1  # early stopping after the first iteration
    c_hat = FastLDPC5GDecoder(enc, return_infobits=False, precision=precision)(llr)
    assert torch.equal(c_hat, c)


def test_default_precision_is_int8_at_rates_from_one_third():
    enc = LDPC5GEncoder(100, 200)
    assert DEFAULT_PRECISION == "int8" and FastLDPC5GDecoder(enc).precision == "int8"
    assert FastLDPC5GDecoder(enc, precision="float").precision == "float"
    assert FastLDPC5GDecoder(LDPC5GEncoder(100, 300)).precision == "int8"
    assert FastLDPC5GDecoder(LDPC5GEncoder(100, 301)).precision == LOW_RATE_PRECISION == "int16"
    assert FastLDPC5GDecoder(LDPC5GEncoder(100, 301), precision="int8").precision == "int8"
    assert FastLDPC5GDecoder(LDPC5GEncoder(100, 198, num_bits_per_symbol=6)).precision == "int16"  # 64QAM
    assert FastLDPC5GDecoder(LDPC5GEncoder(100, 200, num_bits_per_symbol=4)).precision == "int8"


def test_int8_has_an_error_floor_at_the_lowest_rates():
    """Why int16 below rate 1/3: at rate 1/5 (base graph 2's mother code, k = 2000) and 0.25 dB above
    the float decoder's waterfall, QPSK over AWGN, int8 loses many words that float and int16
    decode; at rate 1/2 it tracks them (the same LLRs per rate)."""
    rng = np.random.default_rng(1)
    counts = {}
    for n, snr in ((10000, -3.2), (4000, 1.6)):
        enc = LDPC5GEncoder(2000, n)
        sigma = np.sqrt(10 ** (-snr / 10) / 2)
        y = np.sqrt(0.5) + sigma * rng.standard_normal((200, n))  # all-zero word, one QPSK dimension per bit
        llr = torch.from_numpy((-2 * np.sqrt(0.5) * y / sigma**2).astype(np.float32))
        counts[n] = {p: int(FastLDPC5GDecoder(enc, precision=p)(llr).any(dim=1).sum()) for p in PRECISIONS}
    low, half = counts[10000], counts[4000]
    assert low["float"] <= 2 and low["int16"] <= 2 and low["int8"] >= 20, low
    assert half["int8"] <= half["float"] + 3, half


@pytest.mark.parametrize("k,n,eb", [(504, 1008, 1.4), (2016, 3024, 1.95)])
def test_fixed_point_tracks_the_float_reference(k, n, eb):
    """Same LLRs in the waterfall: int16 nearly identical to float32, int8 a few more errors at most.

    (Measured gaps at equal BLER: int16 <= 0.013 dB, int8 0.01-0.07 dB; here raw counts on 800 words.)
    """
    enc = LDPC5GEncoder(k, n)
    u, llr, _ = qpsk_awgn_llrs(enc, 800, eb, make_generator(k))
    err = {p: block_errors(FastLDPC5GDecoder(enc, precision=p)(llr), u) for p in PRECISIONS}
    assert 20 < err["float"].sum() < 400  # the waterfall
    assert (err["int16"] != err["float"]).sum() <= 0.1 * err["float"].sum() + 3
    assert err["int8"].sum() <= 1.35 * err["float"].sum() + 5
    assert (err["int8"] != err["float"]).sum() <= 0.5 * err["float"].sum() + 5


@pytest.mark.parametrize("precision", ["int16", "int8"])
def test_fixed_point_soft_output_offset_and_threads(precision):
    enc = LDPC5GEncoder(1000, 2000)
    u, llr, _ = qpsk_awgn_llrs(enc, 24, 1.6, make_generator(6))
    kw = {"precision": precision, "early_stop": False, "num_iter": 5}
    hard = FastLDPC5GDecoder(enc, **kw)(llr)
    soft = FastLDPC5GDecoder(enc, hard_out=False, **kw)(llr)
    assert torch.equal(hard, (soft >= 0).float())
    # dequantised logits: saturation at qmax / qc times the word's clip bound (llr_clip * mean|LLR|)
    from semcom.link.ldpc_fast import _FIXED

    _, qmax, _, qc = _FIXED[precision]
    bound = 4.0 * llr.abs().mean(dim=1, keepdim=True) * qmax / qc
    assert bool((soft.abs() <= bound * 1.0001)[:, :1000].all())
    float_soft = FastLDPC5GDecoder(enc, hard_out=False, precision="float", **{k: v for k, v in kw.items()
                                                                              if k != "precision"})(llr)
    assert float((soft.sign() == float_soft.sign()).float().mean()) > 0.97
    # offset min-sum, thread count and array type do not change decisions of noiseless words
    clean = 3.0 * (2.0 * enc(u) - 1.0)
    assert torch.equal(FastLDPC5GDecoder(enc, precision=precision, offset=0.5)(clean), u)
    a = FastLDPC5GDecoder(enc, precision=precision, num_threads=1)(llr)
    b = FastLDPC5GDecoder(enc, precision=precision, num_threads=2)(llr.numpy().astype(np.float64))
    assert torch.equal(a, b)
    # no saturation bound at all: the word's largest |LLR| is the quantiser's full scale
    assert torch.equal(FastLDPC5GDecoder(enc, precision=precision, llr_clip=None)(clean), u)
    assert FastLDPC5GDecoder(enc, precision=precision)(torch.zeros(2, 2000)).shape == (2, 1000)


@pytest.mark.parametrize("k,n,m", [(500, 1000, None), (8448, 16896, None), (600, 900, 4)])
def test_layout_parity_checks_hold_on_encoder_codewords(k, n, m):
    """The quasi-cyclic structure read from the encoder's pcm: every kept check holds on real codewords."""
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=m)
    lay = ldpc_layout(enc)
    z = lay["z"]
    u = _bits(3, k, 7)
    pcm = enc.pcm.tocsr().astype(np.int64)
    row_max = np.maximum.reduceat(pcm.indices, pcm.indptr[:-1])
    # the mother codeword as far as the lowest code rate allows: the same code rate-matched to n_big
    n_big = min(enc.n_cb_comp, 5 * k if enc._bg == "bg2" else 3 * k)
    full = LDPC5GEncoder(k, n_big, bg=enc._bg)(u).numpy().astype(np.int64)
    known = enc.k_ldpc + n_big - (k - 2 * z)
    x = np.zeros((3, enc.n_ldpc), dtype=np.int64)
    x[:, :k] = u.numpy()
    x[:, enc.k_ldpc:known] = full[:, k - 2 * z:]
    rows_known = np.flatnonzero(row_max < known)
    assert len(rows_known) >= lay["rows"] * z
    assert not ((pcm[rows_known] @ x.T) % 2).any()
    # every channel LLR position points at the variable node that carries its bit
    assert np.array_equal(x[:, lay["in_pos"]], enc(u).numpy())
    # masked checks are exactly the extension checks whose own parity bit is not transmitted
    col_deg = np.bincount(pcm.indices, minlength=enc.n_ldpc)
    last_vn = int(lay["in_pos"].max())
    masked = np.flatnonzero(lay["check_mask"] == 0)
    assert (masked >= 4 * z).all() and (row_max[masked] > last_vn).all() and (col_deg[row_max[masked]] == 1).all()
    kept_ext = np.setdiff1d(np.arange(4 * z, lay["rows"] * z), masked)
    assert (row_max[kept_ext] <= last_vn).all()
    # the block edge list reproduces the kept rows of the pcm exactly
    rows = lay["rows"]
    r_idx, c_idx = [], []
    for r in range(rows):
        for e in range(lay["row_ptr"][r], lay["row_ptr"][r + 1]):
            i = np.arange(z)
            r_idx.append(r * z + i)
            c_idx.append(lay["ecol"][e] * z + (i + lay["eshift"][e]) % z)
    mine = set(zip(np.concatenate(r_idx).tolist(), np.concatenate(c_idx).tolist()))
    kept = pcm[: rows * z].tocoo()
    assert mine == set(zip(kept.row.tolist(), kept.col.tolist()))


def test_matches_sionna_on_noisy_llrs(one_torch_thread):
    """Same LLRs in both decoders at a waterfall SNR: fast errors <= Sionna's (+ a small margin)."""
    enc = LDPC5GEncoder(500, 1000)
    u, llr, _ = qpsk_awgn_llrs(enc, 120, 1.8, make_generator(3))
    e_sio = block_errors(LDPC5GDecoder(enc, num_iter=20)(llr), u)
    e_fast = block_errors(FastLDPC5GDecoder(enc, num_iter=20)(llr), u)
    assert 0 < e_sio.sum() < 120  # the point is in the waterfall
    assert e_fast.sum() <= e_sio.sum() + 3
    # most codewords agree: both succeed or both fail
    assert (e_fast == e_sio).mean() > 0.85


def test_soft_output_sign_and_fixed_iterations():
    enc = LDPC5GEncoder(1000, 2000)
    u, llr, _ = qpsk_awgn_llrs(enc, 16, 2.0, make_generator(5))
    hard = FastLDPC5GDecoder(enc, early_stop=False, num_iter=7)
    soft = FastLDPC5GDecoder(enc, early_stop=False, num_iter=7, hard_out=False)
    h = hard(llr)
    s = soft(llr)
    assert torch.equal(h, (s >= 0).float())  # logits: >= 0 decides 1 (Sionna: LLR <= 0 -> 1)
    assert bool((hard.last_iterations == 7).all())
    es = FastLDPC5GDecoder(enc, num_iter=7)
    es(llr)
    assert int(es.last_iterations.max()) <= 7 and float(es.last_iterations.float().mean()) < 7


def test_syndrome_flag_means_valid_codeword():
    enc = LDPC5GEncoder(500, 750)
    u, llr, _ = qpsk_awgn_llrs(enc, 60, 1.5, make_generator(11))
    dec = FastLDPC5GDecoder(enc, return_syndrome_ok=True, num_iter=10)
    u_hat, ok = dec(llr)
    c_hat = FastLDPC5GDecoder(enc, return_infobits=False, num_iter=10)(llr)
    assert ok.dtype == torch.bool and ok.shape == (60,)
    assert 0 < int(ok.sum()) < 60
    # a flagged word is a codeword: re-encoding its info bits gives its decoded codeword bits
    assert torch.equal(enc(u_hat[ok]), c_hat[ok])
    assert not torch.equal(enc(u_hat[~ok]), c_hat[~ok])
    # per-call override
    only_bits = dec(llr, return_syndrome_ok=False)
    assert isinstance(only_bits, torch.Tensor) and torch.equal(only_bits, u_hat)


def test_offset_min_sum_and_scaling_options():
    enc = LDPC5GEncoder(1000, 2000)
    u, llr, _ = qpsk_awgn_llrs(enc, 60, 1.6, make_generator(2))
    errs = {}
    for name, kw in {"nms": {}, "oms": {"offset": 0.5}, "ms": {"scaling": 1.0}}.items():
        errs[name] = block_errors(FastLDPC5GDecoder(enc, **kw)(llr), u).sum()
        assert torch.equal(FastLDPC5GDecoder(enc, **kw)(3.0 * (2.0 * enc(u) - 1.0)), u)
    assert errs["nms"] <= errs["ms"]  # normalisation helps plain min-sum


def test_shapes_numpy_threads_and_determinism():
    enc = LDPC5GEncoder(200, 400)
    u = _bits(12, 200, 1)
    _, llr, _ = qpsk_awgn_llrs(enc, 12, 1.0, make_generator(4))
    dec = FastLDPC5GDecoder(enc)
    a = dec(llr.reshape(3, 4, 400))
    assert a.shape == (3, 4, 200) and dec.last_iterations.shape == (3, 4)
    b = dec(llr.numpy().astype(np.float64))
    assert torch.equal(a.reshape(12, 200), b)
    c = FastLDPC5GDecoder(enc, num_threads=1)(llr)
    assert torch.equal(b, c)
    assert dec(torch.zeros(0, 400)).shape == (0, 200)
    assert torch.equal(FastLDPC5GDecoder(enc)(3.0 * (2.0 * enc(u) - 1.0)), u)


def test_bad_inputs_raise_typed_errors():
    enc = LDPC5GEncoder(100, 200)
    dec = FastLDPC5GDecoder(enc)
    with pytest.raises(InputError):
        dec(torch.zeros(2, 199))
    with pytest.raises(InputError):
        dec(torch.full((2, 200), float("nan")))
    bad = torch.zeros(2, 200)
    bad[1, 5] = float("inf")
    with pytest.raises(InputError):
        dec(bad)
    huge = torch.full((2, 200), 3e38)  # finite LLRs whose float32 sum overflows: accepted
    assert dec(huge).shape == (2, 100)
    huge[0, 7] = float("-inf")
    with pytest.raises(InputError):
        dec(huge)
    with pytest.raises(InputError):
        dec(torch.zeros(2, 200, dtype=torch.complex64))
    with pytest.raises(InputError):
        dec([0.0] * 200)
    with pytest.raises(InputError):
        dec(torch.zeros(2, 200), num_iter=0)
    with pytest.raises(LinkError):
        FastLDPC5GDecoder(object())
    for kw in ({"num_iter": 0}, {"scaling": 0.0}, {"scaling": 1.5}, {"scaling": "0.7"}, {"offset": -1.0},
               {"early_stop": 1}, {"num_threads": 0}, {"llr_clip": 0.0}, {"llr_clip": -2.0}, {"llr_clip": True},
               {"llr_max": 0.0}, {"llr_max": "20"}, {"llr_max": float("nan")}, {"precision": "int4"},
               {"precision": "INT8"}):
        with pytest.raises(LinkError):
            FastLDPC5GDecoder(enc, **kw)


@pytest.mark.parametrize("k", [100, 1000])
def test_overconfident_wrong_bit_is_corrected(k, one_torch_thread):
    """Correct bits at |LLR| = 3, one wrong information bit at |LLR| = 50: corrected, as Sionna does."""
    enc = LDPC5GEncoder(k, 2 * k)
    u, llr = overconfident_llrs(enc, 64, make_generator(k + 1))
    assert int(block_errors(LDPC5GDecoder(enc, num_iter=20)(llr), u).sum()) == 0  # Sionna (llr_max = 20)
    for p in PRECISIONS:  # int8 needs its message saturation (47) above ~half the channel bound (63) here
        assert int(block_errors(FastLDPC5GDecoder(enc, precision=p)(llr), u).sum()) == 0
        assert int(block_errors(FastLDPC5GDecoder(enc, num_iter=200, precision=p)(llr), u).sum()) == 0
    # without saturation the confident wrong bit wins (the failure the default clipping removes)
    assert int(block_errors(FastLDPC5GDecoder(enc, llr_clip=None, num_iter=200, precision="float")(llr), u).sum()) > 0


def test_llr_saturation_semantics_and_scale_invariance():
    enc = LDPC5GEncoder(500, 1000)
    _, llr, _ = qpsk_awgn_llrs(enc, 24, 1.6, make_generator(8))
    llr[:, 7] = 60.0 * torch.sign(llr[:, 7])

    def soft(x, **kw):
        return FastLDPC5GDecoder(enc, hard_out=False, early_stop=False, num_iter=3, **kw)(x)

    # llr_clip: saturation at llr_clip times the word's mean |LLR|
    lim = 4.0 * llr.abs().mean(dim=1, keepdim=True)
    assert torch.allclose(soft(llr), soft(torch.maximum(torch.minimum(llr, lim), -lim), llr_clip=None), atol=1e-3)
    assert not torch.allclose(soft(llr), soft(llr, llr_clip=None), atol=1e-3)  # the clip is active here
    # llr_max: an absolute saturation (Sionna's llr_max), combined with llr_clip by the smaller bound
    assert torch.equal(soft(llr, llr_clip=None, llr_max=5.0), soft(llr.clamp(-5.0, 5.0), llr_clip=None))
    both = torch.minimum(lim, torch.tensor(5.0))
    assert torch.allclose(soft(llr, llr_max=5.0), soft(torch.maximum(torch.minimum(llr, both), -both), llr_clip=None),
                          atol=1e-3)
    # the default (relative) saturation keeps min-sum's scale invariance: hard decisions ignore the LLR scale
    dec = FastLDPC5GDecoder(enc)
    assert torch.equal(dec(llr), dec(10.0 * llr)) and torch.equal(dec(llr), dec(0.1 * llr))
    assert dec(torch.zeros(2, 1000)).shape == (2, 500)  # all-zero words: mean 0, no saturation, no crash


def test_default_scaling_rule():
    """``scaling=None`` takes the measured rule by base graph and lifting size; a float overrides it."""
    for k, n, bg in [(40, 80, None), (100, 200, "bg1"), (2016, 4032, None), (8448, 16896, None)]:
        enc = LDPC5GEncoder(k, n, bg=bg)
        lay = ldpc_layout(enc)
        assert lay["bg"] == (bg or ("bg1" if k == 8448 else "bg2"))
        dec = FastLDPC5GDecoder(enc)
        assert dec.scaling == default_scaling(lay["bg"], lay["z"])
        assert FastLDPC5GDecoder(enc, scaling=0.7).scaling == 0.7
    for bg in ("bg1", "bg2"):
        values = [default_scaling(bg, z) for z in range(2, 385)]
        assert all(0.5 < v <= 1.0 for v in values)
        assert values == sorted(values, reverse=True)  # longer liftings: smaller (or equal) factors
    with pytest.raises(LinkError):
        default_scaling("bg3", 10)
    with pytest.raises(LinkError):
        default_scaling("bg1", 0)


def test_snr_at_bler_interpolation():
    assert snr_at_bler([0.0, 1.0, 2.0], [0.5, 0.1, 0.001], 0.1) == pytest.approx(1.0)
    assert snr_at_bler([0.0, 1.0], [1.0, 0.01], 0.1) == pytest.approx(0.5)
    assert snr_at_bler([0.0, 1.0], [0.05, 0.01], 0.1) is None


# Long BLER-curve comparisons on identical LLRs: the fast decoder must reach BLER 10 % at an Eb/N0
# no more than 0.1 dB above Sionna's (LDPC5GDecoder: boxplus-phi, flooding, 20 iterations).
PARITY = [(504, 1008, 1.4, 400), (504, 756, 2.4, 400), (2016, 4032, 1.2, 300), (2016, 3024, 1.9, 300),
          (8448, 16896, 1.2, 150), (8448, 12672, 1.9, 150)]


@pytest.mark.slow
@pytest.mark.parametrize("k,n,center,codewords", PARITY)
def test_bler_parity_with_sionna(k, n, center, codewords, one_torch_thread):
    cfg = BenchConfig(parity_codewords=codewords, parity_points=7, iterations=20)
    curve = parity_curve(k, n, cfg, center, seed=17)
    s_sio, s_fast = curve["ebno_at_target_sionna"], curve["ebno_at_target_fast"]
    print("parity", curve)  # the evidence quoted in docs/ldpc_fast.md (run with -s)
    assert s_sio is not None and s_fast is not None, curve
    assert s_fast <= s_sio + 0.1, curve


def test_bench_run_tiny(one_torch_thread):
    from semcom.experiments.bench_ldpc import run

    res = run(BenchConfig(codes=[[200, 400]], codewords=48, sionna_codewords=4, calibration_codewords=48,
                          repeats=1))
    row = res.data["configs"][0]
    for key in ("sionna_mbps", "fast_mbps", "speedup", "bler_sionna", "bler_fast", "fast_mbps_per_core",
                "ebno_db", "fast_mean_iterations", "fast_fixed_iter_mbps", "fast_1thread_mbps"):
        assert key in row and row[key] is not None
    assert row["speedup"] == pytest.approx(row["fast_mbps"] / row["sionna_mbps"])
    assert row["speedup"] > 3  # the real ratio is ~100x; this only guards against a broken measurement
    assert set(row["precisions"]) == {"float", "int16", "int8"} and row["precision"] == DEFAULT_PRECISION
    for p, d in row["precisions"].items():
        assert d["precision"] == p and d["cpu_mbps_per_core"] > 0 and d["fixed_iter_cpu_mbps_per_core"] > 0
        assert d["fixed_iter_mbps_per_core"] == pytest.approx(d["fixed_iter_mbps"] / d["threads"])
        assert 0.0 <= d["bler"] <= 1.0 and d["speedup"] > 0
    assert row["fast_mbps"] == row["precisions"][DEFAULT_PRECISION]["mbps"]
    assert 0.0 <= row["bler_fast"] <= 1.0 and 1.0 <= row["fast_mean_iterations"] <= 20.0
    assert res.provenance["config"]["codes"] == [[200, 400]]
    assert res.data["machine"]["cores"] >= 1 and "loadavg_before" in res.data["machine"]


def test_bench_main_writes_json(tmp_path, monkeypatch):
    from semcom.experiments import bench_ldpc
    from semcom.experiments.results import Results

    seen = {}
    real_run = bench_ldpc.run

    def small_run(cfg):
        seen.update(cfg)
        return real_run({**cfg, "codes": [[120, 240]], "codewords": 16, "sionna_codewords": 2,
                         "calibration_codewords": 16})

    monkeypatch.setattr(bench_ldpc, "run", small_run)
    assert bench_ldpc.main(["--out", str(tmp_path), "--quick", "--iterations", "12", "--codewords", "16",
                            "--codes", "120:240,504:1008"]) == 0
    assert seen["iterations"] == 12 and seen["codewords"] == 16 and seen["repeats"] == 1
    assert seen["codes"] == [[120, 240], [504, 1008]]
    for bad in ("120", "120:x", "240:120"):
        with pytest.raises(InputError, match="codes"):  # the CLI's UsageError, shown without a traceback
            bench_ldpc.main(["--out", str(tmp_path), "--codes", bad])
    res = Results.load(tmp_path / "ldpc.json")
    assert res.name == "ldpc" and res.data["configs"][0]["k"] == 120 and res.data["iterations"] == 12


def test_parity_gaps_every_precision(one_torch_thread):
    """``semcom bench ldpc --parity``: each precision's Eb/N0 gap to Sionna on the same words (small code)."""
    from semcom.experiments.bench_ldpc import parity_gaps

    g = parity_gaps(100, 200, BenchConfig(parity_codewords=300, precisions=["int8"]), seed=2)
    assert set(g["precisions"]) == {"float", "int8"} and 0 < g["errors_sionna"] < 300
    for d in g["precisions"].values():
        assert len(d["bler_curve"]) == 7 and d["bler_curve"][0] >= d["bler_curve"][-1]
        assert d["gap_db"] is not None and abs(d["gap_db"]) < 0.3  # 300 words: only a sanity bound


def _decode_in_child(queue, dec, llr, u):
    torch.set_num_threads(1)  # PyTorch's own OpenMP pool is not usable after fork; the decoder needs none
    queue.put(bool(np.array_equal(dec(llr.numpy()).numpy(), u.numpy())))


def test_decodes_in_a_forked_child_after_threaded_use():
    """Process pools fork after the parent decoded with its thread pool: the child must not hang."""
    import multiprocessing as mp

    enc = LDPC5GEncoder(200, 400)
    u = _bits(64, 200, 9)
    llr = 3.0 * (2.0 * enc(u) - 1.0)
    dec = FastLDPC5GDecoder(enc, num_threads=2)
    assert torch.equal(dec(llr), u)  # threaded use in this process
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_decode_in_child, args=(queue, dec, llr, u))
    proc.start()
    proc.join(timeout=120)
    if proc.is_alive():
        proc.kill()
        pytest.fail("decoding in a forked child hung")
    assert proc.exitcode == 0 and queue.get(timeout=5) is True


# Parity at the default scaling rule on identical LLRs, from the smallest 5G code blocks to k = 8448
# (both base graphs; BG1 forced for short codes): Sionna decodes the words once at the Eb/N0 where
# the fast decoder's BLER is ~10 %, the fast decoder the same words on a 0.1 dB grid around it; the
# gap is the extra Eb/N0 the fast decoder needs to reach Sionna's BLER (see ldpc_tuning.scaling_point).
# The float32 reference is held to 0.05 dB; the default int8 decoder to 0.1 dB (its target: it adds
# 0.01-0.07 dB to the float decoder's gap).
PARITY_TOL_DB = {"float": 0.05, "int8": 0.1}


def _parity_gap(k: int, n: int, bg: str | None, codewords: int, seed: int,
                precision: str = DEFAULT_PRECISION) -> tuple[float, float, dict]:
    scaling = FastLDPC5GDecoder(LDPC5GEncoder(k, n, bg=bg)).scaling
    # k >= 3824 falls from 10 % to ~1 % BLER within the 0.05 dB calibration step: aim at 30 % there;
    # the point is the tested decoder's own (at scaling 0.75, the study's reference, the int8 decoder
    # at k = 8448 put it where Sionna's decoder made no error in 300 words)
    cfg = TuningConfig(codes=[[k, n, bg]], scalings=[scaling], codewords=[[8448, codewords]],
                       grid_db=[-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3], target_bler=0.3 if k > 3000 else 0.1,
                       precision=precision, calibration_scaling=scaling)
    point = scaling_point(k, n, bg, cfg, seed)
    # in the waterfall (long codes are steep: Sionna's BLER may be a few % where the fast one is 10 %)
    assert point["errors_sionna"] >= 5 and point["bler_sionna"] < 0.5, point
    gap, se = point["gap_db"][str(scaling)], point["gap_se_db"][str(scaling)]
    assert gap is not None and se is not None, point
    print("parity", precision, k, n, point["bg"], point["z"], scaling, gap, se)  # evidence for the docs (-s)
    return gap, se, point


@pytest.mark.parametrize("k,n,bg", [(56, 112, None), (100, 200, "bg1")])
def test_short_code_parity_fast(k, n, bg, one_torch_thread):
    """Cheap tier: the smallest codes of each base graph, 1500 words, default (int8) decoder.

    A loose bound (the slow tier is tight): 0.1 dB + 2 s.e. over Sionna.
    """
    gap, se, _ = _parity_gap(k, n, bg, 1500, seed=5)
    assert gap <= PARITY_TOL_DB["int8"] + 2 * se


def _parity_codewords(k: int) -> int:
    return 3000 if k <= 200 else 1000 if k <= 1100 else 400 if k <= 4100 else 300


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float", "int8"])
# the tuning study's codes plus the longest base graph 2 code (Z = 384)
@pytest.mark.parametrize("k,n,bg", [tuple(c) for c in TUNING_CODES] + [(3824, 7648, None)])
def test_parity_default_scaling_all_sizes(k, n, bg, precision, one_torch_thread):
    gap, se, _ = _parity_gap(k, n, bg, _parity_codewords(k), seed=23, precision=precision)
    assert gap <= PARITY_TOL_DB[precision] + 2 * se


@pytest.mark.parametrize("precision", ["int16", "int8"])
def test_fixed_point_quantiser_is_scale_free_and_survives_extreme_llrs(precision):
    """The per-word quantiser maps the word's own bound to the integer range: any finite scale decodes alike."""
    enc = LDPC5GEncoder(500, 1000)
    _, llr, _ = qpsk_awgn_llrs(enc, 16, 1.6, make_generator(12))
    dec = FastLDPC5GDecoder(enc, precision=precision)
    ref = dec(llr)
    for scale in (1e-30, 1e-3, 1e3, 1e30):
        assert torch.equal(dec(scale * llr), ref)
    huge = torch.full((2, 1000), 3.0e38)
    huge[1] = -3.0e38
    out = dec(huge)  # all ones (logit > 0) / all zeros: not a crash, a decision
    assert torch.isfinite(out).all() and out.shape == (2, 500)
    assert torch.equal(FastLDPC5GDecoder(enc, precision=precision, llr_clip=None, llr_max=1e3)(huge[1:]),
                       torch.zeros(1, 500))
