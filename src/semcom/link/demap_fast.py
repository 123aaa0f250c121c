"""Fast demapping of Gray-labelled square QAM (QPSK to 4096-QAM): exact max-log, and exact APP (:func:`demap_qam_app`).

A square QAM point is a pair of Gray-labelled PAM amplitudes (3GPP TS 38.211, Sec. 5.1), so
``|y - c|^2 = (Re y - c_I)^2 + (Im y - c_Q)^2`` and the max-log LLR of a bit carried by the
in-phase amplitude depends on ``Re y`` only:

.. code-block:: text

    LLR_b = ( min_{c_I : bit b = 0} (Re y - c_I)^2  -  min_{c_I : bit b = 1} (Re y - c_I)^2 ) / no

(likewise for quadrature bits with ``Im y``). This replaces Sionna's search over all ``2^m``
points per symbol by two searches over ``2^(m/2)`` amplitudes; QPSK reduces to
``LLR = -2 sqrt(2) Re(y) / no`` (and ``Im``). The result equals
``sionna.phy.mapping.Demapper("maxlog", "qam", m)(y, no)`` exactly (up to float32 rounding):

- the labelling is Sionna's ``Constellation("qam", m)``: symbol bits ``0, 2, 4, ...`` select the
  in-phase Gray PAM amplitude, bits ``1, 3, 5, ...`` the quadrature one; unit average energy;
- the sign convention is Sionna's: LLRs are logits ``log p(b=1)/p(b=0)`` (positive means 1).

Example:
    >>> import torch
    >>> from semcom.link.demap_fast import demap_qam_maxlog
    >>> y = torch.tensor([[0.7 + 0.7j, -0.7 - 0.7j]])
    >>> demap_qam_maxlog(y, 0.5, 2)
    tensor([[-3.9598, -3.9598,  3.9598,  3.9598]])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from semcom.errors import InputError
from semcom.link import _chain_kernels as _k

__all__ = ["demap_qam_app", "demap_qam_maxlog", "qam_pam_levels"]


def qam_pam_levels(num_bits_per_symbol: int) -> tuple[np.ndarray, np.ndarray]:
    """The per-dimension Gray PAM of square QAM with ``num_bits_per_symbol`` bits, unit energy.

    Returns ``(levels [M], labels [M, m/2])`` with ``M = 2**(m/2)``: ``levels[q]`` is the
    amplitude whose dimension bits (most significant first) are ``labels[q]``; the amplitude
    follows TS 38.211 Sec. 5.1: ``(1 - 2 b_0) (2^(j-1) - (1 - 2 b_1) (2^(j-2) - ...))`` scaled
    so that the QAM constellation has unit average energy.

    Example:
        >>> lv, lb = qam_pam_levels(4)
        >>> [round(float(v) * 10 ** 0.5) for v in lv], lb.tolist()
        ([1, 3, -1, -3], [[0, 0], [0, 1], [1, 0], [1, 1]])
    """
    m = _check_bits(num_bits_per_symbol)
    nb = m // 2
    M = 2**nb
    labels = ((np.arange(M)[:, None] >> np.arange(nb - 1, -1, -1)[None, :]) & 1).astype(np.uint8)
    levels = np.zeros(M, dtype=np.float64)
    for q in range(M):
        val = 1.0
        # fold from the least significant bit up: v <- (1 - 2b) * (2^(depth) - v)
        for depth, b in enumerate(labels[q][::-1]):
            val = (1 - 2 * int(b)) * (val if depth == 0 else (2**depth - val))
        levels[q] = val
    # average energy of the QAM: 2 * mean of odd squares 1, 9, ..., (M-1)^2
    energy = 2.0 * np.mean(np.arange(1, M, 2, dtype=np.float64) ** 2)
    return (levels / math.sqrt(energy)).astype(np.float32), labels


def demap_qam_maxlog(y: Any, no: Any, num_bits_per_symbol: int) -> torch.Tensor:
    """Max-log LLRs of Gray square QAM symbols, bit-for-bit the layout of Sionna's ``Demapper``.

    Args:
        y: received symbols ``[..., n]`` complex (torch tensor or numpy array).
        no: noise variance per complex symbol (``10**(-snr_db/10)`` at unit symbol energy), a
            positive scalar or a tensor broadcastable to ``y`` (e.g. ``no / |h|^2`` per symbol
            after equalising a fading channel).
        num_bits_per_symbol: ``m``, even, 2 (QPSK) to 12 (4096-QAM).

    Returns:
        ``[..., n * m]`` float32 LLRs ``log p(b=1)/p(b=0)``, symbol ``j``'s bits at
        ``j*m : (j+1)*m``, on ``y``'s device.

    Raises:
        InputError: ``y`` not complex, ``no`` not positive/finite/broadcastable, NaN/Inf in
            ``y``, or an unsupported ``num_bits_per_symbol``.
    """
    return _demap(y, no, num_bits_per_symbol, app=False)


def demap_qam_app(y: Any, no: Any, num_bits_per_symbol: int) -> torch.Tensor:
    """Exact APP LLRs ``log p(b=1|y)/p(b=0|y)`` of Gray square QAM, equal to Sionna's
    ``Demapper("app", "qam", m)`` up to float32 rounding; arguments, layout and errors as
    :func:`demap_qam_maxlog`.

    Square QAM is a product of two Gray PAMs (symbol bits 0, 2, ... on the in-phase amplitude,
    1, 3, ... on the quadrature one), so the likelihood factorises and each bit's LLR is a
    log-sum-exp over the ``2^(m/2)`` amplitudes of its own dimension instead of all ``2^m`` points.
    """
    return _demap(y, no, num_bits_per_symbol, app=True)


def _demap(y: Any, no: Any, num_bits_per_symbol: int, app: bool) -> torch.Tensor:
    """The checks and the kernel call of both demappers (``app``: exact APP, else max-log)."""
    m = _check_bits(num_bits_per_symbol)
    if isinstance(y, np.ndarray):
        y = torch.from_numpy(y)
    if not isinstance(y, torch.Tensor):
        raise InputError(f"y must be a complex torch.Tensor or numpy array, got {type(y).__name__}")
    if not y.is_complex():
        raise InputError(f"y must be complex, got {y.dtype}")
    if y.dim() < 1:
        raise InputError("y must have at least one dimension [..., n]")
    device = y.device
    yc = y.detach().to("cpu", torch.complex64)
    shape = tuple(yc.shape)
    no_t = _noise(no, yc.shape)
    yv = np.ascontiguousarray(yc.reshape(-1).numpy())
    if not np.isfinite(yv).all():
        raise InputError("y contains NaN or Inf")
    inv_no = np.ascontiguousarray((1.0 / no_t).expand(shape).reshape(-1).numpy(), dtype=np.float32)
    levels, labels = qam_pam_levels(m)
    out = np.empty((yv.shape[0], m), dtype=np.float32)
    if yv.shape[0]:
        _k.run_rows(_k.demap_symbols, yv.shape[0], _k.default_threads() if yv.shape[0] >= 65536 else 1,
                    lambda a, b: (yv[a:b], inv_no[a:b], levels, labels, m // 2, app, out[a:b]))
    return torch.from_numpy(out).reshape(shape[:-1] + (shape[-1] * m,)).to(device)


def _check_bits(num_bits_per_symbol: Any) -> int:
    if isinstance(num_bits_per_symbol, bool) or not isinstance(num_bits_per_symbol, (int, np.integer)):
        raise InputError(f"num_bits_per_symbol must be an int, got {num_bits_per_symbol!r}")
    m = int(num_bits_per_symbol)
    if m < 2 or m > 12 or m % 2:
        raise InputError(f"num_bits_per_symbol must be even, 2..12 (square QAM), got {m}")
    return m


def _noise(no: Any, shape: torch.Size) -> torch.Tensor:
    """``no`` as a float32 CPU tensor broadcastable to ``shape``, checked positive and finite."""
    if isinstance(no, np.ndarray):
        no = torch.from_numpy(no)
    if isinstance(no, torch.Tensor):
        if no.is_complex():
            raise InputError("no must be real")
        no_t = no.detach().to("cpu", torch.float32)
    elif isinstance(no, (int, float, np.integer, np.floating)) and not isinstance(no, bool):
        no_t = torch.tensor(float(no), dtype=torch.float32)
    else:
        raise InputError(f"no must be a positive number or tensor, got {type(no).__name__}")
    if not bool(torch.isfinite(no_t).all()) or not bool((no_t > 0).all()):
        raise InputError("no must be positive and finite")
    try:
        torch.broadcast_shapes(no_t.shape, shape)
    except RuntimeError:
        raise InputError(f"no of shape {tuple(no_t.shape)} does not broadcast to y's shape {tuple(shape)}") from None
    if torch.broadcast_shapes(no_t.shape, shape) != shape:
        raise InputError(f"no of shape {tuple(no_t.shape)} would enlarge y's shape {tuple(shape)}")
    return no_t
