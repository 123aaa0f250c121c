"""Classical baselines every paper compares against, on the shared link.

:mod:`semcom.baselines.separation` -- source codec (JPEG2000, HEIF, ...) at the bit budget the
channel allows, then the 5G NR link (bit-true, abstracted, or a capacity-achieving code).
"""

from semcom.baselines.separation import (  # noqa: F401
    SeparationConfig,
    SeparationOutcome,
    SeparationSystem,
    bits_to_bytes,
    bytes_to_bits,
)
