#!/usr/bin/env python3
"""Entry point: `python manager.py --help`. Everything lives in bilbycast.cli."""

import sys

from bilbycast.cli import main

if __name__ == "__main__":
    sys.exit(main())
