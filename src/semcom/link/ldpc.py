"""LDPC decoder selection for the bit-true link.

``make_ldpc_decoder(kind, ldpc_encoder, num_iter)`` returns a callable with the call convention of
Sionna's ``LDPC5GDecoder(encoder, hard_out=True, return_infobits=True)``: channel LLRs
``[..., n]`` (Sionna's sign convention: ``llr = log p(b=1) / p(b=0)``, positive means bit 1) of
the rate-matched codeword, ``n = ldpc_encoder.n`` (the decoder restores the punctured and
shortened positions itself) -> hard info bits ``[..., k]`` (float 0/1), ``k = ldpc_encoder.k``.

* ``"sionna"``: Sionna's flooding belief-propagation decoder (``boxplus-phi`` check-node update),
  the reference and the default.
* ``"fast"``: ``semcom.link.ldpc_fast.FastLDPC5GDecoder`` (imported lazily; a
  :class:`~semcom.errors.LinkError` explains when that module is not available).

Example::

    >>> from sionna.phy.fec.ldpc import LDPC5GEncoder
    >>> enc = LDPC5GEncoder(100, 200, num_bits_per_symbol=1)
    >>> dec = make_ldpc_decoder("sionna", enc, num_iter=10)
    >>> import torch
    >>> u = torch.randint(0, 2, (3, 100)).float()
    >>> bool((dec(20.0 * (2 * enc(u) - 1)) == u).all())  # rate-matched LLRs of length 200
    True
"""

from __future__ import annotations

from typing import Any, Callable

from semcom.errors import LinkError

__all__ = ["make_ldpc_decoder", "DECODERS"]

DECODERS = ("sionna", "fast")


def make_ldpc_decoder(kind: str, ldpc_encoder: Any, num_iter: int = 20, **kw: Any) -> Callable:
    """A hard-output 5G LDPC decoder for ``ldpc_encoder`` (see the module docstring).

    Args:
        kind: ``"sionna"`` or ``"fast"``.
        ldpc_encoder: a ``sionna.phy.fec.ldpc.LDPC5GEncoder``; ``"fast"`` also takes a
            :class:`semcom.link.ldpc_fast.LDPCCode` (rates below 1/5, bit repetition).
        num_iter: belief-propagation iterations.
        **kw: passed on to the decoder class.

    Raises:
        LinkError: unknown ``kind``, bad ``num_iter``, the fast decoder is not available, or
            ``"sionna"`` for an ``LDPCCode``.
    """
    if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 1:
        raise LinkError(f"num_iter must be a positive int, got {num_iter!r}")
    if kind == "sionna":
        from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

        if not isinstance(ldpc_encoder, LDPC5GEncoder):
            raise LinkError(f"decoder='sionna' needs a Sionna LDPC5GEncoder, got {type(ldpc_encoder).__name__} (a code "
                            "block below the rates Sionna's encoder takes, sent by bit repetition): use decoder='fast'")

        return LDPC5GDecoder(ldpc_encoder, hard_out=True, return_infobits=True, num_iter=num_iter, **kw)
    if kind == "fast":
        try:
            import importlib

            ldpc_fast = importlib.import_module("semcom.link.ldpc_fast")  # optional, imported lazily
        except ImportError as exc:
            raise LinkError(
                "decoder='fast' needs semcom.link.ldpc_fast (FastLDPC5GDecoder), which could not be imported: "
                f"{exc}. Use decoder='sionna'."
            ) from exc
        cls = getattr(ldpc_fast, "FastLDPC5GDecoder", None)
        if cls is None:
            raise LinkError("semcom.link.ldpc_fast has no FastLDPC5GDecoder; use decoder='sionna'")
        return cls(ldpc_encoder, num_iter=num_iter, **kw)
    raise LinkError(f"decoder must be one of {DECODERS}, got {kind!r}")
