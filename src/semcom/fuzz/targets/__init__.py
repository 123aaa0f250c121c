"""Fuzz targets, one module per area; importing this package registers them all."""

from . import codecs  # noqa: F401
from . import framing  # noqa: F401
from . import seb  # noqa: F401
from . import stack  # noqa: F401
from . import vlscc  # noqa: F401
from . import checkpoints  # noqa: F401
from . import configs  # noqa: F401
from . import cli  # noqa: F401
