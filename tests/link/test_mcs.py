"""MCS tables against TS 38.214 (Tables 5.1.3.1-1 and 5.1.3.1-2) and Sionna; bad MCS errors."""

import dataclasses

import pytest
import torch

from semcom.errors import LinkError
from semcom.link import MCS, MCS_TABLES


# (table, index) -> (Qm, R x 1024) as printed in TS 38.214 V16, Tables 5.1.3.1-1 / 5.1.3.1-2.
STANDARD_ROWS = {
    (1, 3): (2, 251), (1, 9): (2, 679), (1, 10): (4, 340), (1, 16): (4, 658),
    (1, 17): (6, 438), (1, 28): (6, 948),
    (2, 2): (2, 308), (2, 5): (4, 378), (2, 11): (6, 466), (2, 20): (8, 682.5),
    (2, 26): (8, 916.5), (2, 27): (8, 948),
}


@pytest.mark.parametrize("key", sorted(STANDARD_ROWS))
def test_table_rows_match_standard(key):
    table, index = key
    qm, r1024 = STANDARD_ROWS[key]
    m = MCS.from_table(index, table=table)
    assert m.modulation_order == qm
    assert m.code_rate * 1024 == pytest.approx(r1024)
    assert (m.index, m.table) == (index, table)


@pytest.mark.parametrize("table", [1, 2])
def test_tables_match_sionna(table):
    from sionna.phy.nr.utils import decode_mcs_index

    for index, (qm, r1024) in enumerate(MCS_TABLES[table]):
        q, r = decode_mcs_index(index, table_index=table, is_pusch=False)
        assert int(q) == qm
        assert float(r) * 1024 == pytest.approx(r1024, abs=1e-3)


def test_from_rate_and_properties():
    m = MCS.from_rate(4, 0.5)
    assert m.index is None and m.table is None
    assert m.spectral_efficiency == 2.0
    assert m.modulation == "16QAM"
    assert MCS.from_rate(2, 0.51).nearest_table_entry() == MCS.from_table(7)  # 526/1024
    assert MCS.from_rate(8, 0.9).nearest_table_entry().table == 2


@pytest.mark.parametrize(
    "args",
    [(3, 0.5), (10, 0.5), (2, 29 / 1024), (2, 0.02), (2, 0.0), (2, 0.93), (2, float("nan")), (2, "x"), (True, 0.5)],
)
def test_bad_mcs_raises(args):
    with pytest.raises(LinkError):
        MCS.from_rate(*args)


@pytest.mark.parametrize("index,table", [(29, 1), (28, 2), (-1, 1), (5, 3), (1.0, 1)])
def test_bad_table_entry_raises(index, table):
    with pytest.raises(LinkError):
        MCS.from_table(index, table=table)


def test_lowest_rows_and_rates_are_supported():
    """Every row of both tables, those below 1/5 (sent by bit repetition) included, and any rate
    down to 30/1024, the lowest of the 38.214 tables."""
    assert [MCS.from_table(i).code_rate * 1024 for i in range(3)] == [120, 157, 193]
    assert MCS.from_table(0, table=2).code_rate == 120 / 1024
    assert MCS.from_rate(2, 30 / 1024).code_rate == 30 / 1024
    assert MCS.from_rate(2, 0.15).nearest_table_entry() == MCS.from_table(3)  # Sionna's tables start at 1/5


def test_mcs_is_frozen_and_hashable():
    m = MCS.from_table(9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.code_rate = 0.3  # type: ignore[misc]
    assert {m: 1}[MCS.from_table(9)] == 1
    assert torch.tensor(m.modulation_order).item() == 2
