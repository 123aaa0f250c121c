"""The explicit knowledge base (KB) of semantic bases (Sebs), seb paper Sec. II-A, II-B, Algorithm 1.

A :class:`KnowledgeBase` holds Sebs at ``L`` levels (level 0 = finest). Each level is a table of
``capacity`` slots; a slot holds a Seb vector (a point of the raw semantic feature space, dimension
``d``), its importance ``I``, the time ``t0`` it was last used, and its parent slot one level up
(the partial order ``<S, <=>`` of Fig. 3: which fine Seb maps to which coarse one). The slot number
is the index the semantic encoder transmits, so an index at level ``i`` costs
``ceil(log2(capacity_i))`` bits.

* **Construction** (Eq. 1, 2): level-0 Sebs are the k-means centres of the raw features
  ``F = f_SE(X)``; level ``i + 1`` Sebs are the k-means centres of the level-``i`` Sebs, and each
  level-``i`` Seb's parent is the centre it was clustered into.
* **Importance** (Eq. 3, 4): ``I_k^0 = mean_{f in F_k} I_f`` over the features clustered into Seb
  ``k``; ``I_k^{i+1} = mean_{m in S_k^i} I_m^i`` over the lower-level Sebs clustered into it.
  Per-feature importance ``I_f`` is an input (the seb codec uses spectral-residual saliency,
  :func:`semcom.semantics.seb.spectral_residual_saliency`, because DINO / Grad-CAM weights do not
  exist offline); it is normalised to mean 1 over the construction set.
* **Representation accuracy** (Eq. 5): ``D(f, S) = ||f - f_quant(f, S)||_2``, the distance to the
  nearest Seb of the level used; :meth:`KnowledgeBase.distortion`.
* **Age of information** (Eq. 6): ``I_k(t) = I_k * Delta(t - t0)`` with
  ``Delta(tau) = 2^(-tau / half_life)`` (monotone, ``Delta(0) = 1``, ``Delta(inf) = 0``), ``t`` in
  messages; :meth:`KnowledgeBase.mark_used` refreshes ``t0``.
* **Update** (Algorithm 1, lines 6-12): :meth:`KnowledgeBase.propose_update` builds candidate
  Sebs from recent features by Eq. 1-2 (and their importance by Eq. 3-4), keeps candidates farther
  than ``min_distance`` from every existing Seb of their level, refreshes importance by Eq. 6,
  removes Sebs whose decayed importance falls below ``remove_below`` (and the least important ones
  when a level is full), re-parents orphans, and returns a :class:`KBUpdate`.

KB updates are versioned messages: :meth:`KBUpdate.to_bytes` gives the compact binary message whose
length is the signalling cost, :meth:`KnowledgeBase.apply` checks that the update starts from the
receiver's version and that the result has the sender's digest (:meth:`KnowledgeBase.digest`, which
covers the update's time ``now``), refusing otherwise with :class:`KBVersionError`. Every Seb
message carries the 32-bit :meth:`KnowledgeBase.message_digest` of the codebook next to the 16-bit
version, so a receiver whose KB diverged at the same version (or is 2^16 versions away) refuses it
(:class:`KBDigestError`). Seb vectors are stored at float16 precision so that what is sent is
exactly what both ends hold. A serialised KB or an update that yields one no sender produces (NaN
or non-positive half life, a clock beyond the update message's 32-bit time field, NaN Sebs, parents
outside the next level) is a :class:`KBMessageError`.

Example::

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> feats = torch.randn(600, 8, generator=g)
    >>> kb = KnowledgeBase.build(feats, importance=torch.rand(600, generator=g), sizes=[32, 8], seed=0)
    >>> kb.sizes, kb.index_bits(0), kb.index_bits(1)
    ([32, 8], 5, 3)
    >>> bool((kb.parents(0) >= 0).all())
    True
    >>> receiver = KnowledgeBase.from_bytes(kb.to_bytes())
    >>> upd = kb.propose_update(feats[:100] + 3.0, now=10, seed=0)
    >>> new = kb.apply(upd)
    >>> receiver.apply(KBUpdate.from_bytes(upd.to_bytes())).digest() == new.digest()
    True
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import operator
import struct
import zlib
from typing import Sequence

import numpy as np
import torch

from semcom.errors import ConfigError, InputError, SemcomError
from semcom.utils import check_finite

__all__ = [
    "KnowledgeBase",
    "KBUpdate",
    "KBVersionError",
    "KBDigestError",
    "KBMessageError",
    "kmeans",
    "aoi_decay",
    "MESSAGE_DIGEST_BITS",
    "MAX_CLOCK",
]

_EMPTY = -1
_MAGIC_KB = b"SEBK"
_MAGIC_UPD = b"SEBU"
_FORMAT = 1
#: Bits of :meth:`KnowledgeBase.message_digest` carried by every Seb message.
MESSAGE_DIGEST_BITS = 32
#: Times (clock, ``t0``, the update's ``now``) lie in ``[0, MAX_CLOCK]``: the update message's
#: 32-bit time field.
MAX_CLOCK = 2**32 - 1


class KBVersionError(SemcomError):
    """The two ends hold different KB versions: an update or a message cannot be interpreted."""


class KBDigestError(KBVersionError):
    """The KB version numbers agree but the contents differ: the copies diverged at the same
    version, or one is a multiple of 2^16 versions ahead (a Seb message carries 16 version bits and
    a 32-bit digest of the KB, :meth:`KnowledgeBase.message_digest`)."""


class KBMessageError(SemcomError, ValueError):
    """A serialised KB or KB update is truncated or corrupt."""


def _finite(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _time(value: int, name: str) -> int:
    """``value`` as an int time in ``[0, MAX_CLOCK]`` (InputError otherwise)."""
    try:
        v = operator.index(value)
    except TypeError:
        v = None
    if isinstance(value, bool) or v is None or not 0 <= v <= MAX_CLOCK:
        raise InputError(f"{name} must be an int time in [0, {MAX_CLOCK}], got {value!r}")
    return v


def aoi_decay(age: torch.Tensor | float, half_life: float) -> torch.Tensor:
    """``Delta(tau) = 2^(-tau / half_life)`` of Eq. 6: 1 at ``tau = 0``, halves every ``half_life``."""
    age = torch.as_tensor(age, dtype=torch.float64)
    return torch.pow(2.0, -age.clamp(min=0) / half_life)


def kmeans(x: torch.Tensor, k: int, seed: int = 0, n_init: int = 1, max_iter: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means (Lloyd, k-means++ init; scikit-learn) of ``x [N, d]`` into ``k`` clusters.

    Returns ``(centres [k, d] float32, labels [N] long)``. When ``N < k`` each point is its own
    centre (``k`` is reduced to ``N``).
    """
    from sklearn.cluster import KMeans

    x = torch.as_tensor(x, dtype=torch.float32)
    if x.dim() != 2 or x.shape[0] == 0:
        raise InputError(f"k-means needs a non-empty [N, d] tensor, got {tuple(x.shape)}")
    check_finite(x, "features")
    k = min(int(k), x.shape[0])
    if k == x.shape[0]:
        return x.clone(), torch.arange(k)
    km = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=int(seed) % 2**31)
    labels = km.fit_predict(x.numpy().astype(np.float64))
    return torch.from_numpy(km.cluster_centers_).float(), torch.from_numpy(labels).long()


def _f16(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float16).to(torch.float32)


@dataclasses.dataclass
class _Level:
    vectors: torch.Tensor  # [capacity, d] float32 (float16-exact)
    importance: torch.Tensor  # [capacity] float32
    last_used: torch.Tensor  # [capacity] int64
    parent: torch.Tensor  # [capacity] int64, slot at the next level or -1
    occupied: torch.Tensor  # [capacity] bool

    @property
    def capacity(self) -> int:
        return int(self.occupied.numel())


@dataclasses.dataclass
class KBUpdate:
    """A versioned KB update message (AP -> UEs).

    Attributes:
        from_version, to_version: KB versions before and after.
        now: the time (messages) of the update; receivers set their clock to it.
        dim: Seb dimension.
        added: per level, ``[(slot, parent, importance, last_used, vector [d]), ...]``.
        removed: per level, slots emptied.
        importance: per level, ``[(slot, importance, last_used), ...]`` for refreshed Sebs.
        reparented: per level, ``[(slot, new parent), ...]``.
        digest: first 8 bytes of the resulting KB's SHA-256 (:meth:`KnowledgeBase.digest`).
    """

    from_version: int
    to_version: int
    now: int
    dim: int
    added: list[list[tuple[int, int, float, int, torch.Tensor]]]
    removed: list[list[int]]
    importance: list[list[tuple[int, float, int]]]
    reparented: list[list[tuple[int, int]]]
    digest: bytes

    @property
    def num_added(self) -> int:
        return sum(len(a) for a in self.added)

    @property
    def num_removed(self) -> int:
        return sum(len(r) for r in self.removed)

    def to_bytes(self) -> bytes:
        """Compact binary message; its length is the signalling cost of the update.

        Layout (big endian): ``"SEBU" | format u8 | from u32 | to u32 | now u32 | dim u16 | levels u8 |``
        per level ``n_add u16 n_rem u16 n_imp u16 n_par u16``, then per level the added Sebs
        (``slot u16, parent i16, importance f32, t0 u32, vector f16 x dim``), removed slots
        (u16), importance changes (``slot u16, importance f32, t0 u32``), re-parentings
        (``slot u16, parent i16``), then the 8-byte digest and a CRC-32 of everything before it.
        """
        out = bytearray(_MAGIC_UPD)
        out += struct.pack(">BIIIHB", _FORMAT, self.from_version, self.to_version, self.now, self.dim, len(self.added))
        for lv in range(len(self.added)):
            out += struct.pack(
                ">HHHH", len(self.added[lv]), len(self.removed[lv]), len(self.importance[lv]), len(self.reparented[lv])
            )
        for lv in range(len(self.added)):
            for slot, parent, imp, t0, vec in self.added[lv]:
                out += struct.pack(">HhfI", slot, parent, imp, t0)
                out += vec.to(torch.float16).numpy().astype(">f2").tobytes()
            for slot in self.removed[lv]:
                out += struct.pack(">H", slot)
            for slot, imp, t0 in self.importance[lv]:
                out += struct.pack(">HfI", slot, imp, t0)
            for slot, parent in self.reparented[lv]:
                out += struct.pack(">Hh", slot, parent)
        out += self.digest
        out += struct.pack(">I", zlib.crc32(bytes(out)))
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> "KBUpdate":
        """Parse a message from :meth:`to_bytes`; a truncated or corrupt one is a :class:`KBMessageError`."""
        if not isinstance(data, (bytes, bytearray)):
            raise KBMessageError("KB update must be bytes")
        data = bytes(data)
        if len(data) < 4 + 16 + 8 + 4 or data[:4] != _MAGIC_UPD:
            raise KBMessageError("not a KB update message (bad magic or too short)")
        if struct.unpack(">I", data[-4:])[0] != zlib.crc32(data[:-4]):
            raise KBMessageError("KB update message is truncated or corrupt (CRC mismatch)")
        try:
            fmt, v0, v1, now, dim, nl = struct.unpack_from(">BIIIHB", data, 4)
            if fmt != _FORMAT:
                raise KBMessageError(f"unknown KB update format {fmt}")
            pos = 4 + 16
            counts = []
            for _ in range(nl):
                counts.append(struct.unpack_from(">HHHH", data, pos))
                pos += 8
            added, removed, importance, reparented = [], [], [], []
            for n_add, n_rem, n_imp, n_par in counts:
                a = []
                for _ in range(n_add):
                    slot, parent, imp, t0 = struct.unpack_from(">HhfI", data, pos)
                    pos += 12
                    raw = data[pos : pos + 2 * dim]
                    if len(raw) != 2 * dim:
                        raise KBMessageError("KB update truncated inside a Seb vector")
                    vec = torch.from_numpy(np.frombuffer(raw, dtype=">f2").astype(np.float32))
                    pos += 2 * dim
                    a.append((slot, parent, imp, t0, vec))
                r = list(struct.unpack_from(f">{n_rem}H", data, pos))
                pos += 2 * n_rem
                im = []
                for _ in range(n_imp):
                    im.append(struct.unpack_from(">HfI", data, pos))
                    pos += 10
                pa = []
                for _ in range(n_par):
                    pa.append(struct.unpack_from(">Hh", data, pos))
                    pos += 4
                added.append(a)
                removed.append(r)
                importance.append(im)
                reparented.append(pa)
        except struct.error:
            raise KBMessageError("KB update message is truncated") from None
        if pos + 8 + 4 != len(data):
            raise KBMessageError("KB update message length does not match its contents")
        return cls(v0, v1, now, dim, added, removed, importance, reparented, data[pos : pos + 8])


class KnowledgeBase:
    """Hierarchical, versioned KB of Sebs; see the module docstring for the equations.

    Build with :meth:`build`; do not construct levels by hand.

    Attributes:
        version: increments with every applied update.
        half_life: ``Delta``'s half life in messages (Eq. 6).
        remove_below: decayed importance below which a Seb is removed.
        min_distance: per level, the Eq. 5 distance a candidate must exceed to be added.
        clock: the current time (messages seen) used by Eq. 6.
    """

    def __init__(self, levels: list[_Level], version: int = 0, half_life: float = 50.0,
                 remove_below: float = 0.05, min_distance: Sequence[float] | None = None, clock: int = 0,
                 synced_at: int = 0):
        self._levels = levels
        self.version = int(version)
        self.half_life = float(half_life)
        self.remove_below = float(remove_below)
        self.min_distance = [float(m) for m in (min_distance or [0.0] * len(levels))]
        self.clock = int(clock)
        self.synced_at = int(synced_at)

    # ------------------------------------------------------------------ construction (Eq. 1-4)
    @classmethod
    def build(cls, features: torch.Tensor, importance: torch.Tensor | None = None, sizes: Sequence[int] = (256, 64),
              capacities: Sequence[int] | None = None, seed: int = 0, half_life: float = 50.0,
              remove_below: float = 0.05, min_distance: Sequence[float] | None = None) -> "KnowledgeBase":
        """Build the KB from raw features (Eq. 1, 2) with importance (Eq. 3, 4).

        Args:
            features: ``[N, d]`` raw semantic features ``F``.
            importance: ``[N]`` non-negative per-feature importance ``I_f`` (default: all 1);
                normalised to mean 1.
            sizes: Sebs per level, finest first, non-increasing (``n_1 >= n_2 >= ...``).
            capacities: slots per level (default: ``sizes`` rounded up to a power of two); sets
                the index width ``ceil(log2(capacity))``.
            seed: k-means seed.
            half_life, remove_below: Eq. 6 decay and the removal threshold.
            min_distance: per level, the Eq. 5 novelty threshold for adding candidates (default:
                the mean Eq. 5 distortion of the points the level was built from: a candidate is
                novel when the KB represents it worse than it represented its own data).
        """
        if not (_finite(half_life) and half_life > 0 and _finite(remove_below) and remove_below >= 0):
            raise ConfigError(f"half_life must be finite and > 0, remove_below finite and >= 0; got {half_life!r}, "
                              f"{remove_below!r}")
        features = torch.as_tensor(features, dtype=torch.float32)
        if features.dim() != 2 or features.shape[0] < 2:
            raise InputError(f"features must be [N >= 2, d], got {tuple(features.shape)}")
        check_finite(features, "features")
        n = features.shape[0]
        imp = torch.ones(n) if importance is None else torch.as_tensor(importance, dtype=torch.float32).reshape(-1)
        if imp.numel() != n:
            raise InputError(f"importance must have one value per feature ({n}), got {imp.numel()}")
        check_finite(imp, "importance")
        if (imp < 0).any() or imp.sum() <= 0:
            raise InputError("importance must be non-negative and not all zero")
        imp = imp / imp.mean()
        sizes = [int(s) for s in sizes]
        if not sizes or any(s < 1 for s in sizes) or any(a < b for a, b in zip(sizes, sizes[1:])):
            raise ConfigError(f"sizes must be positive and non-increasing (finest first), got {sizes}")
        if capacities is None:
            capacities = [1 << max(0, math.ceil(math.log2(s))) for s in sizes]
        capacities = [int(c) for c in capacities]
        if len(capacities) != len(sizes) or any(c < s for c, s in zip(capacities, sizes)) or max(capacities) > 32767:
            raise ConfigError(f"capacities {capacities} must match sizes {sizes} level by level, be >= them and <= 32767")
        levels: list[_Level] = []
        points, point_imp = features, imp
        for lv, (k, cap) in enumerate(zip(sizes, capacities)):
            centres, labels = kmeans(points, k, seed=seed + lv)
            k = centres.shape[0]
            counts = torch.bincount(labels, minlength=k).clamp(min=1).float()
            seb_imp = torch.zeros(k).index_add_(0, labels, point_imp) / counts  # Eq. 3 / Eq. 4
            level = _Level(
                vectors=torch.zeros(cap, features.shape[1]),
                importance=torch.zeros(cap),
                last_used=torch.zeros(cap, dtype=torch.long),
                parent=torch.full((cap,), _EMPTY, dtype=torch.long),
                occupied=torch.zeros(cap, dtype=torch.bool),
            )
            level.vectors[:k] = _f16(centres)
            level.importance[:k] = seb_imp
            level.occupied[:k] = True
            if lv > 0:
                levels[-1].parent[: len(labels)] = labels  # partial order: lower Seb -> its centre
            levels.append(level)
            points, point_imp = level.vectors[:k], seb_imp
        kb = cls(levels, half_life=half_life, remove_below=remove_below)
        try:
            kb._check_state()
        except KBMessageError as e:
            raise ConfigError(str(e)) from None
        if min_distance is None:  # the mean Eq. 5 distortion of the points each level was built from
            min_distance = [kb.distortion(features, 0)]
            min_distance += [kb.distortion(kb.vectors(lv - 1), lv) for lv in range(1, len(levels))]
        if len(min_distance) != len(levels):
            raise ConfigError("min_distance needs one value per level")
        kb.min_distance = [float(m) for m in min_distance]
        return kb

    # ------------------------------------------------------------------ accessors
    @property
    def num_levels(self) -> int:
        return len(self._levels)

    @property
    def dim(self) -> int:
        return int(self._levels[0].vectors.shape[1])

    @property
    def sizes(self) -> list[int]:
        """Occupied Sebs per level."""
        return [int(lv.occupied.sum()) for lv in self._levels]

    @property
    def capacities(self) -> list[int]:
        return [lv.capacity for lv in self._levels]

    def _check_level(self, level: int) -> _Level:
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level < self.num_levels:
            raise InputError(f"level must be an int in [0, {self.num_levels - 1}], got {level!r}")
        return self._levels[level]

    def index_bits(self, level: int) -> int:
        """Bits of one Seb index at ``level``: ``ceil(log2(capacity))`` (at least 1)."""
        return max(1, math.ceil(math.log2(self._check_level(level).capacity)))

    def slots(self, level: int) -> torch.Tensor:
        """Occupied slot numbers (the transmitted indices) at ``level``, ascending."""
        return torch.nonzero(self._check_level(level).occupied).reshape(-1)

    def vectors(self, level: int) -> torch.Tensor:
        """``[n_level, d]`` Seb vectors of the occupied slots, in :meth:`slots` order."""
        lv = self._check_level(level)
        return lv.vectors[lv.occupied]

    def parents(self, level: int) -> torch.Tensor:
        """Parent slot (one level up) of each occupied slot at ``level``; -1 at the top level."""
        lv = self._check_level(level)
        return lv.parent[lv.occupied]

    def base_importance(self, level: int) -> torch.Tensor:
        lv = self._check_level(level)
        return lv.importance[lv.occupied]

    def importance(self, level: int, now: int | None = None) -> torch.Tensor:
        """Eq. 6: ``I_k * Delta(now - t0)`` for the occupied slots at ``level`` (``now``: :attr:`clock`)."""
        lv = self._check_level(level)
        now = self.clock if now is None else int(now)
        age = (now - lv.last_used[lv.occupied]).double()
        return (lv.importance[lv.occupied].double() * aoi_decay(age, self.half_life)).float()

    def children(self, level: int, slot: int) -> torch.Tensor:
        """Slots at ``level - 1`` whose parent is ``slot`` (the Hasse-diagram edges below it)."""
        if level == 0:
            return torch.zeros(0, dtype=torch.long)
        lower = self._check_level(level - 1)
        return torch.nonzero(lower.occupied & (lower.parent == slot)).reshape(-1)

    def lookup(self, level: int, idx: torch.Tensor) -> torch.Tensor:
        """``f_query``: Seb vectors ``[..., d]`` of slot indices ``idx [...]``.

        Raises:
            InputError: an index outside the table or pointing at an empty slot.
        """
        lv = self._check_level(level)
        idx = torch.as_tensor(idx, dtype=torch.long)
        if idx.numel() and (idx.min() < 0 or idx.max() >= lv.capacity):
            raise InputError(f"Seb index out of range [0, {lv.capacity}) at level {level}")
        if idx.numel() and not bool(lv.occupied[idx].all()):
            raise InputError(f"Seb index points at an empty slot at level {level}")
        return lv.vectors[idx]

    # ------------------------------------------------------------------ f_quant and Eq. 5
    def quantize(self, features: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest Seb at ``level`` of each feature ``[..., d]``: ``(slot indices [...], distances [...])``.

        The distance is Eq. 5's ``||f - f_quant(f)||_2``.
        """
        lv = self._check_level(level)
        f = torch.as_tensor(features, dtype=torch.float32)
        if f.shape[-1] != self.dim:
            raise InputError(f"features must end in the Seb dimension {self.dim}, got {tuple(f.shape)}")
        check_finite(f, "features")
        slots = self.slots(level)
        flat = f.reshape(-1, self.dim)
        d = torch.cdist(flat, lv.vectors[slots])
        dist, j = d.min(dim=1)
        return slots[j].reshape(f.shape[:-1]), dist.reshape(f.shape[:-1])

    def distortion(self, features: torch.Tensor, level: int = 0) -> float:
        """Mean Eq. 5 distance of ``features [..., d]`` to their nearest Seb at ``level``."""
        _, dist = self.quantize(features, level)
        return float(dist.mean()) if dist.numel() else 0.0

    def needs_update(self, features: torch.Tensor, threshold: float, level: int = 0) -> bool:
        """Algorithm 1 line 3: request an update when the mean Eq. 5 distortion exceeds ``threshold``
        (representation accuracy below the corresponding accuracy threshold)."""
        return self.distortion(features, level) > float(threshold)

    def mark_used(self, level: int, idx: torch.Tensor, now: int | None = None) -> None:
        """Refresh ``t0`` (Eq. 6) of the slots in ``idx`` to ``now`` (default :attr:`clock`)."""
        lv = self._check_level(level)
        idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1)
        now = self.clock if now is None else _time(now, "now")
        if idx.numel():
            lv.last_used[idx.unique()] = now

    def tick(self, n: int = 1) -> None:
        """Advance :attr:`clock` by ``n >= 0`` messages (the clock stays within ``[0, MAX_CLOCK]``)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InputError(f"tick needs an int n >= 0, got {n!r}")
        self.clock = _time(self.clock + n, "clock")

    # ------------------------------------------------------------------ update mode (Algorithm 1)
    def propose_update(self, recent_features: torch.Tensor, recent_importance: torch.Tensor | None = None,
                       now: int | None = None, num_candidates: Sequence[int] | None = None, seed: int = 0) -> KBUpdate:
        """Algorithm 1 lines 6-11: the update message bringing this KB to its next version.

        Args:
            recent_features: ``[N, d]`` raw features of recently sent messages (``X`` at the AP).
            recent_importance: ``[N]`` their importance (default 1), normalised to mean 1.
            now: current time for Eq. 6 (default :attr:`clock`).
            num_candidates: candidate Sebs per level (default: a quarter of each capacity).
            seed: k-means seed.

        The update (iii) removes Sebs whose Eq. 6 importance ``I * Delta(now - t0)`` fell below
        :attr:`remove_below` (keeping at least one per level); (i) adds candidates (Eq. 1-2 on
        the recent features, importance Eq. 3-4) whose Eq. 5 distance to the KB exceeds
        :attr:`min_distance`, into free slots or, when a level is full, in place of the Seb of
        lowest decayed importance if the candidate's importance is higher; (ii) carries the Eq. 6
        state (``t0``) of Sebs used (:meth:`mark_used`) since the last synchronisation, so both
        ends decay importance identically; (iv) re-parents Sebs whose parent was removed or
        replaced, and new Sebs, to the nearest Seb one level up.
        """
        now, feats, imp, num_candidates = self._update_inputs(recent_features, recent_importance, now, num_candidates)
        new = copy.deepcopy(self)
        nl = self.num_levels
        added: list[list] = [[] for _ in range(nl)]
        removed: list[set[int]] = [set() for _ in range(nl)]
        points, point_imp = feats, imp
        for lv in range(nl):
            level = new._levels[lv]
            decayed = (level.importance.double() * aoi_decay((now - level.last_used).double(), self.half_life)).float()
            _remove_obsolete(level, decayed, self.remove_below, removed[lv])  # (iii)
            # (i) candidates by Eq. 1 (level 0) / Eq. 2 (higher levels), importance by Eq. 3 / 4
            k = min(int(num_candidates[lv]), points.shape[0])
            centres, labels = kmeans(points, k, seed=seed + lv)
            counts = torch.bincount(labels, minlength=centres.shape[0]).clamp(min=1).float()
            cand_imp = torch.zeros(centres.shape[0]).index_add_(0, labels, point_imp) / counts
            centres = _f16(centres)
            _, dist = new.quantize(centres, lv)
            keep = torch.nonzero(dist > self.min_distance[lv]).reshape(-1)
            keep = keep[torch.argsort(cand_imp[keep], descending=True, stable=True)]
            _insert_candidates(level, centres, cand_imp, keep.tolist(), decayed, now, added[lv], removed[lv])
            if keep.numel():
                points, point_imp = centres[keep], cand_imp[keep]
            else:
                points, point_imp = centres, cand_imp
        reparented = new._reparent(removed)  # (iv)
        changed = self._update_records(new, added, removed, reparented)  # (ii)
        new.version = self.version + 1
        new.clock = max(self.clock, now)
        new.synced_at = now
        return KBUpdate(
            from_version=self.version,
            to_version=new.version,
            now=now,
            dim=self.dim,
            added=[[tuple(a) for a in lv] for lv in added],
            removed=[sorted(r) for r in removed],
            importance=changed,
            reparented=reparented,
            digest=new.digest(),
        )

    def _update_inputs(self, recent_features, recent_importance, now, num_candidates):
        """:meth:`propose_update`'s arguments checked: (now, features, importance normalised to mean
        1, candidates per level)."""
        now = self.clock if now is None else _time(now, "now")
        if self.version >= MAX_CLOCK:
            raise InputError(f"KB version {self.version} is the last one the update message can carry")
        if now < self.synced_at:
            raise InputError(f"now={now} lies before the last synchronisation at {self.synced_at}")
        feats = torch.as_tensor(recent_features, dtype=torch.float32)
        if feats.dim() != 2 or feats.shape[1] != self.dim or feats.shape[0] < 1:
            raise InputError(f"recent_features must be [N >= 1, {self.dim}], got {tuple(feats.shape)}")
        check_finite(feats, "recent_features")
        if recent_importance is None:
            imp = torch.ones(feats.shape[0])
        else:
            imp = torch.as_tensor(recent_importance, dtype=torch.float32).reshape(-1)
        if imp.numel() != feats.shape[0]:
            raise InputError("recent_importance must have one value per feature")
        check_finite(imp, "recent_importance")
        if (imp < 0).any():
            raise InputError("recent_importance must be non-negative")
        imp = imp / imp.mean().clamp(min=1e-12)
        if num_candidates is None:
            num_candidates = [max(1, c // 4) for c in self.capacities]
        if len(num_candidates) != self.num_levels:
            raise ConfigError("num_candidates needs one value per level")
        return now, feats, imp, num_candidates

    def _reparent(self, removed: list[set[int]]) -> list[list[tuple[int, int]]]:
        """(iv) partial order: Sebs whose parent was removed or replaced (or new ones) get the
        nearest Seb one level up as parent; returns the (slot, parent) changes per level."""
        reparented: list[list[tuple[int, int]]] = [[] for _ in range(self.num_levels)]
        for lv in range(self.num_levels - 1):
            level, upper = self._levels[lv], self._levels[lv + 1]
            occ = torch.nonzero(level.occupied).reshape(-1).tolist()
            gone = removed[lv + 1]
            bad = [s for s in occ if level.parent[s] < 0 or int(level.parent[s]) in gone or not bool(upper.occupied[level.parent[s]])]
            if bad:
                parent_slots, _ = self.quantize(level.vectors[bad], lv + 1)
                for s, p in zip(bad, parent_slots.tolist()):
                    level.parent[s] = p
                    reparented[lv].append((s, p))
        return reparented

    def _update_records(self, new: "KnowledgeBase", added: list[list], removed: list[set[int]],
                        reparented: list[list[tuple[int, int]]]) -> list[list[tuple[int, float, int]]]:
        """The message's records once the new KB is built: added Sebs get their final parent, a slot
        added in this update is reported only as added; (ii) the Eq. 6 state (importance, t0) of
        the Sebs used since the last synchronisation."""
        changed: list[list[tuple[int, float, int]]] = [[] for _ in range(self.num_levels)]
        for lv in range(self.num_levels):
            level = new._levels[lv]
            added_slots = {a[0] for a in added[lv]}
            for a in added[lv]:
                a[1] = int(level.parent[a[0]])
            reparented[lv] = [(s, p) for s, p in reparented[lv] if s not in added_slots]
            removed[lv] -= added_slots
            used = torch.nonzero(level.occupied & (level.last_used > self.synced_at)).reshape(-1).tolist()
            changed[lv] = [(s, float(level.importance[s]), int(level.last_used[s])) for s in used if s not in added_slots]
        return changed

    def apply(self, update: KBUpdate) -> "KnowledgeBase":
        """Apply an update (Algorithm 1 line 12) and return the new KB (this one is unchanged).

        Raises:
            KBVersionError: the update does not start from this KB's version, or the result does
                not match the sender's digest (the two KBs had diverged).
            KBMessageError: the update refers to slots or levels this KB does not have, or its
                result is not a valid KB (NaN Sebs, times out of range, ...).
        """
        if not isinstance(update, KBUpdate):
            raise InputError(f"expected a KBUpdate, got {type(update).__name__}")
        if update.from_version != self.version:
            raise KBVersionError(
                f"KB update goes from version {update.from_version} to {update.to_version}, "
                f"but this KB is at version {self.version}"
            )
        if update.dim != self.dim or len(update.added) != self.num_levels:
            raise KBMessageError("KB update has a different Seb dimension or number of levels")
        new = copy.deepcopy(self)
        try:
            for lv in range(self.num_levels):
                level = new._levels[lv]
                for slot in update.removed[lv]:
                    level.occupied[slot] = False
                    level.parent[slot] = _EMPTY
                for slot, parent, imp, t0, vec in update.added[lv]:
                    level.vectors[slot] = _f16(torch.as_tensor(vec, dtype=torch.float32))
                    level.importance[slot] = float(np.float32(imp))
                    level.last_used[slot] = int(t0)
                    level.parent[slot] = int(parent)
                    level.occupied[slot] = True
                for slot, imp, t0 in update.importance[lv]:
                    level.importance[slot] = float(np.float32(imp))
                    level.last_used[slot] = int(t0)
                for slot, parent in update.reparented[lv]:
                    level.parent[slot] = int(parent)
        except (IndexError, RuntimeError):
            raise KBMessageError("KB update refers to a slot outside this KB") from None
        new.version = update.to_version
        new.clock = max(self.clock, update.now)
        new.synced_at = update.now
        new._check_state()
        if new.digest() != update.digest:
            raise KBVersionError("KB after the update differs from the sender's KB (diverged copies)")
        return new

    # ------------------------------------------------------------------ identity and serialisation
    def codebook_bytes(self) -> bytes:
        """Canonical bytes of what interpreting a Seb message depends on, the same at both ends
        between synchronisations: version (u32), dimension, number of levels, and per level the
        capacity, the occupied map and the occupied slots' vectors (float16), base importance
        (float32) and parents (int16), big endian. The Eq. 6 usage state (``t0``, clock), which
        each end updates locally between synchronisations, is left out."""
        out = bytearray(struct.pack(">IHB", self.version, self.dim, self.num_levels))
        for lv in self._levels:
            occ = lv.occupied
            out += struct.pack(">H", lv.capacity)
            out += occ.numpy().astype(np.uint8).tobytes()
            out += lv.vectors[occ].to(torch.float16).numpy().astype(">f2").tobytes()
            out += lv.importance[occ].numpy().astype(">f4").tobytes()
            out += lv.parent[occ].numpy().astype(">i2").tobytes()
        return bytes(out)

    def message_digest(self) -> int:
        """The 32-bit KB digest every Seb message carries: the first :data:`MESSAGE_DIGEST_BITS`
        bits of the SHA-256 of :meth:`codebook_bytes`, as an unsigned int. With the 16-bit version
        it lets a receiver refuse a message encoded with a diverged KB (:class:`KBDigestError`)."""
        return int.from_bytes(hashlib.sha256(self.codebook_bytes()).digest()[: MESSAGE_DIGEST_BITS // 8], "big")

    def digest(self) -> bytes:
        """First 8 bytes of the SHA-256 of the synchronised state: :meth:`codebook_bytes`, the time
        of the last synchronisation (``synced_at``: the ``now`` of the last update) and ``t0`` of
        every occupied Seb. A :class:`KBUpdate` carries the digest of the KB it produces, so a
        receiver whose copy diverged, or an update whose ``now`` was altered, is refused."""
        h = hashlib.sha256(self.codebook_bytes())
        h.update(struct.pack(">Q", self.synced_at))
        for lv in self._levels:
            h.update(lv.last_used[lv.occupied].numpy().astype(">i8").tobytes())
        return h.digest()[:8]

    def _check_state(self) -> None:
        """Refuse a KB no sender produces (:class:`KBMessageError`): no levels, a non-finite or
        non-positive half life, negative or non-finite thresholds, a clock outside ``[0, MAX_CLOCK]``
        (or a synchronisation after it), and per level an empty table, non-finite Seb vectors,
        negative or non-finite importance, ``t0`` out of range, or a parent outside the next level."""
        if not self._levels or self.dim < 1:
            raise KBMessageError("knowledge base has no levels or a zero Seb dimension")
        if not (math.isfinite(self.half_life) and self.half_life > 0):
            raise KBMessageError(f"half_life must be finite and positive, got {self.half_life}")
        if not all(math.isfinite(v) and v >= 0 for v in [self.remove_below, *self.min_distance]):
            raise KBMessageError("remove_below and min_distance must be finite and non-negative")
        if not 0 <= self.synced_at <= self.clock <= MAX_CLOCK or not 0 <= self.version <= MAX_CLOCK:
            raise KBMessageError(f"clock {self.clock} / last sync {self.synced_at} / version {self.version} "
                                 f"outside [0, {MAX_CLOCK}] (or sync after the clock)")
        for i, lv in enumerate(self._levels):
            occ = lv.occupied
            upper = self._levels[i + 1].capacity if i + 1 < self.num_levels else 0
            bad = (
                not bool(occ.any())
                or not bool(torch.isfinite(lv.vectors[occ]).all())
                or not bool((torch.isfinite(lv.importance[occ]) & (lv.importance[occ] >= 0)).all())
                or bool(((lv.last_used < 0) | (lv.last_used > MAX_CLOCK)).any())
                or bool(((lv.parent[occ] < -1) | (lv.parent[occ] >= upper)).any())
            )
            if bad:
                raise KBMessageError(f"level {i} of the knowledge base holds invalid Sebs (empty table, NaN/Inf, "
                                     "negative importance, t0 out of range or a parent outside the next level)")

    def to_bytes(self) -> bytes:
        """The whole KB as bytes (initial synchronisation, checkpoints)."""
        out = bytearray(_MAGIC_KB)
        out += struct.pack(">BIHBddQQ", _FORMAT, self.version, self.dim, self.num_levels, self.half_life,
                           self.remove_below, self.clock, self.synced_at)
        for lv, level in enumerate(self._levels):
            out += struct.pack(">Hd", level.capacity, self.min_distance[lv])
            out += level.occupied.numpy().astype(np.uint8).tobytes()
            out += level.vectors.to(torch.float16).numpy().astype(">f2").tobytes()
            out += level.importance.numpy().astype(">f4").tobytes()
            out += level.last_used.numpy().astype(">i8").tobytes()
            out += level.parent.numpy().astype(">i2").tobytes()
        out += struct.pack(">I", zlib.crc32(bytes(out)))
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> "KnowledgeBase":
        """Inverse of :meth:`to_bytes`.

        Raises:
            KBMessageError: truncated or corrupt data, or a KB no sender produces (NaN or
                non-positive half life, clock beyond ``[0, MAX_CLOCK]``, NaN Sebs, ...; see
                :meth:`_check_state`).
        """
        if not isinstance(data, (bytes, bytearray)) or len(data) < 40 or bytes(data[:4]) != _MAGIC_KB:
            raise KBMessageError("not a serialised knowledge base")
        data = bytes(data)
        if struct.unpack(">I", data[-4:])[0] != zlib.crc32(data[:-4]):
            raise KBMessageError("serialised knowledge base is truncated or corrupt (CRC mismatch)")
        try:
            fmt, version, dim, nl, half_life, remove_below, clock, synced = struct.unpack_from(">BIHBddQQ", data, 4)
            pos = 4 + struct.calcsize(">BIHBddQQ")
            levels, min_distance = [], []
            for _ in range(nl):
                cap, md = struct.unpack_from(">Hd", data, pos)
                pos += 10

                def take(nbytes: int, dtype: str) -> np.ndarray:
                    nonlocal pos
                    chunk = data[pos : pos + nbytes]
                    if len(chunk) != nbytes:
                        raise KBMessageError("serialised knowledge base is truncated")
                    pos += nbytes
                    return np.frombuffer(chunk, dtype=dtype)

                occ = torch.from_numpy(take(cap, "u1").astype(bool))
                vec = torch.from_numpy(take(2 * cap * dim, ">f2").astype(np.float32).reshape(cap, dim))
                imp = torch.from_numpy(take(4 * cap, ">f4").astype(np.float32))
                t0 = torch.from_numpy(take(8 * cap, ">i8").astype(np.int64))
                par = torch.from_numpy(take(2 * cap, ">i2").astype(np.int64))
                levels.append(_Level(vec, imp, t0, par, occ))
                min_distance.append(md)
        except struct.error:
            raise KBMessageError("serialised knowledge base is truncated") from None
        if fmt != _FORMAT or pos + 4 != len(data):
            raise KBMessageError("serialised knowledge base has an unknown format or a bad length")
        kb = cls(levels, version, half_life, remove_below, min_distance, clock, synced)
        kb._check_state()
        return kb

    def __repr__(self) -> str:
        return f"KnowledgeBase(version={self.version}, dim={self.dim}, sizes={self.sizes}, capacities={self.capacities})"


def _remove_obsolete(level, decayed: torch.Tensor, remove_below: float, removed: set[int]) -> None:
    """(iii) of the update: free the slots whose Eq. 6 importance fell below ``remove_below``,
    keeping at least one Seb on the level."""
    for slot in torch.nonzero(level.occupied).reshape(-1).tolist():
        if decayed[slot] < remove_below and int(level.occupied.sum()) > 1:
            level.occupied[slot] = False
            removed.add(slot)


def _insert_candidates(level, centres: torch.Tensor, cand_imp: torch.Tensor, order: list[int],
                       decayed: torch.Tensor, now: int, added: list, removed: set[int]) -> None:
    """(i) of the update: the candidates ``order`` (most important first) into free slots or, on a
    full level, in place of the Seb of lowest decayed importance when the candidate's is higher (a
    slot filled in this update is not replaced again)."""
    protected: set[int] = set()
    for c in order:
        free = torch.nonzero(~level.occupied).reshape(-1)
        if free.numel():
            slot = int(free[0])
        else:
            masked = decayed.clone()
            if protected:
                masked[list(protected)] = float("inf")
            slot = int(masked.argmin())
            if masked[slot] >= cand_imp[c]:
                continue
            removed.add(slot)
        level.vectors[slot] = centres[c]
        level.importance[slot] = float(np.float32(cand_imp[c]))
        level.last_used[slot] = now
        level.parent[slot] = _EMPTY
        level.occupied[slot] = True
        protected.add(slot)
        added.append([slot, _EMPTY, float(np.float32(cand_imp[c])), now, centres[c]])
