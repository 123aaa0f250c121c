"""Reusable neural pieces: GDN/IGDN, power normalisation, VL-SCC's straight-through rate quantiser
(Eq. 1-2) and rate masks with the custom gradient of Eq. 3-5.

Each operation with a training proxy takes ``mode``: ``"ste"`` (the paper's straight-through
gradient) or ``"exact"`` (the real operation, no proxy gradient).
"""

from semcom.layers.gdn import GDN, IGDN
from semcom.layers.mask import kept_symbols, rate_mask, side_bits_per_index
from semcom.layers.power import masked_power_normalize, power_normalize
from semcom.layers.quantize import quantize_rate

__all__ = ["GDN", "IGDN", "quantize_rate", "rate_mask", "kept_symbols", "side_bits_per_index",
           "power_normalize", "masked_power_normalize"]
