"""Built-in systems of the bench, registered on import (see :mod:`semcom.systems`)."""
