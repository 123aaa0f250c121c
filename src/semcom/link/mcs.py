"""Modulation and coding schemes (MCS) of 5G NR, 3GPP TS 38.214 Sec. 5.1.3.1.

An :class:`MCS` is a modulation order ``Qm`` (bits per QAM symbol: 2 = QPSK, 4 = 16QAM,
6 = 64QAM, 8 = 256QAM) and a target code rate ``R``. It comes either from a row of the PDSCH MCS
tables of TS 38.214 (``MCS.from_table``: Table 5.1.3.1-1 "64QAM", Table 5.1.3.1-2 "256QAM";
the standard lists ``R x 1024``), or from any rate the 5G LDPC code supports (``MCS.from_rate``).

Supported code rates are ``30/1024 <= R <= 948/1024``, the lowest and highest rates of the 38.214
PDSCH MCS tables (30/1024 is index 0 of Table 5.1.3.1-3, the low-spectral-efficiency table).
Below the LDPC mother code rate (1/5 on base graph 2) the code block is sent by bit repetition
(38.212 Sec. 5.4.2.1: the circular buffer is read around again), which the link's compiled chain
implements and Sionna's encoder refuses, so the lowest rows of tables 1 and 2 (Table 1 indices
0-2, Table 2 indices 0-1: R = 120/1024 to 193/1024) need ``chain="fast"`` (the default) and the
fast decoder (see :mod:`semcom.link.chain_fast`).

Example::

    >>> from semcom.link import MCS
    >>> m = MCS.from_table(9)            # Table 5.1.3.1-1, index 9: QPSK, R = 679/1024
    >>> m.modulation_order, round(m.code_rate * 1024)
    (2, 679)
    >>> round(MCS.from_rate(4, 0.5).spectral_efficiency, 3)
    2.0
"""

from __future__ import annotations

import dataclasses
import math

from semcom.errors import LinkError

__all__ = ["MCS", "MCS_TABLES", "MIN_CODE_RATE", "SIONNA_MIN_CODE_RATE", "MAX_CODE_RATE", "MODULATION_NAMES"]

#: Smallest supported code rate (inclusive): 30/1024, the lowest rate of the 38.214 MCS tables.
MIN_CODE_RATE = 30.0 / 1024.0
#: Lowest code rate Sionna's 5G LDPC encoder takes (base graph 2's mother rate); below it the
#: code block repeats bits, which only the compiled chain implements.
SIONNA_MIN_CODE_RATE = 1.0 / 5.0
#: Largest supported code rate (inclusive): 948/1024, the top entry of the 38.214 tables.
MAX_CODE_RATE = 948.0 / 1024.0

MODULATION_NAMES = {2: "QPSK", 4: "16QAM", 6: "64QAM", 8: "256QAM"}

#: TS 38.214 PDSCH MCS index tables: ``table -> [(Qm, R x 1024), ...]`` indexed by I_MCS.
#: Table 1 = Table 5.1.3.1-1 (up to 64QAM, I_MCS 0..28), table 2 = Table 5.1.3.1-2
#: (up to 256QAM, I_MCS 0..27); the remaining indices are reserved (retransmissions).
MCS_TABLES: dict[int, tuple[tuple[int, float], ...]] = {
    1: (
        (2, 120), (2, 157), (2, 193), (2, 251), (2, 308), (2, 379), (2, 449), (2, 526),
        (2, 602), (2, 679), (4, 340), (4, 378), (4, 434), (4, 490), (4, 553), (4, 616),
        (4, 658), (6, 438), (6, 466), (6, 517), (6, 567), (6, 616), (6, 666), (6, 719),
        (6, 772), (6, 822), (6, 873), (6, 910), (6, 948),
    ),
    2: (
        (2, 120), (2, 193), (2, 308), (2, 449), (2, 602), (4, 378), (4, 434), (4, 490),
        (4, 553), (4, 616), (4, 658), (6, 466), (6, 517), (6, 567), (6, 616), (6, 666),
        (6, 719), (6, 772), (6, 822), (6, 873), (8, 682.5), (8, 711), (8, 754), (8, 797),
        (8, 841), (8, 885), (8, 916.5), (8, 948),
    ),
}


@dataclasses.dataclass(frozen=True)
class MCS:
    """A modulation and coding scheme: ``modulation_order`` bits per symbol, target ``code_rate``.

    Attributes:
        modulation_order: ``Qm`` in {2, 4, 6, 8} (QPSK, 16QAM, 64QAM, 256QAM), Gray-mapped QAM.
        code_rate: target code rate ``R`` (information bits / coded bits), ``30/1024 <= R <= 948/1024``.
        index: the 38.214 MCS index when built from a table, else ``None``.
        table: the 38.214 table (1 or 2) when built from a table, else ``None``.

    Raises:
        LinkError: unsupported modulation order or code rate.
    """

    modulation_order: int
    code_rate: float
    index: int | None = None
    table: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.modulation_order, bool) or self.modulation_order not in MODULATION_NAMES:
            raise LinkError(f"modulation_order must be one of {sorted(MODULATION_NAMES)}, got {self.modulation_order!r}")
        object.__setattr__(self, "modulation_order", int(self.modulation_order))
        try:
            rate = float(self.code_rate)
        except (TypeError, ValueError):
            raise LinkError(f"code_rate must be a number, got {self.code_rate!r}") from None
        if not math.isfinite(rate) or rate < MIN_CODE_RATE - 1e-12 or rate > MAX_CODE_RATE + 1e-12:
            raise LinkError(
                f"code_rate {self.code_rate!r} unsupported: need 30/1024 <= R <= 948/1024 "
                "(the lowest and highest rates of the 38.214 MCS tables)"
            )
        object.__setattr__(self, "code_rate", rate)
        if (self.index is None) != (self.table is None):
            raise LinkError("index and table must be given together (or both None)")

    @classmethod
    def from_table(cls, index: int, table: int = 1) -> "MCS":
        """The MCS of 38.214 PDSCH table ``table`` (1: Table 5.1.3.1-1, 2: Table 5.1.3.1-2) at ``index``.

        Example::

            >>> MCS.from_table(27, table=2).modulation_order
            8
        """
        if isinstance(table, bool) or table not in MCS_TABLES:
            raise LinkError(f"MCS table must be 1 (38.214 Table 5.1.3.1-1) or 2 (Table 5.1.3.1-2), got {table!r}")
        rows = MCS_TABLES[table]
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(rows):
            raise LinkError(f"MCS index for table {table} must be an int in [0, {len(rows) - 1}] (others are reserved), got {index!r}")
        qm, r1024 = rows[index]
        return cls(qm, r1024 / 1024, index=index, table=table)

    @classmethod
    def from_rate(cls, modulation_order: int, code_rate: float) -> "MCS":
        """An MCS with any supported code rate (not necessarily a table row).

        Example::

            >>> MCS.from_rate(2, 0.5)
            MCS(modulation_order=2, code_rate=0.5, index=None, table=None)
        """
        return cls(modulation_order, code_rate)

    @property
    def spectral_efficiency(self) -> float:
        """Information bits per complex symbol, ``Qm * R`` (CRC overhead not deducted)."""
        return self.modulation_order * self.code_rate

    @property
    def modulation(self) -> str:
        """Human-readable modulation name ("QPSK", "16QAM", "64QAM", "256QAM")."""
        return MODULATION_NAMES[self.modulation_order]

    def nearest_table_entry(self, table: int | None = None) -> "MCS":
        """The table MCS with the same modulation and the nearest code rate (itself if a table row).

        ``table`` defaults to this MCS's table, else 1 (2 for 256QAM, which only table 2 has).
        Rows with rates <= 1/5 are skipped: Sionna's BLER tables, which this serves, have none.
        """
        if self.index is not None and (table is None or table == self.table):
            return self
        if table is None:
            table = 2 if self.modulation_order == 8 else 1
        rows = MCS_TABLES.get(table)
        if rows is None:
            raise LinkError(f"unknown MCS table {table!r}")
        best = None
        for i, (qm, r1024) in enumerate(rows):
            if qm != self.modulation_order or r1024 / 1024 <= SIONNA_MIN_CODE_RATE:
                continue
            d = abs(r1024 / 1024 - self.code_rate)
            if best is None or d < best[0]:
                best = (d, i)
        if best is None:
            raise LinkError(f"table {table} has no {self.modulation} entry")
        return MCS.from_table(best[1], table)

    def __str__(self) -> str:
        where = f" (38.214 table {self.table} index {self.index})" if self.index is not None else ""
        return f"{self.modulation} R={self.code_rate:.4f}{where}"


def as_mcs(mcs: "MCS | int | tuple | None", table: int = 1) -> MCS:
    """Coerce ``mcs`` to an :class:`MCS`: an MCS, a table index (int), or ``(Qm, R)``."""
    if isinstance(mcs, MCS):
        return mcs
    if isinstance(mcs, bool) or mcs is None:
        raise LinkError(f"mcs must be an MCS, a 38.214 table index or (modulation_order, code_rate), got {mcs!r}")
    if isinstance(mcs, int):
        return MCS.from_table(mcs, table)
    if isinstance(mcs, (tuple, list)) and len(mcs) == 2:
        return MCS.from_rate(mcs[0], mcs[1])
    raise LinkError(f"mcs must be an MCS, a 38.214 table index or (modulation_order, code_rate), got {mcs!r}")
