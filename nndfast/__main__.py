"""``python -m nndfast``: the same as the ``nndfast`` command (see nndfast.cli)."""
import sys

from nndfast.cli import main

if __name__ == "__main__":
    sys.exit(main())
