"""``python -m semcom ...``: the ``semcom`` command (what ``torchrun -m semcom train ...`` runs)."""

import sys

from semcom.cli import main

if __name__ == "__main__":
    sys.exit(main())
