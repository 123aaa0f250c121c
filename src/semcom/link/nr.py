"""The bit-true 5G NR link (TS 38.212 / 38.214 / 38.211): compiled chain or Sionna's NR blocks.

Chain, per payload item ``[k]`` (see :mod:`semcom.link.layout` for the sizes)::

    payload [k] --split--> TBs of <= max_tb_bits bits (zero-padded to the 38.214 TBS)
      --TB CRC24A (CRC16 if TBS <= 3824)--> CB segmentation + CRC24B per CB (if > 1 CB)
      --5G LDPC + rate matching + bit interleaving + scrambling--> coded bits [G]
      --Gray QAM (Qm = 2/4/6/8, unit power)--> symbols [G / Qm]
      --channel: y = h x + n, n ~ CN(0, no), no = 10**(-snr_db/10)-->
      --equalise with the receiver's h_hat, soft demap (max-log by default, or exact APP)-->
      --descramble, de-interleave, LDPC decode per CB--> CB CRC check, TB CRC check

``chain="fast"`` (the default) runs every step except the channel and the decoder in the
compiled kernels of :mod:`semcom.link.chain_fast`, bit-exact with Sionna's blocks;
``chain="sionna"`` uses Sionna's ``TBEncoder``, ``Mapper``, ``Demapper``, descrambler and CRC
decoders (the decoding side composed here, as Sionna's ``TBDecoder`` does, so that the per-code-block
CRC24B outcome is kept). The channel (torch, the link's generator; ``noise="fast"``: a compiled
Gaussian generator seeded from it) and the LDPC decoder (``decoder=``) are the same for both, so
both chains give the same results for the same ``demapper``. A TB with a single code block
carries no CB CRC in 38.212; its code block's flag is the TB CRC. The received ``bits`` are the LDPC hard decisions of every code block (whether or
not it passed), in payload order.

Example::

    >>> import torch
    >>> from semcom.link import NRLink, MCS
    >>> link = NRLink(MCS.from_table(9), max_tb_bits=2000)
    >>> bits = torch.randint(0, 2, (2, 3000), generator=torch.Generator().manual_seed(1)).float()
    >>> res = link.transmit(bits, snr_db=10.0, generator=0)
    >>> bool(res.tb_ok.all()), res.bits.equal(bits), res.channel_uses == link.plan(3000).channel_uses
    (True, True, True)
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from concurrent.futures import Future

import numpy as np
import torch

from semcom.errors import LinkError
from semcom.link.base import Link, complex_normal, generator_or_seed, noise_variance, normal_pairs
from semcom.link._pipeline import receive_while_drawing
from semcom.link._threads import default_threads, side_pool
from semcom.link.layout import LinkPlan, TBLayout
from semcom.link.ldpc import DECODERS, make_ldpc_decoder
from semcom.link.mcs import MCS
from semcom.link.result import LinkResult

__all__ = ["NRLink"]

#: Code blocks per LDPC decoder call (bounds memory; results do not depend on it).
_DECODE_CHUNK_CBS = 512
#: Show a progress bar (progress=None) from this many code blocks on, when stderr is a terminal.
_PROGRESS_MIN_CBS = 4000

CHAINS = ("fast", "sionna")
NOISES = ("torch", "fast")


class _SionnaTBCodec:
    """Sionna's blocks for one TB layout: TBEncoder, Mapper, Demapper, descrambler, decoder, CRC checks."""

    def __init__(self, lay: TBLayout, mcs: MCS, decoder: str, num_iter: int, decoder_kw: dict, demapper: str):
        from sionna.phy.fec.crc import CRCDecoder
        from sionna.phy.fec.scrambling import Descrambler
        from sionna.phy.mapping import Demapper, Mapper
        from sionna.phy.nr import TBEncoder

        out = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(out):
            warnings.simplefilter("ignore", UserWarning)  # "effective rate > 948/1024" at the top MCS
            try:
                enc = TBEncoder(lay.tbs, lay.num_coded_bits, mcs.code_rate, mcs.modulation_order,
                                n_rnti=1, n_id=1, channel_type="PDSCH")
            except ValueError as exc:
                raise LinkError(f"Sionna's TB encoder refused TBS={lay.tbs}, G={lay.num_coded_bits}, {mcs}: {exc}") from exc
        if enc.tb_size != lay.tbs or enc.num_cbs != lay.num_cb or enc.ldpc_encoder.k != lay.cb_size or \
                [int(c) for c in enc.cw_lengths] != list(lay.cw_lengths):
            raise LinkError(f"internal: Sionna's TB layout differs from semcom's for TBS={lay.tbs}, G={lay.num_coded_bits}")
        self.lay = lay
        self.enc = enc
        self.ldpc_encoder = enc.ldpc_encoder
        self.mapper = Mapper("qam", mcs.modulation_order)
        self.demapper = Demapper(demapper, "qam", mcs.modulation_order)
        self.descrambler = Descrambler(enc.scrambler, binary=False)
        self.decoder = make_ldpc_decoder(decoder, enc.ldpc_encoder, num_iter, **decoder_kw)
        self.tb_crc = CRCDecoder(enc.tb_crc_encoder)
        self.cb_crc = CRCDecoder(enc.cb_crc_encoder) if enc.cb_crc_encoder is not None else None
        self.n_ldpc = int(enc.ldpc_encoder.n)
        self.perm_inv = enc.output_perm_inv
        self.num_fillers = self.n_ldpc * lay.num_cb - lay.num_coded_bits

    def encode(self, u: torch.Tensor) -> torch.Tensor:
        """``[N, tbs]`` bits -> ``[N, G]`` coded, scrambled bits (float 0/1)."""
        return self.enc(u)

    coded = encode  # the coded bits in the form ``map`` takes

    def map(self, c: torch.Tensor) -> torch.Tensor:
        """Coded bits ``[N, G]`` -> ``[N, N_RE]`` complex64 QAM symbols."""
        return self.mapper(c)

    def modulate(self, u: torch.Tensor) -> torch.Tensor:
        """``[N, tbs]`` bits -> ``[N, N_RE]`` complex64 QAM symbols."""
        return self.mapper(self.enc(u))

    def llrs(self, y: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        """Equalised symbols ``[N, N_RE]`` + noise variance -> decoder LLRs ``[N, C, n_ldpc]``."""
        lay = self.lay
        llr = self.demapper(y, no)
        n = llr.shape[0]
        z = self.descrambler(llr.reshape(n, 1, lay.num_coded_bits))
        if self.num_fillers:
            z = torch.cat([z, z.new_zeros(n, 1, self.num_fillers)], dim=-1)
        z = torch.index_select(z, -1, self.perm_inv)
        return z.reshape(n, lay.num_cb, self.n_ldpc)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decoder LLRs ``[N, C, n_ldpc]`` -> (bits ``[N, tbs]``, cb_ok ``[N, C]``, tb_ok ``[N]``)."""
        lay = self.lay
        n = z.shape[0]
        u_cb = self.decoder(z).to(torch.float32)  # [N, C, cb_size]
        if self.cb_crc is not None:
            u_data, ok = self.cb_crc(u_cb)
            cb_ok = ok.reshape(n, lay.num_cb).bool()
        else:
            u_data, cb_ok = u_cb, None
        u_tb = u_data.reshape(n, lay.tbs + lay.tb_crc_length)
        u, tb_ok = self.tb_crc(u_tb)
        tb_ok = tb_ok.reshape(n).bool()
        if cb_ok is None:
            cb_ok = tb_ok.reshape(n, 1)
        return u.reshape(n, lay.tbs), cb_ok, tb_ok

    def receive(self, y: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Equalised symbols ``[N, N_RE]`` + noise variance -> (bits ``[N, tbs]``, cb_ok ``[N, C]``, tb_ok ``[N]``)."""
        return self.decode(self.llrs(y, no))


class _FastTBCodec:
    """The compiled chain (:class:`~semcom.link.chain_fast.FastTBChain`) around an LDPC decoder, one TB layout."""

    def __init__(self, lay: TBLayout, mcs: MCS, decoder: str, num_iter: int, decoder_kw: dict, demapper: str,
                 num_threads: int | None):
        from semcom.link.chain_fast import FastTBChain

        self.lay = lay
        self.chain = FastTBChain(lay, mcs, n_rnti=1, n_id=1, demapper=demapper, num_threads=num_threads)
        self.ldpc_encoder = self.chain.ldpc_encoder
        if decoder == "fast":  # the encoder does not carry the modulation: the decoder's default for it
            from semcom.link.ldpc_fast import default_precision

            decoder_kw = {"precision": default_precision(lay.cb_size, self.chain.decoder_n, mcs.modulation_order),
                          **decoder_kw}
        self.decoder = make_ldpc_decoder(decoder, self.ldpc_encoder, num_iter, **decoder_kw)

    def encode(self, u: torch.Tensor) -> torch.Tensor:
        """``[N, tbs]`` bits -> ``[N, G]`` coded, scrambled bits (float 0/1)."""
        return torch.from_numpy(self.chain.encode(u)).to(torch.float32)

    def coded(self, u: torch.Tensor, threads: int | None = None) -> np.ndarray:
        """``[N, tbs]`` checked 0/1 bits -> ``[N, G]`` uint8 coded, scrambled bits (the form ``map`` takes)
        on ``threads`` threads (default: the chain's)."""
        return self.chain.encode(u.detach().numpy(), threads)  # float 0/1 read as they are: no conversion pass

    def map(self, c: np.ndarray) -> torch.Tensor:
        """Coded bits ``[N, G]`` uint8 -> ``[N, N_RE]`` complex64 QAM symbols."""
        return torch.from_numpy(self.chain.map(c))

    def modulate(self, u: torch.Tensor) -> torch.Tensor:
        """``[N, tbs]`` bits -> ``[N, N_RE]`` complex64 QAM symbols."""
        return self.map(self.coded(u))

    def llrs(self, y: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        """Equalised symbols ``[N, N_RE]`` + noise variance -> decoder LLRs ``[N, C, E_max]``."""
        return torch.from_numpy(self.chain.llrs(y, no))

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decoder LLRs ``[N, C, E_max]`` -> (bits ``[N, tbs]``, cb_ok ``[N, C]``, tb_ok ``[N]``)."""
        u, cb_ok, tb_ok = self._decode_check(z.numpy())
        return torch.from_numpy(u), torch.from_numpy(cb_ok), torch.from_numpy(tb_ok)

    def _decode_check(self, z: np.ndarray, threads: int | None = None, out: tuple | None = None) -> tuple:
        """Decoder LLRs ``[N, C, E_max]`` (numpy) -> the TB bits (float32), cb_ok and tb_ok (numpy,
        written to ``out`` if given, see :meth:`FastTBChain.check`) on ``threads`` threads."""
        lay = self.lay
        n = z.shape[0]
        flat = np.ascontiguousarray(self.chain.fold(z.reshape(n * lay.num_cb, -1)))  # repetitions combined
        trusted = getattr(self.decoder, "decode_trusted", None)  # the compiled demapper's LLRs need no check
        u_cb = trusted(flat, threads=threads)[0] if trusted is not None else self.decoder(torch.from_numpy(flat))
        return self.chain.check(u_cb.reshape(n, lay.num_cb, lay.cb_size), dtype=np.float32, threads=threads, out=out)

    def send_noisy(self, u: torch.Tensor, z: torch.Tensor, no: float, threads: int | None, out: tuple) -> None:
        """``[N, tbs]`` checked 0/1 bits and N(0, 1) draws ``z`` ``[N, N_RE, 2]`` -> encoding
        (:meth:`coded`), the AWGN channel (:meth:`FastTBChain.noisy_llrs`), decoding and the CRC
        checks, written to ``out`` (numpy TB bits float32 ``[N, tbs]``, cb_ok ``[N, C]``, tb_ok
        ``[N]``) on ``threads`` threads (default: the chain's)."""
        self._decode_check(self.chain.noisy_llrs(self.coded(u, threads), z, no, threads), threads, out)

    def send_awgn(self, u: torch.Tensor, seed: int, no: float, row0: int = 0) -> tuple:
        """``[N, tbs]`` checked 0/1 bits -> encoding and the AWGN channel with the compiled noise of
        stream rows ``row0 ...`` of ``seed`` in one kernel (:meth:`FastTBChain.encode_awgn_llrs`),
        decoding and the CRC checks: (bits ``[N, tbs]``, cb_ok ``[N, C]``, tb_ok ``[N]``)."""
        u, cb_ok, tb_ok = self._decode_check(self.chain.encode_awgn_llrs(u.detach().numpy(), seed, no, row0))
        return torch.from_numpy(u), torch.from_numpy(cb_ok), torch.from_numpy(tb_ok)

    def outputs(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Empty (bits ``[n, tbs]`` float32, cb_ok ``[n, C]``, tb_ok ``[n]``) for :meth:`send_noisy`."""
        return (torch.empty(n, self.lay.tbs), torch.empty(n, self.lay.num_cb, dtype=torch.bool),
                torch.empty(n, dtype=torch.bool))

    def receive(self, y: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Equalised symbols ``[N, N_RE]`` + noise variance -> (bits ``[N, tbs]``, cb_ok ``[N, C]``, tb_ok ``[N]``)."""
        return self.decode(self.llrs(y, no))

    def noisy_llrs(self, c: np.ndarray, z: torch.Tensor, no: float) -> torch.Tensor:
        """Coded bits ``[N, G]`` uint8 + N(0, 1) draws ``z`` ``[N, N_RE, 2]`` -> decoder LLRs
        ``[N, C, E_max]`` after AWGN of variance ``no``, fused (:meth:`FastTBChain.noisy_llrs`)."""
        return torch.from_numpy(self.chain.noisy_llrs(c, z, no))

    def awgn_llrs(self, c: np.ndarray, seed: int, no: float, row0: int = 0) -> torch.Tensor:
        """Coded bits ``[N, G]`` uint8 -> decoder LLRs ``[N, C, E_max]`` after AWGN with the compiled
        noise of stream rows ``row0 ...`` of ``seed``, fused (:meth:`FastTBChain.awgn_llrs`)."""
        return torch.from_numpy(self.chain.awgn_llrs(c, seed, no, row0))


class NRLink(Link):
    """Bit-true 5G NR link: TB/CB segmentation + CRCs, 5G LDPC, QAM, channel, per-CB outcome.

    Args:
        mcs, mcs_table, max_tb_bits, channel, fading, csi, csi_error_var, bg1_repetition: see
            :class:`~semcom.link.base.Link` (channel and CSI models are described in
            :mod:`semcom.link.base`; ``bg1_repetition=True`` needs the compiled chain and the fast
            decoder, as the other codes below Sionna's lowest rates).
        decoder: ``"fast"`` (default: layered normalised min-sum, BLER parity with Sionna proven in
            ``tests/link/test_ldpc_fast.py``, over 100x faster) or ``"sionna"`` (see :mod:`semcom.link.ldpc`).
        num_iter: LDPC belief-propagation iterations (default 20).
        decoder_kw: extra keyword arguments of the LDPC decoder.
        chain: ``"fast"`` (default: the compiled chain of :mod:`semcom.link.chain_fast`, bit-exact
            with Sionna's blocks, ``tests/link/test_chain_fast.py``) or ``"sionna"`` (Sionna's
            ``TBEncoder``, ``Mapper``, ``Demapper``, descrambler and CRC decoders). Both give the
            same coded bits and, for the same ``demapper``, the same LLRs up to float rounding.
        demapper: ``"maxlog"`` (default: the closed-form max-log LLRs a receiver computes) or
            ``"app"`` (exact a-posteriori LLRs, what the link used before the compiled chain).
        num_threads: worker threads of the compiled chain and of the fast decoder (default: the
            cores this process may use; ``decoder_kw["num_threads"]`` overrides it for the decoder).
        progress: ``True`` / ``False`` for a tqdm bar over decoder chunks; ``None`` shows it only
            for long transmissions (>= 4000 code blocks) on a terminal.
        noise: source of the channel's additive noise. ``"torch"`` (default: ``torch.randn`` on the
            generator, the draws every committed result was made with, the same in both chains) or
            ``"fast"`` (the compiled ziggurat of :mod:`semcom.link._gauss` on ``num_threads``
            threads, seeded per draw by one ``torch.randint`` from the generator: reproducible
            from the same seed, exactly Gaussian, other values than ``"torch"``). Fading gains and
            CSI errors are drawn with torch either way. With ``chain="fast"``, AWGN and QPSK or
            max-log 16QAM, mapping, noise and demapping run in one fused kernel
            (:meth:`~semcom.link.chain_fast.FastTBChain.awgn_llrs`): the same results, float for float.

    ``transmit(bits [..., k], snr_db, *, generator)`` returns a :class:`LinkResult`; the same
    generator seed gives the same result. Random draws, in order: block fading coefficients,
    then per TB size class the fast-fading coefficients, the noise (with ``noise="fast"``: one
    seed) and the CSI errors.
    """

    fidelity = "bittrue"

    def __init__(
        self,
        mcs: MCS | int | tuple = None,
        *,
        mcs_table: int = 1,
        max_tb_bits: int | None = None,
        channel: str = "awgn",
        fading: str = "per_cb",
        csi: str = "perfect",
        csi_error_var: float = 0.1,
        decoder: str = "fast",
        num_iter: int = 20,
        decoder_kw: dict | None = None,
        progress: bool | None = None,
        chain: str = "fast",
        demapper: str = "maxlog",
        num_threads: int | None = None,
        noise: str = "torch",
        bg1_repetition: bool = False,
    ) -> None:
        super().__init__(mcs, mcs_table=mcs_table, max_tb_bits=max_tb_bits, channel=channel, fading=fading,
                         csi=csi, csi_error_var=csi_error_var, bg1_repetition=bg1_repetition)
        if decoder not in DECODERS:
            raise LinkError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 1:
            raise LinkError(f"num_iter must be a positive int, got {num_iter!r}")
        if chain not in CHAINS:
            raise LinkError(f"chain must be one of {CHAINS}, got {chain!r}")
        if demapper not in ("maxlog", "app"):
            raise LinkError(f"demapper must be 'maxlog' or 'app', got {demapper!r}")
        if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int)
                                        or num_threads < 1):
            raise LinkError(f"num_threads must be a positive int or None, got {num_threads!r}")
        if noise not in NOISES:
            raise LinkError(f"noise must be one of {NOISES}, got {noise!r}")
        self.decoder = decoder
        self.num_iter = num_iter
        self.decoder_kw = dict(decoder_kw or {})
        if decoder == "fast" and num_threads is not None:
            self.decoder_kw.setdefault("num_threads", num_threads)
        self.progress = progress
        self.chain = chain
        self.demapper = demapper
        self.num_threads = num_threads
        self.noise = noise
        self._codecs: dict[tuple[int, int], _SionnaTBCodec | _FastTBCodec] = {}
        self._fuse_awgn = True  # private switch: False takes the unfused path (tests compare the two)
        if decoder == "fast":  # fail early, with a clear message, when the fast decoder is missing
            _check_fast_decoder()

    def _codec(self, lay: TBLayout) -> _SionnaTBCodec | _FastTBCodec:
        """The cached chain of one TB size (built on first use)."""
        key = (lay.tbs, lay.num_coded_bits)
        codec = self._codecs.get(key)
        if codec is None:
            if self.chain == "fast":
                codec = _FastTBCodec(lay, self.mcs, self.decoder, self.num_iter, self.decoder_kw, self.demapper,
                                     self.num_threads)
            else:
                codec = _SionnaTBCodec(lay, self.mcs, self.decoder, self.num_iter, self.decoder_kw, self.demapper)
            self._codecs[key] = codec
        return codec

    def describe(self) -> dict:
        d = super().describe()
        d.update(decoder=self.decoder, num_iter=self.num_iter, chain=self.chain, demapper=self.demapper,
                 noise=self.noise)
        return d

    # ------------------------------------------------------------------ transmit
    def transmit(self, bits: torch.Tensor, snr_db: float, *, generator: int | torch.Generator | None = None,
                 seed: int | torch.Generator | None = None) -> LinkResult:
        """Send payload ``bits`` ``[..., k]`` (0/1) at ``snr_db`` (Es/N0, dB); see the class docstring."""
        generator = generator_or_seed(generator, seed)
        # the compiled chain's encoder checks the bits as it reads them (no separate pass)
        x, batch_shape, snr_db, gen, plan = self._prepare(bits, snr_db, generator, check_values=self.chain != "fast")
        b = x.shape[0]
        no = noise_variance(snr_db)
        h_cb = self._block_gains(plan, b, gen)  # [B, num_cb] complex or None
        h_hat_cb = None
        if h_cb is not None and self.csi == "estimated":
            h_hat_cb = h_cb + self._block_error(plan, b, gen)

        out_bits = torch.empty_like(x)
        cb_ok = torch.zeros(b, plan.num_cb, dtype=torch.bool)
        tb_ok = torch.zeros(b, plan.num_tb, dtype=torch.bool)
        gain = torch.empty(b, plan.num_cb) if self.channel != "awgn" else None

        cb_first = []
        acc = 0
        for lay in plan.tbs:
            cb_first.append(acc)
            acc += lay.num_cb
        starts = plan.tb_starts
        groups: dict[int, list[int]] = {}
        for t, kt in enumerate(plan.tb_payload):
            groups.setdefault(kt, []).append(t)

        total_cbs = b * plan.num_cb
        bar = self._progress_bar(total_cbs)
        try:
            for kt, tbs_idx in groups.items():
                lay = plan.tbs[tbs_idx[0]]
                codec = self._codec(lay)
                nt, c = len(tbs_idx), lay.num_cb
                if nt == 1 and kt == lay.tbs:  # one TB without padding (e.g. a slot-sized payload): no copy
                    u = x[:, starts[tbs_idx[0]]:starts[tbs_idx[0]] + kt]
                else:
                    u = torch.zeros(b, nt, lay.tbs)
                    for j, t in enumerate(tbs_idx):
                        u[:, j, :kt] = x[:, starts[t]:starts[t] + kt]
                    u = u.reshape(b * nt, lay.tbs)
                cb_cols = torch.tensor([cb_first[t] + i for t in tbs_idx for i in range(c)], dtype=torch.long)
                u_hat, ok_cb, ok_tb, g = self._send_group(codec, u, lay, b, nt, cb_cols, h_cb, h_hat_cb, no, gen, bar)
                if g is not None:
                    gain[:, cb_cols] = g.reshape(b, nt * c)
                if plan.num_tb == 1 and kt == lay.tbs:  # the decoded TB is the payload: no copies
                    out_bits, cb_ok, tb_ok = u_hat.reshape(b, kt), ok_cb.reshape(b, c), ok_tb.reshape(b, 1)
                    continue
                u_hat = u_hat.reshape(b, nt, lay.tbs)
                for j, t in enumerate(tbs_idx):
                    out_bits[:, starts[t]:starts[t] + kt] = u_hat[:, j, :kt]
                cb_ok[:, cb_cols] = ok_cb.reshape(b, nt * c)
                tb_ok[:, torch.tensor(tbs_idx)] = ok_tb.reshape(b, nt)
        finally:
            if bar is not None:
                bar.close()

        return LinkResult.from_plan(plan, batch_shape, out_bits, cb_ok, tb_ok, snr_db, gain)

    # ------------------------------------------------------------------ pieces
    def _send_group(self, codec, u, lay, b, nt, cb_cols, h_cb, h_hat_cb, no, gen, bar):
        """Encode ``u`` ``[B*nt, TBS]``, send it through the channel, receive it: (bits, cb_ok, tb_ok, |h|^2 or None)."""
        if self._fuses_awgn(codec):
            return (*self._send_fused(codec, u, lay, no, gen, bar), None)
        noise = self._noise_ahead(lambda: complex_normal((u.shape[0], lay.num_re), gen, no))
        try:
            sym = codec.modulate(u)  # [B*nt, N_RE] complex64
            y_eq, no_eff, g = self._channel(sym, lay, b, nt, cb_cols, h_cb, h_hat_cb, no, gen, noise)
        finally:
            if noise is not None:  # on an error too: the side thread is done with gen when we go on
                noise.exception()
        return (*self._receive_chunks(codec, y_eq.shape[0], bar, lambda i, j: codec.receive(
            y_eq[i:j], no_eff if no_eff.dim() == 0 else no_eff[i:j])), g)

    def _send_fused(self, codec, u, lay, no, gen, bar):
        """AWGN with a fused kernel: encode, then per decode chunk map, add the noise and demap in one
        pass per TB row (no symbol, noise or received arrays), decode: (bits, cb_ok, tb_ok).

        ``noise="fast"``: one seed (the one :meth:`_draw_noise` draws after mapping: nothing draws
        from ``gen`` in between), then per decode chunk the encoding and the channel in one kernel
        (:meth:`FastTBChain.encode_awgn_llrs`); each row's noise comes from its own stream.
        ``noise="torch"``: the N(0, 1) draws of :func:`~semcom.link.base.complex_normal`
        (:func:`~semcom.link.base.normal_pairs` on ``gen``), scaled and added to the symbols in the
        kernel (:meth:`FastTBChain.noisy_llrs`); on two or more threads (:meth:`_draws_ahead`)
        drawn in chunks while a side thread encodes and receives the chunks already drawn
        (:func:`semcom.link._pipeline.receive_while_drawing`). Both give the unfused path's
        results float for float. Each stage splits its rows over the kernel threads. (Running the
        whole chain per part of the rows on each kernel thread instead, so that a helper thread
        wakes once per group rather than once per stage, was measured slower on 2 cores: more
        hand-overs of the interpreter lock.)
        """
        if self.noise == "fast":
            seed = self._fast_noise_seed(gen)
            return self._receive_chunks(codec, u.shape[0], bar, lambda i, j: codec.send_awgn(u[i:j], seed, no, i))
        if self._draws_ahead():
            return receive_while_drawing(codec, u, no, gen, max(1, _DECODE_CHUNK_CBS // lay.num_cb), bar)
        z = normal_pairs((u.shape[0], lay.num_re), gen)
        outs = codec.outputs(u.shape[0])
        out_np = tuple(o.numpy() for o in outs)
        return self._receive_chunks(codec, u.shape[0], bar, lambda i, j: codec.send_noisy(
            u[i:j], z[i:j], no, None, tuple(o[i:j] for o in out_np)), into=outs)

    def _fuses_awgn(self, codec) -> bool:
        """Whether the group takes a fused AWGN kernel (:meth:`_send_fused`): compiled chain, AWGN, and
        a demapper with a closed form (QPSK, or 16QAM max-log), either noise source. Bit-identical
        to the unfused path (``tests/link/test_awgn_fused.py``); ``_fuse_awgn = False`` turns it off."""
        return (self._fuse_awgn and self.channel == "awgn" and isinstance(codec, _FastTBCodec)
                and codec.chain.closed_form)

    def _fast_noise_seed(self, gen: torch.Generator) -> int:
        """The seed of one compiled noise draw: one ``torch.randint`` from the link's generator."""
        return int(torch.randint(0, 2 ** 62, (1,), generator=gen))

    def _block_error(self, plan: LinkPlan, b: int, gen: torch.Generator) -> torch.Tensor:
        """CSI error ``e ~ CN(0, csi_error_var)`` per fading block, ``[B, num_cb]``."""
        if self.fading == "per_cb":
            return complex_normal((b, plan.num_cb), gen, self.csi_error_var)
        e = complex_normal((b, plan.num_tb), gen, self.csi_error_var)
        return e[:, torch.tensor(plan.cb_tb, dtype=torch.long)]

    def _noise_ahead(self, draw) -> Future | None:
        """Start ``draw()`` (the AWGN of the next group, from the generator) on a side thread while
        its TBs are encoded.

        Only where the noise is the next draw from the generator (AWGN and block Rayleigh, whose
        gains are drawn before the groups), ``noise="torch"``, and the compiled chain runs on
        several threads; otherwise ``None`` and the caller draws it in place. The draws are the
        same either way: nothing else uses the generator until the future is done (``transmit``
        waits for it, on an error too). ``noise="fast"`` draws in place, on the kernel threads.
        (Drawing it in row chunks so that the receiver could start on the first was measured: no
        gain on 2 cores, the side thread then competes with the decoder's threads.)
        """
        return side_pool().submit(draw) if self._draws_ahead() else None

    def _draws_ahead(self) -> bool:
        """Whether the AWGN is drawn on the side thread (:meth:`_noise_ahead`)."""
        threads = self.num_threads or default_threads()
        return self.noise == "torch" and self.chain == "fast" and threads >= 2 and self.channel in ("awgn", "rayleigh")

    def _draw_noise(self, shape: tuple[int, ...], gen: torch.Generator, no: float) -> torch.Tensor:
        """The channel's additive noise ``CN(0, no)`` from the ``noise`` source (class docstring)."""
        if self.noise == "torch":
            return complex_normal(shape, gen, no)
        from semcom.link._gauss import complex_normal_fast

        return complex_normal_fast(shape, self._fast_noise_seed(gen), no, threads=self.num_threads)

    def _channel(self, sym, lay, b, nt, cb_cols, h_cb, h_hat_cb, no, gen, noise: Future | None = None):
        """Apply the channel to ``sym`` ``[B*nt, N_RE]``; return (equalised y, effective no, |h|^2 per CB).

        ``noise``: the AWGN drawn ahead by :meth:`_noise_ahead`, or ``None`` to draw it here.
        """
        counts = torch.tensor(lay.cb_symbol_counts, dtype=torch.long)
        n = noise.result() if noise is not None else None  # set only for "awgn" and "rayleigh"
        if self.channel == "awgn":
            y = (n if n is not None else self._draw_noise(tuple(sym.shape), gen, no)).add_(sym)  # = sym + n, in place
            return y, torch.tensor(no, dtype=torch.float32), None
        if self.channel == "rayleigh":
            h_blk = h_cb[:, cb_cols].reshape(b * nt, lay.num_cb)
            h = torch.repeat_interleave(h_blk, counts, dim=-1)
            g = h_blk.abs() ** 2
            y = h * sym + (n if n is not None else self._draw_noise(tuple(sym.shape), gen, no))
            if self.csi == "perfect":
                h_hat = h
            elif self.csi == "estimated":
                h_hat = torch.repeat_interleave(h_hat_cb[:, cb_cols].reshape(b * nt, lay.num_cb), counts, dim=-1)
            else:
                h_hat = None
        else:  # rayleigh_fast
            h = complex_normal(tuple(sym.shape), gen)
            y = h * sym + self._draw_noise(tuple(sym.shape), gen, no)
            g = torch.stack([seg.abs().pow(2).mean(-1) for seg in torch.split(h, list(lay.cb_symbol_counts), dim=-1)], -1)
            if self.csi == "perfect":
                h_hat = h
            elif self.csi == "estimated":
                h_hat = h + complex_normal(tuple(sym.shape), gen, self.csi_error_var)
            else:
                h_hat = None
        if h_hat is None:  # csi="none": the receiver assumes h = 1
            return y, torch.tensor(no, dtype=torch.float32), g
        extra = self.csi_error_var if self.csi == "estimated" else 0.0
        p = (h_hat.abs() ** 2).clamp_min(1e-12)
        y_eq = y * h_hat.conj() / p
        no_eff = ((no + extra) / p).to(torch.float32)
        return y_eq, no_eff, g

    def _receive_chunks(self, codec, n: int, bar, receive, into=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``receive(i, j)`` (demap and decode rows ``[i, j)`` of ``n``) in chunks of about
        ``_DECODE_CHUNK_CBS`` code blocks; the outcomes concatenated, or ``into`` if given (the
        outputs ``receive`` writes)."""
        rows = max(1, _DECODE_CHUNK_CBS // codec.lay.num_cb)
        outs = []
        for i in range(0, n, rows):
            j = min(n, i + rows)
            outs.append(receive(i, j))
            if bar is not None:
                bar.update((j - i) * codec.lay.num_cb)
        if into is not None:
            return into
        if len(outs) == 1:
            return outs[0]
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs]), torch.cat([o[2] for o in outs])

    def _progress_bar(self, total_cbs: int):
        show = self.progress
        if show is None:
            show = total_cbs >= _PROGRESS_MIN_CBS and sys.stderr.isatty()
        if not show:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total_cbs, desc="LDPC decode", unit="CB", leave=False)

    def encode(self, bits: torch.Tensor) -> list[torch.Tensor]:
        """The coded, scrambled bits of each TB of a payload ``[k]`` or ``[B, k]`` (for inspection).

        Returns one ``[B, G_t]`` tensor per transport block.
        """
        from semcom.link.base import check_payload

        x, _ = check_payload(bits)
        plan = self.plan(int(x.shape[-1]))
        out = []
        for t, (kt, s) in enumerate(zip(plan.tb_payload, plan.tb_starts)):
            lay = plan.tbs[t]
            u = torch.zeros(x.shape[0], lay.tbs)
            u[:, :kt] = x[:, s:s + kt]
            out.append(self._codec(lay).encode(u))
        return out


def _check_fast_decoder() -> None:
    try:
        import importlib

        importlib.import_module("semcom.link.ldpc_fast")
    except ImportError as exc:
        raise LinkError(
            f"decoder='fast' needs semcom.link.ldpc_fast (FastLDPC5GDecoder), which could not be imported: {exc}. "
            "Use decoder='sionna'."
        ) from exc
