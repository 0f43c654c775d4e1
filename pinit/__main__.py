"""`python -m pinit`: see pinit.share.cli (and `python -m pinit --help`)."""

import sys

from .share.cli import main

if __name__ == "__main__":
    sys.exit(main())
