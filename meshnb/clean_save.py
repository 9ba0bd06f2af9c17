"""``meshnb lab`` saves the shipped notebooks as they are shipped: without outputs.

JupyterLab saves an open notebook every two minutes (autosave) and on Ctrl+S, outputs and widget state
included, so a person who only ran ``notebooks/00-triage.ipynb`` would find it changed in ``git
status``, with whatever the run showed written into a tracked file. :func:`strip_shipped` is the Jupyter
server's pre-save hook that ``meshnb lab`` installs: for the shipped notebooks (``notebooks/NN-*.ipynb``
under the server's root) it drops what a run adds (outputs, execution counts, widget state, the kernel's
language details) before the file is written. The notebook on screen keeps its outputs; to keep a run,
save a copy under another name (File > Save Notebook As), which is saved whole. What the panels save
goes to ``meshnb-files/`` (:data:`meshnb.files.SAVE_DIR`).

>>> model = {"type": "notebook", "content": {"metadata": {"widgets": {}, "language_info": {"name": "python",
...     "version": "3.11.2"}}, "cells": [{"cell_type": "code", "execution_count": 3, "metadata": {},
...     "outputs": [{"output_type": "stream", "name": "stdout", "text": "hi"}], "source": "print('hi')"}]}}
>>> strip_shipped(model, "notebooks/00-triage.ipynb")
>>> model["content"]["metadata"], model["content"]["cells"][0]["outputs"]
({'language_info': {'name': 'python'}}, [])
"""

from __future__ import annotations

import logging
import re
from typing import Any

__all__ = ["HOOK", "is_shipped", "strip_shipped"]

log = logging.getLogger("meshnb")

#: The import path ``--FileContentsManager.pre_save_hook=`` is given.
HOOK = f"{__name__}.strip_shipped"
_SHIPPED = re.compile(r"^/?notebooks/\d\d-[\w.-]+\.ipynb$")
#: Cell metadata a run adds: JupyterLab's timings, and scrolling and collapsing of outputs.
_RUN_CELL_METADATA = ("execution", "scrolled", "collapsed")


def is_shipped(path: str) -> bool:
    """Whether ``path`` (relative to the server's root) is one of meshnb's own notebooks.

    >>> is_shipped("notebooks/03-locality.ipynb"), is_shipped("notebooks/my-incident.ipynb")
    (True, False)
    """
    return bool(_SHIPPED.match(path))


def strip_shipped(model: dict[str, Any], path: str, **_kwargs: Any) -> None:
    """A Jupyter pre-save hook: a shipped notebook loses what running it added; other files are kept."""
    if model.get("type") != "notebook" or not is_shipped(path) or not isinstance(model.get("content"), dict):
        return
    notebook = model["content"]
    metadata = notebook.setdefault("metadata", {})
    metadata.pop("widgets", None)
    if isinstance(metadata.get("language_info"), dict):
        metadata["language_info"] = {"name": metadata["language_info"].get("name", "python")}
    for cell in notebook.get("cells", []):
        for key in _RUN_CELL_METADATA:
            cell.get("metadata", {}).pop(key, None)
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    log.debug("saved %s without its outputs", path)
