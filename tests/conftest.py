"""Shared pytest set-up.

Puts the repository's ``src/`` (the ``polyseg`` package) and ``training/`` (flat modules such as
``datasets`` and ``samples``, which are not installed) at the front of ``sys.path``, so the tests import
them straight from the working tree.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "src", ROOT / "training"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
