"""semcom.channel: analog, differentiable channels for learned JSCC (complex symbols, ``nn.Module``).

* :class:`AWGNChannel` -- ``y = z + n``, ``n ~ CN(0, no)``.
* :class:`RayleighBlockChannel` -- one ``h ~ CN(0, 1)`` per example (or per block), CSI perfect /
  estimated / none, ZF or MMSE equalisation; :class:`RayleighFastChannel` -- ``h`` per symbol.
* :func:`make_channel` -- build by name with strictly checked keywords.
* :func:`power_normalize`, :func:`real_to_complex`, :func:`complex_to_real`, :func:`snr_db_to_no`.

Conventions: symbols ``[..., n]`` complex64, working dimension last; SNR is Es/N0 per complex
symbol at unit average transmit power (``snr_db``), ``no = 10 ** (-snr_db / 10)``; every channel
owns a ``torch.Generator`` (``seed=``) and accepts a per-call ``generator``. See ``docs/channel.md``.
"""

from semcom.channel.awgn import AWGNChannel, complex_normal
from semcom.channel.factory import CHANNEL_ALIASES, CHANNELS, canonical_channel, make_channel, register_channel
from semcom.channel.fading import CSI_MODES, EQUALIZERS, FadingState, RayleighBlockChannel, RayleighFastChannel
from semcom.channel.utils import complex_to_real, power_normalize, real_to_complex, snr_db_to_no

__all__ = [
    "AWGNChannel",
    "RayleighBlockChannel",
    "RayleighFastChannel",
    "FadingState",
    "CSI_MODES",
    "EQUALIZERS",
    "CHANNELS",
    "CHANNEL_ALIASES",
    "canonical_channel",
    "make_channel",
    "register_channel",
    "power_normalize",
    "real_to_complex",
    "complex_to_real",
    "snr_db_to_no",
    "complex_normal",
]
