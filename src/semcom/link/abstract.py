"""Abstracted links: the bit-true link's interface and layout, without encoding or decoding.

Both links here use exactly the TB/CB layout and channel uses of :class:`~semcom.link.nr.NRLink`
(:mod:`semcom.link.layout`) and return the same :class:`~semcom.link.result.LinkResult`; only the
per-code-block outcome is drawn from a model:

* :class:`ErasureLink`: every code block fails independently with probability ``cbler``
  (channel and SNR play no role).
* :class:`BLERTableLink`: code block ``j`` fails with probability ``BLER(MCS, K'_j, SNR_j)`` read
  from the BLER tables that ship with Sionna (``sionna.sys.PHYAbstraction``, PDSCH tables,
  obtained by Sionna from AWGN simulations of single 5G LDPC code blocks). ``SNR_j`` is the nominal
  SNR for AWGN and the instantaneous SNR ``|h_j|^2 * snr`` for block Rayleigh fading (``h`` drawn
  per code block or per TB exactly as the bit-true link does); with ``csi="estimated"`` it is
  ``|h_hat|^2 / (no + csi_error_var)``; with ``csi="none"`` a Rayleigh-faded block always fails
  (the receiver cannot undo the random phase). Fast fading is not modelled (it needs an
  effective-SNR mapping) and raises :class:`~semcom.errors.LinkError`.

  Limits, documented: the tables hold code-block sizes 24, 100, 500, 1000, 2000 bits and SNRs
  -5..20 dB; Sionna interpolates on a grid to 8448 bits / 30 dB and clamps to the edge, so code
  blocks larger than ~2000 bits get the 2000-bit curve (slightly pessimistic: longer codes have
  steeper waterfalls). An MCS that is not a table row (``MCS.from_rate``) uses the nearest table
  entry with the same modulation (by code rate); MCS indices without a table (rates <= 1/5)
  raise :class:`~semcom.errors.LinkError`.

An abstraction has no decoder output: the bits of a failed code block are delivered as random
bits (uniform, drawn from the generator), those of a passed code block exactly. A TB passes iff
all its code blocks pass.

Example::

    >>> import torch
    >>> from semcom.link import make_link
    >>> link = make_link("bler_table", mcs=9, max_tb_bits=1500)
    >>> res = link.transmit(torch.zeros(4, 3000), snr_db=10.0, generator=0)
    >>> res.cb_ok.shape, bool(res.cb_ok.all())
    (torch.Size([4, 2]), True)
"""

from __future__ import annotations

import torch

from semcom.errors import LinkError
from semcom.link.base import Link, check_snr_db, complex_normal, noise_variance
from semcom.link.layout import LinkPlan
from semcom.link.mcs import MCS
from semcom.link.result import LinkResult

__all__ = ["ErasureLink", "BLERTableLink", "bler_table_lookup"]

_PHY_ABS: dict[int, object] = {}


def _phy_abstraction(table: int):
    """Sionna's PHYAbstraction loaded with the PDSCH BLER table ``table`` only (cached per process).

    Loading one table file instead of all six keeps the set-up below a second.
    """
    phy = _PHY_ABS.get(table)
    if phy is None:
        import os

        import sionna.sys
        from sionna.sys import PHYAbstraction

        path = os.path.join(os.path.dirname(sionna.sys.__file__), "bler_tables", f"PDSCH_table{table}.json")
        phy = PHYAbstraction(load_bler_tables_from=[path])
        _PHY_ABS[table] = phy
    return phy


def bler_table_lookup(mcs: MCS, cb_size: int | torch.Tensor, snr: torch.Tensor) -> torch.Tensor:
    """Code-block error probability from Sionna's PDSCH BLER tables.

    Args:
        mcs: the MCS (non-table MCS: nearest entry with the same modulation, see module docstring).
        cb_size: LDPC information length ``K'`` of the code block(s) (CRC included), broadcast.
        snr: linear SNR (Es/N0) per code block, any shape.

    Returns:
        BLER in [0, 1], shaped like ``snr``.

    Example::

        >>> import torch
        >>> from semcom.link import MCS
        >>> p = bler_table_lookup(MCS.from_table(9), 1000, torch.tensor([0.1, 100.0]))
        >>> bool(p[0] > 0.99), bool(p[1] < 1e-3)
        (True, True)
    """
    entry = mcs.nearest_table_entry()
    phy = _phy_abstraction(entry.table)
    snr = torch.as_tensor(snr, dtype=torch.float32).clamp_min(1e-6)
    cbs = torch.as_tensor(cb_size, dtype=torch.int32).expand(snr.shape) if torch.is_tensor(cb_size) else cb_size
    bler = phy.get_bler(entry.index, entry.table, 1, cbs, snr)
    if not bool(torch.isfinite(bler).all()):
        raise LinkError(f"Sionna's BLER tables have no entry for {entry}")
    return bler.clamp(0.0, 1.0).to(torch.float32)


class _AbstractLink(Link):
    """Shared transmit of the abstractions: draw per-CB failures, deliver random bits for failures."""

    def _fail_prob(self, plan: LinkPlan, b: int, snr_db: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError  # pragma: no cover

    def transmit(self, bits: torch.Tensor, snr_db: float, *, generator: int | torch.Generator | None = None) -> LinkResult:
        """Send payload ``bits`` ``[..., k]`` at ``snr_db``; same generator seed -> same result."""
        x, batch_shape, snr_db, gen, plan = self._prepare(bits, snr_db, generator)
        b = x.shape[0]
        p_fail, gain = self._fail_prob(plan, b, snr_db, gen)  # [B, num_cb]
        u = torch.rand(b, plan.num_cb, generator=gen)
        cb_ok = u >= p_fail
        rand_bits = torch.randint(0, 2, x.shape, generator=gen).to(torch.float32)
        counts = torch.tensor([e - s for s, e in plan.cb_ranges], dtype=torch.long)
        mask = torch.repeat_interleave(cb_ok, counts, dim=-1)
        out = torch.where(mask, x, rand_bits)
        tb_ok = torch.ones(b, plan.num_tb, dtype=torch.bool)
        cb_tb = torch.tensor(plan.cb_tb, dtype=torch.long)
        # A TB passes iff all of its code blocks pass.
        fails = torch.zeros(b, plan.num_tb).index_add_(1, cb_tb, (~cb_ok).to(torch.float32))
        tb_ok = fails == 0
        return LinkResult(
            bits=out.reshape(*batch_shape, plan.k),
            cb_ok=cb_ok.reshape(*batch_shape, plan.num_cb),
            tb_ok=tb_ok.reshape(*batch_shape, plan.num_tb),
            cb_ranges=list(plan.cb_ranges),
            cb_tb=list(plan.cb_tb),
            channel_uses=plan.channel_uses,
            num_coded_bits=plan.num_coded_bits,
            snr_db=snr_db,
            channel_gain=None if gain is None else gain.reshape(*batch_shape, plan.num_cb),
        )


class ErasureLink(_AbstractLink):
    """Code-block erasure channel: each code block fails independently with probability ``cbler``.

    Args:
        cbler: code-block error probability in [0, 1].
        mcs, mcs_table, max_tb_bits: the layout (as :class:`~semcom.link.nr.NRLink`).
        channel, fading, csi, csi_error_var: accepted for interface compatibility, not used
            (the outcome does not depend on the channel or the SNR).
    """

    fidelity = "erasure"

    def __init__(self, mcs: MCS | int | tuple = None, *, cbler: float = None, mcs_table: int = 1,
                 max_tb_bits: int | None = None, channel: str = "awgn", fading: str = "per_cb",
                 csi: str = "perfect", csi_error_var: float = 0.1) -> None:
        super().__init__(mcs, mcs_table=mcs_table, max_tb_bits=max_tb_bits, channel=channel, fading=fading,
                         csi=csi, csi_error_var=csi_error_var)
        try:
            cbler = float(cbler)
        except (TypeError, ValueError):
            raise LinkError(f"ErasureLink needs cbler, a probability in [0, 1]; got {cbler!r}") from None
        if not (0.0 <= cbler <= 1.0):
            raise LinkError(f"cbler must lie in [0, 1], got {cbler}")
        self.cbler_target = cbler

    def _fail_prob(self, plan, b, snr_db, gen):
        return torch.full((b, plan.num_cb), self.cbler_target), None

    def describe(self) -> dict:
        d = super().describe()
        d["cbler"] = self.cbler_target
        return d


class BLERTableLink(_AbstractLink):
    """Per-code-block errors from Sionna's BLER tables (see the module docstring for the model).

    Args:
        mcs, mcs_table, max_tb_bits, channel, fading, csi, csi_error_var: as
            :class:`~semcom.link.nr.NRLink` (``channel="rayleigh_fast"`` is not supported).
    """

    fidelity = "bler_table"

    def __init__(self, mcs: MCS | int | tuple = None, *, mcs_table: int = 1, max_tb_bits: int | None = None,
                 channel: str = "awgn", fading: str = "per_cb", csi: str = "perfect",
                 csi_error_var: float = 0.1) -> None:
        super().__init__(mcs, mcs_table=mcs_table, max_tb_bits=max_tb_bits, channel=channel, fading=fading,
                         csi=csi, csi_error_var=csi_error_var)
        if channel == "rayleigh_fast":
            raise LinkError("BLERTableLink does not model fast fading (needs an effective-SNR mapping); "
                            "use channel='rayleigh' or the bit-true link")
        self.table_mcs = self.mcs.nearest_table_entry()

    def _fail_prob(self, plan, b, snr_db, gen):
        snr = 10.0 ** (snr_db / 10.0)
        cbs = torch.tensor(plan.cb_sizes, dtype=torch.int32).expand(b, plan.num_cb)
        h = self._block_gains(plan, b, gen)
        if h is None:
            return bler_table_lookup(self.mcs, cbs, torch.full((b, plan.num_cb), snr)), None
        gain = h.abs() ** 2
        if self.csi == "none":
            return torch.ones(b, plan.num_cb), gain
        if self.csi == "perfect":
            sinr = gain * snr
        else:
            e = complex_normal(tuple(h.shape), gen, self.csi_error_var) if self.fading == "per_cb" else \
                complex_normal((b, plan.num_tb), gen, self.csi_error_var)[:, torch.tensor(plan.cb_tb, dtype=torch.long)]
            sinr = (h + e).abs() ** 2 / (noise_variance(snr_db) + self.csi_error_var)
        return bler_table_lookup(self.mcs, cbs, sinr), gain

    def cbler_at(self, snr_db: float, cb_size: int) -> float:
        """Table BLER of one code block of ``cb_size`` bits at ``snr_db`` over AWGN."""
        snr_db = check_snr_db(snr_db)
        return float(bler_table_lookup(self.mcs, cb_size, torch.tensor([10.0 ** (snr_db / 10.0)]))[0])

    def describe(self) -> dict:
        d = super().describe()
        d["table_mcs"] = {"index": self.table_mcs.index, "table": self.table_mcs.table}
        return d
