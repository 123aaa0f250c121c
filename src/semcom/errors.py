"""Typed errors raised by semcom. Every bad input ends in one of these, never a crash or a hang."""


class SemcomError(Exception):
    """Base class of all semcom errors."""


class InputError(SemcomError, ValueError):
    """An argument has the wrong shape, dtype, range, or holds NaN/Inf."""


class ConfigError(SemcomError, ValueError):
    """A configuration has an unknown key, a missing key or a value of the wrong type."""


class CodecError(SemcomError):
    """A classical codec could not encode, or could not decode a (corrupt or truncated) stream."""


class LinkError(SemcomError, ValueError):
    """The digital link was configured or called inconsistently (unsupported MCS, bad payload...)."""


class CheckpointError(SemcomError, ValueError):
    """A checkpoint or its metadata is corrupt, truncated, tampered with (SHA-256 mismatch), or needs
    code execution to load (anything ``torch.load(..., weights_only=True)`` refuses)."""
