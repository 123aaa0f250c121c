"""semcom.stack: the protocol stack carrying semantic flows over the 5G NR link (seb paper Sec. III).

SDAP maps each importance level to a QoS flow and DRB (:mod:`~semcom.stack.sdap`), PDCP numbers,
integrity-protects (128-NIA2, AES-CMAC) and ciphers (128-NEA2, AES-CTR) the packets and rejects
replays with per-UE, per-session keys that never repeat a key stream (:mod:`~semcom.stack.pdcp`,
:mod:`~semcom.stack.security`), RLC UM frames complete SDUs
(:mod:`~semcom.stack.rlc`), MAC multiplexes logical channels into transport blocks
(:mod:`~semcom.stack.mac`), and the PHY sends each importance class with its own MCS over
:mod:`semcom.link` (:mod:`~semcom.stack.phy`). :class:`SemanticUplink` wires UE and gNB together
and counts every header byte (:mod:`~semcom.stack.uplink`).
"""

from semcom.stack.errors import IntegrityError, KeyReuseError, PduError, ReplayError, StackError
from semcom.stack.mac import MacMultiplexer, demultiplex
from semcom.stack.pdcp import PdcpConfig, PdcpReceiver, PdcpTransmitter
from semcom.stack.phy import Phy, PhyResult, bits_to_bytes, bytes_to_bits
from semcom.stack.rlc import RlcUm
from semcom.stack.sdap import Sdap
from semcom.stack.security import derive_keys, nea2, nia2, session_id
from semcom.stack.uplink import GnbStack, SemanticUplink, StackConfig, UeStack, UplinkResult

__all__ = [
    "StackError",
    "PduError",
    "IntegrityError",
    "ReplayError",
    "KeyReuseError",
    "MacMultiplexer",
    "demultiplex",
    "PdcpConfig",
    "PdcpTransmitter",
    "PdcpReceiver",
    "Phy",
    "PhyResult",
    "bytes_to_bits",
    "bits_to_bytes",
    "RlcUm",
    "Sdap",
    "derive_keys",
    "session_id",
    "nea2",
    "nia2",
    "StackConfig",
    "UeStack",
    "GnbStack",
    "SemanticUplink",
    "UplinkResult",
]
