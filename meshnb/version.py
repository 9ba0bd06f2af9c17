"""meshnb's version, as the installed package's metadata says (``pyproject.toml`` sets it).

>>> __version__.count(".") >= 1
True
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("meshnb")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"
