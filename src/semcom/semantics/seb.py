"""Seb semantic codec pieces: importance, f_SE/f_TP on patches, f_quant, s_idx bits, UEP (seb paper Sec. II-C, II-D, IV-A).

Data flow for one image ``x [1, 3, H, W]`` (H, W multiples of the coarse patch ``c``, fine patch ``f = c / 2``)::

    x --saliency--> importance per coarse region (R = H W / c^2 regions)
      |-- top fine_ratio regions: 4 fine patches f x f --f_SE--> features --f_quant(level 0)--> 4 indices
      '-- other regions: c x c patch, 2x2 average-pooled to f x f --f_SE--> feature --f_quant(level 1)--> 1 index
    s_idx = header (KB version, KB digest, size, fine map, UEP class map) + per-class index streams (bits)
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

from semcom.systems.outcome import Outcome
from semcom.errors import ConfigError, InputError
from semcom.semantics.kb import MESSAGE_DIGEST_BITS, KBDigestError, KBVersionError, KnowledgeBase
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
    "send_over_stack",
    "stack_flows",
    "LinkOutcome",
    "index_assignment_objective",
    "robust_index_assignment",
    "HEADER_FIXED_BITS",
]

#: Fixed header fields: KB version (16 bits), KB digest (32 bits,
#: :meth:`~semcom.semantics.kb.KnowledgeBase.message_digest`), height and width in coarse patches
#: (12 bits each).
HEADER_FIXED_BITS = 16 + MESSAGE_DIGEST_BITS + 12 + 12
_SIZE_AT = 16 + MESSAGE_DIGEST_BITS  # first bit of the size fields


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


# ---------------------------------------------------------------------------------- Seb-wise UEP
def _distances(points: torch.Tensor) -> np.ndarray:
    x = points.double()
    sq = (x * x).sum(1)
    return (sq[:, None] + sq[None, :] - 2 * x @ x.T).clamp(min=0).numpy()


def index_assignment_objective(code_of_slot: torch.Tensor, points: torch.Tensor, weights: torch.Tensor,
                               occupied: torch.Tensor, fallback: int, bits: int) -> float:
    """Importance-weighted expected distortion of one Seb index under a single bit error.

    ``J = sum_i w_i (1 / B) sum_{b < B} || x_i - x_dec(pi(i) XOR 2^b) ||^2`` over the occupied slots
    ``i``, where ``pi = code_of_slot`` (slot -> ``B``-bit code word), ``dec`` maps a received code
    word back to its slot (code words of empty slots, and those beyond the capacity, decode to the
    ``fallback`` slot, as :class:`SebCodec` does), ``x`` are the ``points`` whose distortion counts
    (the decoded Sebs) and ``w`` the Seb importance (Eq. 3-4). Every bit position is equally likely
    to be the one in error (uniform single-bit error model).
    """
    n = 1 << bits
    cap = points.shape[0]
    code = torch.as_tensor(code_of_slot, dtype=torch.long).numpy()
    occ = torch.as_tensor(occupied, dtype=torch.bool).numpy()
    dec = np.full(n, fallback, dtype=np.int64)
    dec[code[occ]] = np.nonzero(occ)[0]
    d = _distances(points)
    w = torch.as_tensor(weights, dtype=torch.float64).numpy()
    total = 0.0
    for b in range(bits):
        flipped = dec[code ^ (1 << b)]
        total += float((w[occ] * d[np.arange(cap)[occ], flipped[occ]]).sum())
    return total / bits


def robust_index_assignment(points: torch.Tensor, weights: torch.Tensor, occupied: torch.Tensor, fallback: int,
                            bits: int, iterations: int | None = None, seed: int = 0) -> torch.Tensor:
    """Seb-wise UEP: a slot -> code-word permutation minimising :func:`index_assignment_objective`.

    Start from the better of the identity and a Gray-code walk along the first principal axis of
    the points, then binary switching (swap the code words of two slots, or move a slot to an
    unused code word) with proposals drawn in proportion to importance; a swap is kept only if it
    lowers ``J``, so the result is never worse than the identity. Deterministic for a given
    ``seed``; both ends of a link compute it from the same synchronised KB.

    Args:
        points: ``[cap, d]`` what a slot decodes to (rows of empty slots are ignored).
        weights: ``[cap]`` importance (empty slots ignored).
        occupied: ``[cap]`` bool.
        fallback: the slot an empty code word decodes to.
        bits: index width ``B`` (``2^B >= cap``).
        iterations: swap proposals (default ``20 * 2^B``).

    Returns:
        ``[cap]`` long, the code word of every slot (a permutation of ``range(cap)`` when
        ``cap == 2^B``; distinct code words in any case).
    """
    n = 1 << bits
    cap = int(points.shape[0])
    if cap > n:
        raise ConfigError(f"{cap} slots do not fit {bits}-bit code words")
    occ = np.zeros(n, dtype=bool)
    occ[:cap] = torch.as_tensor(occupied, dtype=torch.bool).numpy()
    d = np.zeros((n + 1, n + 1))
    d[:cap, :cap] = _distances(points)
    w_slot = np.zeros(n)
    w_slot[:cap] = torch.as_tensor(weights, dtype=torch.float64).numpy()
    w_slot[~occ] = 0.0
    flips = 1 << np.arange(bits)

    def objective(slot_at: np.ndarray) -> float:
        dec = np.where(occ[slot_at], slot_at, fallback)
        nb = dec[np.arange(n)[:, None] ^ flips[None, :]]
        return float((w_slot[slot_at][:, None] * d[dec[:, None], nb]).sum())

    starts = [np.arange(n)]  # the identity, and a Gray-code walk along the first principal axis
    if int(occ.sum()) > 2:
        starts.append(_gray_start(points, occ, cap, n))
    slot_at = min(starts, key=objective).copy()
    iters = 20 * n if iterations is None else int(iterations)
    _binary_switching(slot_at, np.where(occ[slot_at], slot_at, fallback), w_slot[slot_at], d, flips, iters, seed)
    code_of_slot = np.empty(n, dtype=np.int64)
    code_of_slot[slot_at] = np.arange(n)
    return torch.from_numpy(code_of_slot[:cap].copy())


def _gray_start(points: torch.Tensor, occ: np.ndarray, cap: int, n: int) -> np.ndarray:
    """The code word -> slot map that walks the occupied slots in their order along the points'
    first principal axis on consecutive Gray code words (neighbours one bit apart); the empty
    slots take the remaining code words in order."""
    x = points[torch.as_tensor(occ[:cap])].double()
    x = x - x.mean(0)
    axis = torch.linalg.svd(x, full_matrices=False).Vh[0]
    order = np.nonzero(occ[:cap])[0][np.argsort((x @ axis).numpy(), kind="stable")]
    gray = np.arange(len(order)) ^ (np.arange(len(order)) >> 1)
    slot_at = np.full(n, -1)
    slot_at[gray] = order
    slot_at[np.nonzero(slot_at < 0)[0]] = np.setdiff1d(np.arange(n), order)
    return slot_at


def _binary_switching(slot_at: np.ndarray, dec: np.ndarray, w_code: np.ndarray, d: np.ndarray, flips: np.ndarray,
                      iters: int, seed: int) -> None:
    """Binary switching in place on the code word -> slot map ``slot_at`` (with ``dec``, what each
    code word decodes to, and ``w_code``, its importance): ``iters`` proposals to swap two code
    words, the first drawn in proportion to importance; a swap is kept only if it lowers the
    objective over the code words it affects (the two and their one-bit neighbours)."""
    n = len(slot_at)
    rng = np.random.default_rng(seed)
    p = w_code / w_code.sum() if w_code.sum() > 0 else None
    first = rng.choice(n, size=iters, p=p)
    second = rng.integers(0, n, size=iters)

    def local(codes: np.ndarray) -> float:
        nb = dec[codes[:, None] ^ flips[None, :]]
        return float((w_code[codes][:, None] * d[dec[codes][:, None], nb]).sum())

    def swap(a: int, b: int) -> None:
        slot_at[a], slot_at[b] = slot_at[b], slot_at[a]
        dec[a], dec[b] = dec[b], dec[a]
        w_code[a], w_code[b] = w_code[b], w_code[a]

    for a, b in zip(first, second):
        if a == b:
            continue
        aff = np.unique(np.concatenate(([a, b], a ^ flips, b ^ flips)))
        before = local(aff)
        swap(a, b)
        if local(aff) >= before - 1e-12:
            swap(a, b)  # undo


# ---------------------------------------------------------------------------------- codec
@dataclasses.dataclass
class SebCodecConfig:
    """Seb codec settings (paper Sec. IV-A defaults).

    Attributes:
        fine_patch, coarse_patch: patch sizes; ``coarse_patch = 2 * fine_patch``.
        fine_ratio: share of regions (most important first) coded with fine Sebs.
        protect_ratio: share of regions whose indices form UEP class 0.
        uep: ``"importance"`` (top regions protected), ``"random"`` or ``"none"`` (all class 1).
        index_map: Seb-wise UEP (paper Sec. II-D, second level): ``"identity"`` sends a Seb's KB
            slot number as its index; ``"robust"`` sends the code word of
            :func:`robust_index_assignment` (important Sebs get code words whose single-bit
            neighbours decode to similar Sebs, so dissimilar ones sit far apart in Hamming distance).
    """

    fine_patch: int = 16
    coarse_patch: int = 32
    fine_ratio: float = 0.2
    protect_ratio: float = 0.5
    uep: str = "importance"
    index_map: str = "identity"

    def __post_init__(self) -> None:
        if self.coarse_patch != 2 * self.fine_patch or self.fine_patch < 2:
            raise ConfigError(f"coarse_patch must be 2 * fine_patch, got {self.fine_patch}, {self.coarse_patch}")
        for name in ("fine_ratio", "protect_ratio"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {v!r}")
        if self.uep not in ("importance", "random", "none"):
            raise ConfigError(f"uep must be 'importance', 'random' or 'none', got {self.uep!r}")
        if self.index_map not in ("identity", "robust"):
            raise ConfigError(f"index_map must be 'identity' or 'robust', got {self.index_map!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "SebCodecConfig":
        return from_dict(cls, data)


@dataclasses.dataclass
class SebMessage:
    """An encoded image: ``s_idx`` as bits, plus what the sender knows about it.

    Attributes:
        header_bits: ``[HEADER_FIXED_BITS + 2 R]`` float 0/1: KB version, KB digest, size, fine
            map, class map.
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
        self._maps: dict[int, tuple[int, torch.Tensor, torch.Tensor]] = {}

    # Seb-wise UEP ----------------------------------------------------------------------------
    @torch.no_grad()
    def index_map(self, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(code_of_slot [cap], slot_of_code [2^B])`` of ``level`` for the current KB version.

        Identity unless ``config.index_map == "robust"``: then :func:`robust_index_assignment` on
        the decoded Sebs (``f_TP`` of the Seb vectors, the distortion the image suffers), weighted
        by the Seb importance, cached per KB version. ``slot_of_code`` is ``-1`` for code words no
        slot uses (decoded as the level's fallback Seb).
        """
        cap, bits = self.kb.capacities[level], self.kb.index_bits(level)
        cached = self._maps.get(level)
        if cached is not None and cached[0] == self.kb.version:
            return cached[1], cached[2]
        if self.config.index_map == "identity":
            code = torch.arange(cap)
        else:
            slots = self.kb.slots(level)
            occupied = torch.zeros(cap, dtype=torch.bool)
            occupied[slots] = True
            decoded = self.extractor.decode(self.kb.lookup(level, slots)).reshape(len(slots), -1).float()
            points = torch.zeros(cap, decoded.shape[1])
            points[slots] = decoded
            weights = torch.zeros(cap)
            weights[slots] = self.kb.base_importance(level).float()
            fallback = int(slots[int(torch.argmax(self.kb.base_importance(level)))])
            code = robust_index_assignment(points, weights, occupied, fallback, bits, seed=self.kb.version)
        inverse = torch.full((1 << bits,), -1, dtype=torch.long)
        inverse[code] = torch.arange(cap)
        self._maps[level] = (self.kb.version, code, inverse)
        return code, inverse

    def _to_code(self, level: int, slots: torch.Tensor) -> torch.Tensor:
        return self.index_map(level)[0][slots]

    def _from_code(self, level: int, codes: torch.Tensor) -> torch.Tensor:
        return self.index_map(level)[1][codes]

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
            parts = [pack_uint(self._to_code(0 if fine_mask[j] else 1, torch.tensor(indices[j])), b0 if fine_mask[j] else b1)
                     for j in range(r) if class_map[j] == cls]
            streams.append(torch.cat(parts) if parts else torch.zeros(0))
        header = torch.cat(
            [
                pack_uint(torch.tensor([self.kb.version % 65536]), 16),
                pack_uint(torch.tensor([self.kb.message_digest()]), MESSAGE_DIGEST_BITS),
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
        gh = int(unpack_uint(bits[_SIZE_AT : _SIZE_AT + 12], 12)[0])
        gw = int(unpack_uint(bits[_SIZE_AT + 12 : HEADER_FIXED_BITS], 12)[0])
        r = gh * gw
        if r == 0 or bits.numel() != HEADER_FIXED_BITS + 2 * r:
            raise InputError(f"Seb header of {bits.numel()} bits does not match a {gh}x{gw}-region image")
        fine_mask = bits[HEADER_FIXED_BITS : HEADER_FIXED_BITS + r] > 0.5
        class_map = (bits[HEADER_FIXED_BITS + r :] > 0.5).long()
        c = self.config.coarse_patch
        return version, gh * c, gw * c, fine_mask, class_map

    def check_kb(self, header_bits: torch.Tensor) -> None:
        """Refuse a message encoded with another KB: the header's 16-bit version and 32-bit digest
        must match this codec's KB (:meth:`KnowledgeBase.message_digest`).

        Raises:
            KBVersionError: the version differs (the receiver must synchronise first).
            KBDigestError: same version bits, different contents (diverged copies, or a KB a
                multiple of 2^16 versions away).
            InputError: header shorter than its fixed fields.
        """
        bits = torch.as_tensor(header_bits).reshape(-1)
        if bits.numel() < HEADER_FIXED_BITS:
            raise InputError(f"Seb header needs at least {HEADER_FIXED_BITS} bits, got {bits.numel()}")
        version = int(unpack_uint(bits[:16], 16)[0])
        if version != self.kb.version % 65536:
            raise KBVersionError(
                f"message encoded with KB version {version}, receiver holds version {self.kb.version}: "
                "synchronise the KB before decoding"
            )
        digest = int(unpack_uint(bits[16:_SIZE_AT], MESSAGE_DIGEST_BITS)[0])
        if digest != self.kb.message_digest():
            raise KBDigestError(
                f"message encoded with a KB whose contents differ from the receiver's (version {self.kb.version}, "
                f"digest {digest:08x} != {self.kb.message_digest():08x}): the copies diverged"
            )

    def stream_lengths(self, fine_mask: torch.Tensor, class_map: torch.Tensor) -> list[int]:
        """Bits of each class's index stream for a given fine map and class map."""
        b0, b1 = self.kb.index_bits(0), self.kb.index_bits(1)
        per = torch.where(fine_mask, torch.tensor(4 * b0), torch.tensor(b1))
        return [int(per[class_map == c].sum()) for c in (0, 1)]

    @torch.no_grad()
    def decode(self, header_bits: torch.Tensor, class_bits: Sequence[torch.Tensor],
               lost: torch.Tensor | None = None) -> torch.Tensor:
        """``f_TP(f_query(s_idx))`` (Eq. 8): the reconstructed image ``[1, 3, H, W]``.

        Indices pointing at empty KB slots (possible after bit errors) fall back to the level's
        most important Seb. ``lost`` (``[R]`` bool, optional) marks regions whose index bits never
        arrived (a dropped transport block in :func:`send_over_stack`); their bits in
        ``class_bits`` are ignored and they get the same fallback Seb (concealment).

        Raises:
            KBVersionError: the message was encoded with another KB version.
            KBDigestError: the message was encoded with a KB of the same version bits but other
                contents (:meth:`check_kb`).
            InputError: malformed header or stream lengths that do not match it.
        """
        _, h, w, fine_mask, class_map = self.parse_header(header_bits)
        self.check_kb(header_bits)
        if len(class_bits) != 2:
            raise InputError("class_bits must hold the two class streams")
        if lost is not None:
            lost = torch.as_tensor(lost)
            if lost.dtype != torch.bool or lost.shape != fine_mask.shape:
                raise InputError(f"lost must be a bool tensor of shape {tuple(fine_mask.shape)}, got "
                                 f"{lost.dtype} {tuple(lost.shape)}")
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
            gone = lost is not None and bool(lost[j])
            if fine_mask[j]:
                fine_idx.append(torch.full((4,), -1) if gone else self._from_code(0, unpack_uint(chunk, b0)))
                fine_regions.append(j)
            else:
                coarse_idx.append(torch.full((1,), -1) if gone else self._from_code(1, unpack_uint(chunk, b1)))
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
        """KB lookup; ``-1`` (lost) and empty slots get the level's most important Seb."""
        slots = self.kb.slots(level)
        occupied = torch.zeros(self.kb.capacities[level], dtype=torch.bool)
        occupied[slots] = True
        gone = idx < 0
        idx = idx.clamp(0, self.kb.capacities[level] - 1)
        bad = ~occupied[idx] | gone
        if bad.any():
            best = slots[int(torch.argmax(self.kb.base_importance(level)))]
            idx = torch.where(bad, best, idx)
        return self.kb.lookup(level, idx)


# ---------------------------------------------------------------------------------- over the link
class LinkOutcome(Outcome):
    """Result of :func:`send_over_link` / :func:`send_over_stack`: the bench's one
    :class:`~semcom.systems.Outcome` (built by :meth:`make`), with the seb names kept as properties.

    Attributes (properties over the Outcome's fields and ``extras``):
        image: the reconstruction ``[1, 3, H, W]`` (mid-grey if the header was lost).
        channel_uses: complex channel uses of header and both index streams (with the stack: of
            every transport block, all protocol headers included).
        header_ok: the header arrived (its code blocks / its transport block passed the CRC).
        class_cb_ok: per class, the fraction of code blocks (stack: transport blocks) that passed.
        bits: total s_idx bits sent (the Outcome's ``bits_sent``).
        overhead_bits: protocol header bits (SDAP, PDCP + MAC-I, RLC, MAC) plus byte-alignment
            padding of the SDUs; 0 without the stack (the Outcome's ``side_info_bits``).
        regions_lost: regions whose indices never arrived (stack: dropped transport blocks).
        kb_mismatch: the header arrived but names another KB (version or digest,
            :meth:`SebCodec.check_kb`): the receiver cannot interpret the indices and the image is
            lost (mid-grey), a failed outcome like a lost header.

    Status: ``failed`` when the header was lost or names another KB, ``ok`` when every block arrived
    and no region was lost, else ``recovered``.
    """

    @classmethod
    def make(cls, image: torch.Tensor, channel_uses: int, header_ok: bool, class_cb_ok: list[float], bits: int,
             overhead_bits: int = 0, regions_lost: int = 0, kb_mismatch: bool = False) -> "LinkOutcome":
        intact = all(f == 1.0 for f in class_cb_ok) and regions_lost == 0
        status = "failed" if (not header_ok or kb_mismatch) else ("ok" if intact else "recovered")
        return cls(image, status, int(channel_uses), int(channel_uses), bits_sent=int(bits),
                   side_info_bits=int(overhead_bits),
                   error="the receiver's knowledge base differs" if kb_mismatch else None,
                   extras={"header_ok": bool(header_ok), "class_cb_ok": [float(f) for f in class_cb_ok],
                           "regions_lost": int(regions_lost), "kb_mismatch": bool(kb_mismatch)})

    @property
    def image(self) -> torch.Tensor:
        return self.reconstruction

    @property
    def header_ok(self) -> bool:
        return self.extras["header_ok"]

    @property
    def class_cb_ok(self) -> list[float]:
        return self.extras["class_cb_ok"]

    @property
    def bits(self) -> int:
        return self.bits_sent

    @property
    def overhead_bits(self) -> int:
        return self.side_info_bits

    @property
    def regions_lost(self) -> int:
        return self.extras["regions_lost"]

    @property
    def kb_mismatch(self) -> bool:
        return self.extras["kb_mismatch"]


def _grey(codec: SebCodec, header_bits: torch.Tensor) -> torch.Tensor:
    _, h, w, _, _ = codec.parse_header(header_bits)
    return torch.full((1, 3, h, w), 0.5)


def _decode_received(codec: SebCodec, header: torch.Tensor, streams: Sequence[torch.Tensor],
                     lost: torch.Tensor | None = None) -> tuple[torch.Tensor, bool]:
    """Decode what arrived; ``(mid-grey image, True)`` when the header names another KB."""
    try:
        return codec.decode(header, streams, lost=lost), False
    except KBVersionError:
        return _grey(codec, header), True


def send_over_link(codec: SebCodec, message: SebMessage, links: Sequence[Any], snr_db: float,
                   generator: int | torch.Generator | None = None) -> LinkOutcome:
    """Channel codec with message-wise UEP (Eq. 9): class ``c`` bits over ``links[c]``.

    The header is sent with the class-0 link, or with the class-1 link when class 0 is empty
    (``uep="none"``). Received index bits are decoded as they are, errors included (a failed code
    block yields wrong Sebs, not a lost image); a header whose CRC fails loses the image, and so does one
    naming another KB (``kb_mismatch``, see :meth:`SebCodec.check_kb`).

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
    mismatch = False
    if header_ok:
        image, mismatch = _decode_received(codec, res.bits[0], received)
    else:
        image = _grey(codec, message.header_bits)
    return LinkOutcome.make(image, uses, header_ok, ok_frac, message.num_bits, kb_mismatch=mismatch)


# ---------------------------------------------------------------------------------- through the protocol stack
def _bits_to_sdu(bits: torch.Tensor) -> bytes:
    b = (torch.as_tensor(bits).reshape(-1) > 0.5).numpy().astype(np.uint8)
    return np.packbits(b).tobytes()  # zero-padded to whole bytes


def _sdu_to_bits(sdu: bytes, n: int) -> torch.Tensor:
    arr = np.unpackbits(np.frombuffer(sdu, dtype=np.uint8))[:n]
    return torch.from_numpy(arr.astype(np.float32))


def _region_groups(codec: SebCodec, fine_mask: torch.Tensor, class_map: torch.Tensor, cls: int,
                   sdu_bytes: int) -> list[list[int]]:
    """Regions of class ``cls`` (raster order) packed greedily into SDUs of at most ``sdu_bytes``;
    a region is never split (at least one per SDU). Both ends derive it from the header."""
    b0, b1 = codec.kb.index_bits(0), codec.kb.index_bits(1)
    groups: list[list[int]] = []
    used = 0
    for j in torch.nonzero(class_map == cls).reshape(-1).tolist():
        width = 4 * b0 if fine_mask[j] else b1
        if not groups or used + width > 8 * sdu_bytes:
            groups.append([])
            used = 0
        groups[-1].append(j)
        used += width
    return groups


def stack_flows(codec: SebCodec, message: SebMessage, sdu_bytes: int = 64) -> tuple[dict[int, list[bytes]], dict]:
    """The semantic flows of one message for :class:`semcom.stack.SemanticUplink`.

    Flow ``c`` (QoS flow / DRB / logical channel of importance class ``c``) carries the index
    stream of class ``c`` cut at region boundaries into SDUs of at most ``sdu_bytes`` (each
    zero-padded to whole bytes); the header is one more SDU, first in the most protected class in
    use. Returns ``(flows, layout)``, ``layout`` saying which regions each SDU carries.
    """
    if isinstance(sdu_bytes, bool) or not isinstance(sdu_bytes, int) or sdu_bytes < 1:
        raise ConfigError(f"sdu_bytes must be a positive int, got {sdu_bytes!r}")
    header_cls = 0 if message.class_bits[0].numel() else 1
    flows: dict[int, list[bytes]] = {}
    layout: dict = {"header_class": header_cls, "groups": {}}
    b0, b1 = codec.kb.index_bits(0), codec.kb.index_bits(1)
    for cls in (0, 1):
        groups = _region_groups(codec, message.fine_mask, message.class_map, cls, sdu_bytes)
        sdus = [_bits_to_sdu(message.header_bits)] if cls == header_cls else []
        pos = 0
        for g in groups:
            n = sum(4 * b0 if message.fine_mask[j] else b1 for j in g)
            sdus.append(_bits_to_sdu(message.class_bits[cls][pos : pos + n]))
            pos += n
        if sdus:
            flows[cls] = sdus
        layout["groups"][cls] = groups
    return flows, layout


def send_over_stack(codec: SebCodec, message: SebMessage, uplink: Any, snr_db: float,
                    generator: int | torch.Generator | None = None, sdu_bytes: int = 64) -> LinkOutcome:
    """Message-wise UEP through the protocol stack (paper Sec. III, Alg. 2): SDAP -> PDCP -> RLC -> MAC -> PHY.

    Class ``c``'s SDUs (:func:`stack_flows`) travel as QoS flow ``c`` over the uplink's MCS of class
    ``c`` (``uplink`` a :class:`semcom.stack.SemanticUplink` with two classes, e.g.
    ``mcs=[[2, 0.5], [2, 2/3]]``); every protocol header is counted in ``channel_uses`` (the CBR).
    A transport block whose CRC fails is dropped by the gNB MAC, so its SDUs never arrive: their
    regions are decoded with the level's fallback Seb (``SebCodec.decode(lost=...)``), the other
    flows are untouched; a lost header SDU, or one naming another KB (``kb_mismatch``), loses the
    image (mid-grey).
    """
    flows, layout = stack_flows(codec, message, sdu_bytes)
    res = uplink.transmit(flows, snr_db, generator=generator)
    hcls = layout["header_class"]
    header_sdu = res.delivered[hcls][0]
    r = message.num_regions
    ok = [float(np.mean(res.tb_ok[c])) if res.tb_ok.get(c) else 1.0 for c in (0, 1)]
    overhead = 8 * res.total_overhead_bytes + 8 * sum(res.payload_bytes.values()) - message.num_bits
    if header_sdu is None:
        return LinkOutcome.make(_grey(codec, message.header_bits), res.total_channel_uses, False, ok, message.num_bits,
                           overhead, r)
    header = _sdu_to_bits(header_sdu, message.header_bits.numel())
    _, _, _, fine_mask, class_map = codec.parse_header(header)
    b0, b1 = codec.kb.index_bits(0), codec.kb.index_bits(1)
    lost = torch.zeros(r, dtype=torch.bool)
    streams = []
    for cls in (0, 1):
        groups = _region_groups(codec, fine_mask, class_map, cls, sdu_bytes)
        sdus = res.delivered.get(cls, [])[1 if cls == hcls else 0 :]
        parts = []
        for k, g in enumerate(groups):
            n = sum(4 * b0 if fine_mask[j] else b1 for j in g)
            sdu = sdus[k] if k < len(sdus) else None
            if sdu is None:
                lost[g] = True
                parts.append(torch.zeros(n))
            else:
                parts.append(_sdu_to_bits(sdu, n))
        streams.append(torch.cat(parts) if parts else torch.zeros(0))
    image, mismatch = _decode_received(codec, header, streams, lost=lost)
    return LinkOutcome.make(image, res.total_channel_uses, True, ok, message.num_bits, overhead, int(lost.sum()), mismatch)
