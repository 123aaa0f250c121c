"""semcom: semantic communications over standard-compliant 5G NR links.

The package follows the signal chain (see ``docs/design.md``)::

    data -> codecs / models -> channel (analog) | link (digital 5G NR) -> metrics -> experiments -> report

Conventions used everywhere:

* SNR is Es/N0 per complex symbol at unit average transmit power, in dB in names ending ``_db``;
  the noise variance per complex symbol is ``no = 10 ** (-snr_db / 10)``.
* Images are float tensors in [0, 1] shaped ``[B, 3, H, W]``; bits ``[..., k]``; symbols ``[..., n]``.
* Every random draw takes a ``torch.Generator`` or an integer seed.
"""

__version__ = "0.1.0"

from semcom.errors import (  # noqa: F401
    SemcomError,
    ConfigError,
    CodecError,
    LinkError,
    InputError,
)
