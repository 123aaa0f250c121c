"""Seb semantic codec pieces: importance, f_SE/f_TP on patches, f_quant, s_idx bits, UEP (seb paper Sec. II-C, II-D, IV-A).

Data flow for one image ``x [1, 3, H, W]`` (H, W multiples of the coarse patch ``c``, fine patch ``f = c / 2``)::

    x --saliency--> importance per coarse region (R = H W / c^2 regions)
      |-- top fine_ratio regions: 4 fine patches f x f --f_SE--> features --f_quant(level 0)--> 4 indices
      '-- other regions: c x c patch, 2x2 average-pooled to f x f --f_SE--> feature --f_quant(level 1)--> 1 index
    s_idx = header (KB version, size, fine map, UEP class map) + per-class index streams (bits)
    receiver: indices --f_query (KB lookup)--> features --f_TP--> patches (coarse ones 2x upsampled) --> image

Both granularities share one feature space (the extractor always sees ``f x f`` pixels: a coarse
region at half resolution), so coarse Sebs are the k-means centres of fine Sebs (Eq. 2) and the
partial order fine -> coarse is meaningful. Index widths are ``KnowledgeBase.index_bits(level)``.

Per-feature importance (Eq. 3 input): the paper uses DINO or Grad-CAM, which have no offline
weights; semcom uses **spectral-residual saliency** (Hou & Zhang, CVPR 2007): the log-amplitude
spectrum minus its 3x3 local mean, back-transformed with the original phase, squared and blurred, on
a 64-pixel-wide grey image, upsampled to the image size.

Message-wise UEP (Sec. II-D, IV-A): the indices of the ``protect_ratio`` (default 50 %) most
important regions form class 0 (sent with LDPC 1/2 + QPSK), the rest class 1 (LDPC 2/3 + QPSK);
``uep="random"`` picks the protected regions at random, ``uep="none"`` sends everything as class 1.
The header always travels with the most protected class in use.

Example::

    >>> import torch
    >>> from semcom.semantics.kb import KnowledgeBase
    >>> ext = PixelExtractor(patch=8)
    >>> img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    >>> feats = ext.encode(image_to_patches(img, 8))
    >>> kb = KnowledgeBase.build(feats, sizes=[16, 4], seed=0)
    >>> codec = SebCodec(kb, ext, SebCodecConfig(fine_patch=8, coarse_patch=16))
    >>> msg = codec.encode(img)
    >>> msg.num_regions, msg.fine_mask.sum().item(), [s.numel() for s in msg.class_bits]
    (16, 3, [58, 16])
    >>> codec.decode(msg.header_bits, msg.class_bits).shape
    torch.Size([1, 3, 64, 64])
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Protocol, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from semcom.errors import ConfigError, InputError
from semcom.semantics.kb import KBVersionError, KnowledgeBase
from semcom.utils import check_image, from_dict, make_generator

__all__ = [
    "spectral_residual_saliency",
    "region_importance",
    "image_to_patches",
    "patches_to_image",
    "Extractor",
    "PixelExtractor",
    "SebCodecConfig",
    "SebMessage",
    "SebCodec",
    "pack_uint",
    "unpack_uint",
    "send_over_link",
    "LinkOutcome",
    "HEADER_FIXED_BITS",
]

#: Fixed header fields: KB version (16 bits), height and width in coarse patches (12 bits each).
HEADER_FIXED_BITS = 16 + 12 + 12


# ---------------------------------------------------------------------------------- importance
def spectral_residual_saliency(image: torch.Tensor, width: int = 64) -> torch.Tensor:
    """Spectral-residual saliency (Hou & Zhang 2007) of ``image [B, 3, H, W]`` -> ``[B, H, W]`` in [0, 1].

    Computed on the grey image resized to ``width`` pixels wide, then bilinearly resized back.

    Example::

        >>> img = torch.zeros(1, 3, 64, 64); img[..., 20:28, 30:38] = 1.0
        >>> s = spectral_residual_saliency(img)
        >>> bool(s[0, 20:28, 30:38].mean() > 3 * s[0].mean())
        True
    """
    x = check_image(image)
    b, _, h, w = x.shape
    grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1).double()
    sw = max(8, int(width))
    sh = max(8, round(h * sw / w))
    small = F.interpolate(grey, size=(sh, sw), mode="area")[:, 0]
    spec = torch.fft.fft2(small)
    amp = spec.abs()
    log_amp = torch.log(amp + 1e-3 * amp.mean(dim=(-2, -1), keepdim=True) + 1e-12)
    phase = torch.angle(spec)
    avg = F.avg_pool2d(F.pad(log_amp.unsqueeze(1), (1, 1, 1, 1), mode="replicate"), 3, stride=1)[:, 0]
    residual = log_amp - avg
    sal = torch.fft.ifft2(torch.exp(residual + 1j * phase)).abs() ** 2
    # Gaussian blur, sigma = 2.5 px at the small scale
    sigma, radius = 2.5, 7
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k1 = torch.exp(-(t**2) / (2 * sigma**2))
    k1 = k1 / k1.sum()
    s = sal.unsqueeze(1)
    s = F.conv2d(F.pad(s, (radius, radius, 0, 0), mode="reflect"), k1.view(1, 1, 1, -1))
    s = F.conv2d(F.pad(s, (0, 0, radius, radius), mode="reflect"), k1.view(1, 1, -1, 1))
    s = F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False)[:, 0]
    lo = s.amin(dim=(1, 2), keepdim=True)
    hi = s.amax(dim=(1, 2), keepdim=True)
    return ((s - lo) / (hi - lo).clamp(min=1e-12)).float()


def region_importance(saliency: torch.Tensor, region: int) -> torch.Tensor:
    """Mean saliency per ``region x region`` block: ``[B, H, W] -> [B, H / region * W / region]`` (raster order)."""
    if saliency.dim() != 3 or saliency.shape[1] % region or saliency.shape[2] % region:
        raise InputError(f"saliency [B, H, W] with H, W multiples of {region} expected, got {tuple(saliency.shape)}")
    return F.avg_pool2d(saliency.unsqueeze(1), region).flatten(1)


# ---------------------------------------------------------------------------------- patches
def image_to_patches(image: torch.Tensor, patch: int) -> torch.Tensor:
    """``[B, C, H, W] -> [B * (H/p) * (W/p), C, p, p]`` non-overlapping patches in raster order."""
    if image.dim() != 4 or image.shape[2] % patch or image.shape[3] % patch:
        raise InputError(f"image [B, C, H, W] with H, W multiples of {patch} expected, got {tuple(image.shape)}")
    b, c, h, w = image.shape
    x = image.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(-1, c, patch, patch)


def patches_to_image(patches: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`image_to_patches`: ``[B * n, C, p, p] -> [B, C, height, width]``."""
    n, c, p, _ = patches.shape
    gh, gw = height // p, width // p
    b = n // (gh * gw)
    x = patches.reshape(b, gh, gw, c, p, p).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, height, width)


class Extractor(Protocol):
    """f_SE / f_TP on ``p x p`` patches: ``encode([N, 3, p, p]) -> [N, d]``, ``decode([N, d]) -> [N, 3, p, p]``."""

    patch: int
    dim: int

    def encode(self, patches: torch.Tensor) -> torch.Tensor: ...

    def decode(self, features: torch.Tensor) -> torch.Tensor: ...


class PixelExtractor:
    """The non-learned extractor: the feature of a patch is its pixels (``d = 3 p^2``); f_TP reshapes.

    With it the KB is a hierarchical vector quantiser of image patches; the learned extractor of
    :mod:`semcom.models.seb` replaces it with four GDN convolutions / four IGDN deconvolutions.
    """

    def __init__(self, patch: int = 16):
        if isinstance(patch, bool) or not isinstance(patch, int) or patch < 2:
            raise ConfigError(f"patch must be an int >= 2, got {patch!r}")
        self.patch = patch
        self.dim = 3 * patch * patch

    def encode(self, patches: torch.Tensor) -> torch.Tensor:
        if patches.dim() != 4 or tuple(patches.shape[1:]) != (3, self.patch, self.patch):
            raise InputError(f"patches must be [N, 3, {self.patch}, {self.patch}], got {tuple(patches.shape)}")
        return patches.reshape(patches.shape[0], -1).float()

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != self.dim:
            raise InputError(f"features must be [N, {self.dim}], got {tuple(features.shape)}")
        return features.reshape(-1, 3, self.patch, self.patch).clamp(0, 1)


# ---------------------------------------------------------------------------------- bit packing
def pack_uint(values: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned ints ``[n]`` -> float 0/1 bits ``[n * bits]``, MSB first."""
    v = torch.as_tensor(values, dtype=torch.long).reshape(-1)
    if v.numel() and (v.min() < 0 or v.max() >= 2**bits):
        raise InputError(f"values must lie in [0, 2^{bits})")
    shifts = torch.arange(bits - 1, -1, -1)
    return ((v.unsqueeze(1) >> shifts) & 1).reshape(-1).float()


def unpack_uint(bits: torch.Tensor, width: int) -> torch.Tensor:
    """Float 0/1 bits ``[n * width]`` -> unsigned ints ``[n]`` (inverse of :func:`pack_uint`)."""
    b = (torch.as_tensor(bits).reshape(-1) > 0.5).long()
    if b.numel() % width:
        raise InputError(f"{b.numel()} bits is not a multiple of the index width {width}")
    weights = 2 ** torch.arange(width - 1, -1, -1)
    return (b.reshape(-1, width) * weights).sum(dim=1)


# ---------------------------------------------------------------------------------- codec
@dataclasses.dataclass
class SebCodecConfig:
    """Seb codec settings (paper Sec. IV-A defaults).

    Attributes:
        fine_patch, coarse_patch: patch sizes; ``coarse_patch = 2 * fine_patch``.
        fine_ratio: share of regions (most important first) coded with fine Sebs.
        protect_ratio: share of regions whose indices form UEP class 0.
        uep: ``"importance"`` (top regions protected), ``"random"`` or ``"none"`` (all class 1).
    """

    fine_patch: int = 16
    coarse_patch: int = 32
    fine_ratio: float = 0.2
    protect_ratio: float = 0.5
    uep: str = "importance"

    def __post_init__(self) -> None:
        if self.coarse_patch != 2 * self.fine_patch or self.fine_patch < 2:
            raise ConfigError(f"coarse_patch must be 2 * fine_patch, got {self.fine_patch}, {self.coarse_patch}")
        for name in ("fine_ratio", "protect_ratio"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {v!r}")
        if self.uep not in ("importance", "random", "none"):
            raise ConfigError(f"uep must be 'importance', 'random' or 'none', got {self.uep!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "SebCodecConfig":
        return from_dict(cls, data)


@dataclasses.dataclass
class SebMessage:
    """An encoded image: ``s_idx`` as bits, plus what the sender knows about it.

    Attributes:
        header_bits: ``[HEADER_FIXED_BITS + 2 R]`` float 0/1: KB version, size, fine map, class map.
        class_bits: ``[bits of class 0, bits of class 1]``, index streams in raster region order.
        fine_mask: ``[R]`` bool, regions coded with fine Sebs.
        class_map: ``[R]`` long, UEP class of each region.
        importance: ``[R]`` region importance (mean saliency).
        indices: per region, the tuple of Seb indices (4 fine or 1 coarse).
        distortion: Eq. 5 mean distance of the encoded features to their Sebs.
        num_regions: ``R``.
    """

    header_bits: torch.Tensor
    class_bits: list[torch.Tensor]
    fine_mask: torch.Tensor
    class_map: torch.Tensor
    importance: torch.Tensor
    indices: list[tuple[int, ...]]
    distortion: float
    num_regions: int

    @property
    def num_bits(self) -> int:
        """Every bit of ``s_idx``: header plus both index streams."""
        return int(self.header_bits.numel() + sum(b.numel() for b in self.class_bits))


class SebCodec:
    """Semantic encoder ``f_quant(f_SE(x))`` (Eq. 7) and decoder ``f_TP(f_query(s_idx))`` (Eq. 8).

    Args:
        kb: a two-level :class:`KnowledgeBase` (level 0 fine Sebs, level 1 coarse Sebs) in the
            extractor's feature space.
        extractor: an :class:`Extractor` on ``fine_patch x fine_patch`` patches.
        config: :class:`SebCodecConfig`.
    """

    def __init__(self, kb: KnowledgeBase, extractor: Extractor, config: SebCodecConfig | Mapping | None = None):
        if config is None:
            config = SebCodecConfig()
        elif isinstance(config, Mapping):
            config = SebCodecConfig.from_dict(config)
        if kb.num_levels != 2:
            raise ConfigError(f"the Seb codec needs a 2-level KB (fine, coarse), got {kb.num_levels} levels")
        if extractor.patch != config.fine_patch:
            raise ConfigError(f"extractor patch {extractor.patch} != fine_patch {config.fine_patch}")
        if kb.dim != extractor.dim:
            raise ConfigError(f"KB dimension {kb.dim} != extractor dimension {extractor.dim}")
        self.kb = kb
        self.extractor = extractor
        self.config = config

    # features ------------------------------------------------------------------------------
    @torch.no_grad()
    def features(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Raw semantic features of one image ``[1, 3, H, W]``.

        Returns:
            ``(fine [R, 4, d], coarse [R, d], importance [R])`` for the ``R`` coarse regions in raster
            order; a region's 4 fine patches are in raster order inside the region.
        """
        x = check_image(image)
        if x.shape[0] != 1:
            raise InputError("SebCodec encodes one image at a time ([1, 3, H, W])")
        c, f = self.config.coarse_patch, self.config.fine_patch
        _, _, h, w = x.shape
        if h % c or w % c:
            raise InputError(f"image height and width must be multiples of the coarse patch {c}, got {h}x{w}")
        regions = image_to_patches(x, c)  # [R, 3, c, c]
        fine = self.extractor.encode(image_to_patches(regions, f)).reshape(regions.shape[0], 4, -1)
        coarse = self.extractor.encode(F.avg_pool2d(regions, 2))
        imp = region_importance(spectral_residual_saliency(x), c)[0]
        return fine, coarse, imp

    def _choose(self, importance: torch.Tensor, ratio: float, generator: torch.Generator | None, random: bool) -> torch.Tensor:
        r = importance.numel()
        n = int(round(ratio * r))
        mask = torch.zeros(r, dtype=torch.bool)
        if n == 0:
            return mask
        if random:
            order = torch.randperm(r, generator=generator)
        else:
            order = torch.argsort(importance, descending=True, stable=True)
        mask[order[:n]] = True
        return mask

    # encode --------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, image: torch.Tensor, generator: int | torch.Generator | None = None) -> SebMessage:
        """Encode one image ``[1, 3, H, W]`` in [0, 1] into a :class:`SebMessage` (Eq. 7).

        ``generator`` drives the region choice of ``uep="random"`` only.
        """
        cfg = self.config
        fine, coarse, imp = self.features(image)
        r = imp.numel()
        _, _, h, w = image.shape if image.dim() == 4 else (1, *image.shape)
        if h // cfg.coarse_patch >= 4096 or w // cfg.coarse_patch >= 4096:
            raise InputError("image too large for the 12-bit size fields of the header")
        fine_mask = self._choose(imp, cfg.fine_ratio, None, random=False)
        if cfg.uep == "none":
            class_map = torch.ones(r, dtype=torch.long)
        else:
            g = make_generator(generator)
            protected = self._choose(imp, cfg.protect_ratio, g, random=cfg.uep == "random")
            class_map = (~protected).long()
        fi, fd = self.kb.quantize(fine, 0)  # [R, 4]
        ci, cd = self.kb.quantize(coarse, 1)  # [R]
        indices: list[tuple[int, ...]] = []
        dists = []
        for j in range(r):
            if fine_mask[j]:
                indices.append(tuple(int(v) for v in fi[j]))
                dists.extend(fd[j].tolist())
            else:
                indices.append((int(ci[j]),))
                dists.append(float(cd[j]))
        b0, b1 = self.kb.index_bits(0), self.kb.index_bits(1)
        streams = []
        for cls in (0, 1):
            parts = [pack_uint(torch.tensor(indices[j]), b0 if fine_mask[j] else b1) for j in range(r) if class_map[j] == cls]
            streams.append(torch.cat(parts) if parts else torch.zeros(0))
        header = torch.cat(
            [
                pack_uint(torch.tensor([self.kb.version % 65536]), 16),
                pack_uint(torch.tensor([h // cfg.coarse_patch]), 12),
                pack_uint(torch.tensor([w // cfg.coarse_patch]), 12),
                fine_mask.float(),
                class_map.float(),
            ]
        )
        return SebMessage(header, streams, fine_mask, class_map, imp, indices, float(np.mean(dists)), r)

    # decode --------------------------------------------------------------------------------
    def parse_header(self, header_bits: torch.Tensor) -> tuple[int, int, int, torch.Tensor, torch.Tensor]:
        """``(kb_version, height, width, fine_mask [R], class_map [R])`` from header bits.

        Raises:
            InputError: header shorter than its fixed fields or inconsistent with the size it states.
        """
        bits = torch.as_tensor(header_bits).reshape(-1)
        if bits.numel() < HEADER_FIXED_BITS:
            raise InputError(f"Seb header needs at least {HEADER_FIXED_BITS} bits, got {bits.numel()}")
        version = int(unpack_uint(bits[:16], 16)[0])
        gh = int(unpack_uint(bits[16:28], 12)[0])
        gw = int(unpack_uint(bits[28:40], 12)[0])
        r = gh * gw
        if r == 0 or bits.numel() != HEADER_FIXED_BITS + 2 * r:
            raise InputError(f"Seb header of {bits.numel()} bits does not match a {gh}x{gw}-region image")
        fine_mask = bits[40 : 40 + r] > 0.5
        class_map = (bits[40 + r :] > 0.5).long()
        c = self.config.coarse_patch
        return version, gh * c, gw * c, fine_mask, class_map

    def stream_lengths(self, fine_mask: torch.Tensor, class_map: torch.Tensor) -> list[int]:
        """Bits of each class's index stream for a given fine map and class map."""
        b0, b1 = self.kb.index_bits(0), self.kb.index_bits(1)
        per = torch.where(fine_mask, torch.tensor(4 * b0), torch.tensor(b1))
        return [int(per[class_map == c].sum()) for c in (0, 1)]

    @torch.no_grad()
    def decode(self, header_bits: torch.Tensor, class_bits: Sequence[torch.Tensor]) -> torch.Tensor:
        """``f_TP(f_query(s_idx))`` (Eq. 8): the reconstructed image ``[1, 3, H, W]``.

        Indices pointing at empty KB slots (possible after bit errors) fall back to the level's
        most important Seb.

        Raises:
            KBVersionError: the message was encoded with another KB version.
            InputError: malformed header or stream lengths that do not match it.
        """
        version, h, w, fine_mask, class_map = self.parse_header(header_bits)
        if version != self.kb.version % 65536:
            raise KBVersionError(
                f"message encoded with KB version {version}, receiver holds version {self.kb.version}: "
                "synchronise the KB before decoding"
            )
        if len(class_bits) != 2:
            raise InputError("class_bits must hold the two class streams")
        lengths = self.stream_lengths(fine_mask, class_map)
        for cls in (0, 1):
            if torch.as_tensor(class_bits[cls]).numel() != lengths[cls]:
                raise InputError(f"class {cls} stream has {torch.as_tensor(class_bits[cls]).numel()} bits, header implies {lengths[cls]}")
        b0, b1 = self.kb.index_bits(0), self.kb.index_bits(1)
        r = fine_mask.numel()
        pos = [0, 0]
        fine_idx, coarse_idx, fine_regions, coarse_regions = [], [], [], []
        streams = [torch.as_tensor(s).reshape(-1) for s in class_bits]
        for j in range(r):
            cls = int(class_map[j])
            width = 4 * b0 if fine_mask[j] else b1
            chunk = streams[cls][pos[cls] : pos[cls] + width]
            pos[cls] += width
            if fine_mask[j]:
                fine_idx.append(unpack_uint(chunk, b0))
                fine_regions.append(j)
            else:
                coarse_idx.append(unpack_uint(chunk, b1))
                coarse_regions.append(j)
        c, f = self.config.coarse_patch, self.config.fine_patch
        out = torch.zeros(r, 3, c, c)
        if fine_regions:
            feats = self._safe_lookup(0, torch.cat(fine_idx))
            patches = self.extractor.decode(feats).reshape(len(fine_regions) * 4, 3, f, f)
            out[fine_regions] = patches_to_image(patches, c, c).reshape(-1, 3, c, c)
        if coarse_regions:
            feats = self._safe_lookup(1, torch.cat(coarse_idx))
            small = self.extractor.decode(feats)
            out[coarse_regions] = F.interpolate(small, scale_factor=2, mode="bilinear", align_corners=False)
        return patches_to_image(out, h, w).clamp(0, 1)

    def _safe_lookup(self, level: int, idx: torch.Tensor) -> torch.Tensor:
        slots = self.kb.slots(level)
        occupied = torch.zeros(self.kb.capacities[level], dtype=torch.bool)
        occupied[slots] = True
        idx = idx.clamp(0, self.kb.capacities[level] - 1)
        bad = ~occupied[idx]
        if bad.any():
            best = slots[int(torch.argmax(self.kb.base_importance(level)))]
            idx = torch.where(bad, best, idx)
        return self.kb.lookup(level, idx)


# ---------------------------------------------------------------------------------- over the link
@dataclasses.dataclass
class LinkOutcome:
    """Result of :func:`send_over_link`.

    Attributes:
        image: the reconstruction ``[1, 3, H, W]`` (mid-grey if the header was lost).
        channel_uses: complex channel uses of header and both index streams.
        header_ok: the header's code blocks all passed their CRC.
        class_cb_ok: per class, the fraction of code blocks that passed.
        bits: total s_idx bits sent.
    """

    image: torch.Tensor
    channel_uses: int
    header_ok: bool
    class_cb_ok: list[float]
    bits: int


def send_over_link(codec: SebCodec, message: SebMessage, links: Sequence[Any], snr_db: float,
                   generator: int | torch.Generator | None = None) -> LinkOutcome:
    """Channel codec with message-wise UEP (Eq. 9): class ``c`` bits over ``links[c]``.

    The header is sent with the class-0 link, or with the class-1 link when class 0 is empty
    (``uep="none"``). Received index bits are decoded as they are, errors included (a failed code
    block yields wrong Sebs, not a lost image); a header whose CRC fails loses the image.

    Args:
        links: two links (class 0 = most protected), e.g. ``make_link(..., mcs=MCS.from_rate(2, 0.5))``
            and ``MCS.from_rate(2, 2/3)``.
        snr_db: Es/N0 per complex symbol in dB.
    """
    if len(links) != 2:
        raise InputError("send_over_link needs two links (class 0 and class 1)")
    g = make_generator(generator)
    header_link = links[0] if message.class_bits[0].numel() else links[1]
    res = header_link.transmit(message.header_bits.unsqueeze(0), snr_db, generator=g)
    uses = int(res.channel_uses)
    header_ok = bool(res.cb_ok.all())
    received, ok_frac = [], []
    for cls in (0, 1):
        bits = message.class_bits[cls]
        if bits.numel() == 0:
            received.append(bits)
            ok_frac.append(1.0)
            continue
        r = links[cls].transmit(bits.unsqueeze(0), snr_db, generator=g)
        uses += int(r.channel_uses)
        received.append(r.bits[0])
        ok_frac.append(float(r.cb_ok.float().mean()))
    if header_ok:
        image = codec.decode(res.bits[0], received)
    else:
        _, h, w, _, _ = codec.parse_header(message.header_bits)
        image = torch.full((1, 3, h, w), 0.5)
    return LinkOutcome(image, uses, header_ok, ok_frac, message.num_bits)
