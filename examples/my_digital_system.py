"""A user's digital system: a 4-bit thumbnail over the bit-true 5G NR link (see docs/extending.md).

    semcom compare --plugin examples/my_digital_system.py --systems thumbnail deepjscc \
        separation:codec=heif,link=adaptive --cbr match:deepjscc --snr 0:10:5
"""

import math

import torch
import torch.nn.functional as F

from semcom.link import MCS, make_link
from semcom.systems import ChannelSpec, Outcome, register_system
from semcom.utils import make_generator


@register_system("thumbnail")
class Thumbnail:
    """Shrink the image until its 4-bit pixels fit the channel-use budget, send them, upsample."""

    def __init__(self, cbr=1 / 24, channel=None, mcs_index=4, bits=4):
        self.cbr, self.bits = float(cbr), int(bits)
        self.channel = ChannelSpec.parse(channel)  # awgn, rayleigh_block, ... with its CSI
        self.link = make_link("bittrue", mcs=MCS.from_table(mcs_index), **self.channel.link_kwargs())
        self.name = "thumbnail"

    def budget(self, source_shape):
        """Channel uses granted: ceil(CBR x real values)."""
        return math.ceil(self.cbr * math.prod(source_shape) - 1e-9)

    def describe(self):
        return {"cbr": self.cbr, "bits": self.bits, "mcs": str(self.link.mcs), "channel": self.channel.describe()}

    def transmit(self, source, snr_db, *, seed=0):
        budget = self.budget(source.shape)
        k_max = self.link.max_payload_bits(budget)  # the payload the MCS fits in the budget
        h, w = source.shape[-2:]
        f = 1
        while 3 * self.bits * math.ceil(h / f) * math.ceil(w / f) > k_max:
            f *= 2
            if f > min(h, w):
                return Outcome(torch.full_like(source, 0.5), "no_fit", 0, budget, error="budget too small")
        small = F.interpolate(source, size=(math.ceil(h / f), math.ceil(w / f)), mode="area")
        q = torch.round(small * (2**self.bits - 1)).to(torch.int64).reshape(-1, 1)
        weights = 2 ** torch.arange(self.bits - 1, -1, -1)
        bits = ((q >> torch.arange(self.bits - 1, -1, -1)) & 1).float().reshape(1, -1)
        res = self.link.transmit(bits, snr_db, generator=make_generator(seed))
        q_hat = (res.bits.reshape(-1, self.bits) * weights).sum(-1)  # what arrived, errors included
        small_hat = (q_hat / (2**self.bits - 1)).reshape(small.shape)
        x_hat = F.interpolate(small_hat, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)
        lost = int((~res.cb_ok).sum())
        return Outcome(x_hat, "ok" if lost == 0 else "recovered", int(res.channel_uses), budget,
                       bits_sent=bits.numel(), num_cb=res.cb_ok.numel(), num_cb_failed=lost, extras={"factor": f})
