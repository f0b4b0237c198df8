"""Briefer tests: make ``import voice`` find the real package, not the tests/voice folder.

tests/conftest.py puts tests/ on sys.path, where tests/voice (no ``__init__``) shadows the real
``voice`` package as a namespace package when pytest is started as ``pytest`` rather than
``python -m pytest``; these tests are collected before tests/voice, so they would cache the shadow
for everyone.  Put the repository root first and drop a shadow that may already be cached (the same
fix tests/node/conftest.py applies for ``node``).
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if sys.path[0] != _ROOT:
    sys.path.insert(0, _ROOT)
if "voice" in sys.modules and getattr(sys.modules["voice"], "__file__", None) is None:
    del sys.modules["voice"]
