"""Model propagation: semantic slice models as payload (LSCI, Dong et al. 2022, Sec. II and IV-F).

A slice model (an ``nn.Module`` state dict and its config) is compressed by magnitude pruning
(``sparsity``: the fraction of each weight tensor's smallest-magnitude entries set to zero) and
uniform quantisation (``bits`` per kept weight, per-tensor min/max), serialised into one
self-describing package, sent over a :mod:`semcom.link` link like any payload, and rebuilt at the
receiver. The receiver refuses what it must not use:

* a corrupted package (SHA-256 digest of the package does not match): :class:`SliceCorruptError`;
* a package made for another base-model version: :class:`SliceVersionError`;
* a slice it does not hold when asked to use it: :class:`SliceMissingError`, which carries the
  :class:`SliceRequest` to send back; :meth:`SliceServer.serve` answers a request with the package.

Package layout (big-endian)::

    b"SLC1" | header length (4) | header JSON (kind, name, base_version, config, compression,
    tensor list: name, shape, kept count, lo, hi) | per tensor: keep bitmap (1 bit per weight,
    omitted when sparsity = 0) + codes (``bits`` per kept weight) | SHA-256 of all before (32)

Non-float tensors (counters) are stored as float32 codes in the same scheme with ``bits = 32``.

Example:
    >>> import torch
    >>> net = torch.nn.Linear(8, 4)
    >>> pkg = pack_slice(net.state_dict(), kind="demo", name="lin", base_version="v1", config={},
    ...                  bits=8, sparsity=0.5)
    >>> sd, header = unpack_slice(pkg, base_version="v1")
    >>> header["name"], sd["weight"].shape, int((sd["weight"] == 0).sum())
    ('lin', torch.Size([4, 8]), 16)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from typing import Any, Callable

import numpy as np
import torch

from semcom.errors import CheckpointError, ConfigError, InputError

MAGIC = b"SLC1"


class SliceError(CheckpointError):
    """A slice model that cannot be used."""


class SliceCorruptError(SliceError):
    """The package's digest does not match: it was damaged in transit (not used)."""


class SliceVersionError(SliceError):
    """The slice was made for another base-model version (refused)."""


@dataclasses.dataclass(frozen=True)
class SliceRequest:
    """What a receiver sends back when it lacks a slice: its name and the receiver's base version."""

    name: str
    base_version: str


class SliceMissingError(SliceError):
    """The receiver does not hold the slice; ``request`` is the message to send to the sender."""

    def __init__(self, request: SliceRequest) -> None:
        super().__init__(f"slice {request.name!r} is not installed; request it from the sender")
        self.request = request


# --------------------------------------------------------------------------- compression
def prune(t: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Zero the ``round(sparsity * n)`` smallest-magnitude entries of ``t`` (keep mask, bool)."""
    n = t.numel()
    k = int(round(sparsity * n))
    if k <= 0:
        return torch.ones_like(t, dtype=torch.bool)
    thr = t.abs().flatten().kthvalue(k).values
    keep = t.abs() > thr
    extra = int(keep.sum()) - (n - k)          # ties at the threshold: keep exactly n - k
    if extra < 0:
        ties = ((t.abs() == thr) & ~keep).flatten().nonzero().flatten()[: -extra]
        keep.view(-1)[ties] = True
    return keep


def _quantise(v: np.ndarray, bits: int) -> tuple[np.ndarray, float, float]:
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    levels = (1 << bits) - 1
    scale = (hi - lo) / levels if hi > lo else 1.0
    codes = np.clip(np.round((v - lo) / scale), 0, levels).astype(np.uint64)
    return codes, lo, scale


def _pack_codes(codes: np.ndarray, bits: int) -> bytes:
    if not codes.size:
        return b""
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    b = ((codes[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    return np.packbits(b.reshape(-1)).tobytes()


def _unpack_codes(data: bytes, count: int, bits: int) -> np.ndarray:
    b = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * bits].reshape(count, bits).astype(np.uint64)
    return (b << np.arange(bits - 1, -1, -1, dtype=np.uint64)).sum(axis=1)


def pack_slice(state_dict: dict[str, torch.Tensor], *, kind: str, name: str, base_version: str, config: dict,
               bits: int = 8, sparsity: float = 0.0) -> bytes:
    """Compress and serialise a slice model's weights (see the module docstring)."""
    if not 2 <= int(bits) <= 24:
        raise ConfigError(f"bits must be in [2, 24], got {bits}")
    if not 0.0 <= float(sparsity) < 1.0:
        raise ConfigError(f"sparsity must be in [0, 1), got {sparsity}")
    tensors, body = [], bytearray()
    for key, t in state_dict.items():
        t = t.detach().float().cpu()
        if not torch.isfinite(t).all():
            raise InputError(f"weight {key} holds NaN or Inf")
        b = int(bits) if t.dim() > 1 or t.numel() > 1 else 24   # scalars (PReLU slopes...) stay precise
        keep = prune(t, sparsity) if sparsity > 0 and t.dim() > 1 else torch.ones_like(t, dtype=torch.bool)
        vals = t[keep].numpy().astype(np.float64)
        codes, lo, scale = _quantise(vals, b)
        if sparsity > 0:
            body += np.packbits(keep.flatten().numpy().astype(np.uint8)).tobytes()
        body += _pack_codes(codes, b)
        tensors.append({"key": key, "shape": list(t.shape), "kept": int(keep.sum()), "lo": lo, "scale": scale,
                        "bits": b})
    header = json.dumps({"kind": kind, "name": name, "base_version": base_version, "config": config,
                         "bits": int(bits), "sparsity": float(sparsity), "tensors": tensors},
                        sort_keys=True).encode()
    pkg = MAGIC + struct.pack(">I", len(header)) + header + bytes(body)
    return pkg + hashlib.sha256(pkg).digest()


def read_header(package: bytes) -> dict:
    """The verified header of a package (digest checked first): SliceCorruptError when damaged."""
    if not isinstance(package, (bytes, bytearray)) or len(package) < len(MAGIC) + 4 + 32:
        raise SliceCorruptError("slice package too short")
    package = bytes(package)
    if hashlib.sha256(package[:-32]).digest() != package[-32:]:
        raise SliceCorruptError("slice package digest mismatch (damaged in transit); not used")
    if package[:4] != MAGIC:
        raise SliceCorruptError("not a slice package")
    (n,) = struct.unpack(">I", package[4:8])
    try:
        header = json.loads(package[8:8 + n])
    except ValueError:
        raise SliceCorruptError("slice header is not JSON") from None
    header["_body"] = 8 + n
    return header


def unpack_slice(package: bytes, *, base_version: str) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict, header) of a package for this receiver's ``base_version``.

    Raises SliceCorruptError (digest), SliceVersionError (made for another base model).
    """
    header = read_header(package)
    if header.get("base_version") != base_version:
        raise SliceVersionError(f"slice {header.get('name')!r} is for base model {str(header.get('base_version'))[:12]}..., "
                                f"this receiver has {base_version[:12]}...; refused")
    body, pos, sd = bytes(package)[header["_body"]:-32], 0, {}
    sparse = header["sparsity"] > 0
    try:
        for t in header["tensors"]:
            n = int(np.prod(t["shape"])) if t["shape"] else 1
            if sparse:
                nb = (n + 7) // 8
                keep = np.unpackbits(np.frombuffer(body[pos:pos + nb], dtype=np.uint8))[:n].astype(bool)
                pos += nb
            else:
                keep = np.ones(n, dtype=bool)
            nb = (t["kept"] * t["bits"] + 7) // 8
            codes = _unpack_codes(body[pos:pos + nb], t["kept"], t["bits"])
            pos += nb
            vals = np.zeros(n, dtype=np.float32)
            vals[keep] = (t["lo"] + codes.astype(np.float64) * t["scale"]).astype(np.float32)
            sd[t["key"]] = torch.from_numpy(vals).reshape(t["shape"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SliceCorruptError(f"slice body inconsistent with its header: {exc}") from None
    return sd, {k: v for k, v in header.items() if k != "_body"}


# --------------------------------------------------------------------------- over the link
def bytes_to_bits(data: bytes) -> torch.Tensor:
    return torch.from_numpy(np.unpackbits(np.frombuffer(data, dtype=np.uint8)).astype(np.float32))


def bits_to_bytes(bits: torch.Tensor) -> bytes:
    return np.packbits(bits.detach().cpu().numpy().round().astype(np.uint8)).tobytes()


@dataclasses.dataclass
class Delivery:
    """One package sent over a link: the received bytes, bits sent, channel uses, code blocks failed."""

    received: bytes
    bits: int
    channel_uses: int
    cb_failed: int


def send_over_link(package: bytes, link, snr_db: float, *, generator: Any = 0) -> Delivery:
    """Send a package through ``link.transmit`` (any semcom link) and return what arrived.

    The received bytes are the link's output bits (never the sender's copy).
    """
    bits = bytes_to_bits(package)
    res = link.transmit(bits, snr_db, generator=generator)
    return Delivery(bits_to_bytes(res.bits), int(bits.numel()), int(res.channel_uses),
                    int((~res.cb_ok).sum()))


class SliceServer:
    """Sender side: packages slice models for one base version and answers requests."""

    def __init__(self, base_version: str) -> None:
        self.base_version = base_version
        self.packages: dict[str, bytes] = {}

    def add(self, name: str, module: torch.nn.Module, kind: str, config: dict, bits: int = 8,
            sparsity: float = 0.0) -> bytes:
        pkg = pack_slice(module.state_dict(), kind=kind, name=name, base_version=self.base_version,
                         config=config, bits=bits, sparsity=sparsity)
        self.packages[name] = pkg
        return pkg

    def serve(self, request: SliceRequest) -> bytes:
        if not isinstance(request, SliceRequest):
            raise InputError("serve takes a SliceRequest")
        if request.base_version != self.base_version:
            raise SliceVersionError(f"request for base {request.base_version[:12]}..., "
                                    f"this sender serves {self.base_version[:12]}...")
        if request.name not in self.packages:
            raise SliceMissingError(request)
        return self.packages[request.name]


class SliceReceiver:
    """Receiver side: installs verified packages, rebuilds modules by kind, and asks for what it lacks.

    ``builders`` maps a package ``kind`` to ``config -> nn.Module``.
    """

    def __init__(self, base_version: str, builders: dict[str, Callable[[dict], torch.nn.Module]]) -> None:
        self.base_version = base_version
        self.builders = dict(builders)
        self.installed: dict[str, torch.nn.Module] = {}
        self.log: list[dict] = []

    def receive(self, package: bytes) -> str:
        """Verify, rebuild and install a package; returns the slice name (errors: see module doc)."""
        try:
            sd, header = unpack_slice(package, base_version=self.base_version)
        except SliceError as exc:
            self.log.append({"event": "refused", "reason": type(exc).__name__})
            raise
        build = self.builders.get(header["kind"])
        if build is None:
            raise SliceError(f"no builder for slice kind {header['kind']!r}")
        module = build(header["config"])
        try:
            module.load_state_dict(sd)
        except RuntimeError as exc:
            raise SliceError(f"slice {header['name']!r} does not fit its declared config: {exc}") from None
        module.eval()
        self.installed[header["name"]] = module
        self.log.append({"event": "installed", "name": header["name"], "bytes": len(package)})
        return header["name"]

    def get(self, name: str) -> torch.nn.Module:
        """The installed slice, or SliceMissingError carrying the request to send."""
        if name not in self.installed:
            raise SliceMissingError(SliceRequest(name, self.base_version))
        return self.installed[name]


__all__ = ["pack_slice", "unpack_slice", "read_header", "prune", "SliceServer", "SliceReceiver", "SliceRequest",
           "SliceError", "SliceCorruptError", "SliceVersionError", "SliceMissingError", "send_over_link",
           "Delivery", "bytes_to_bits", "bits_to_bytes"]
