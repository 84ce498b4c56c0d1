"""Results a notebook's full run publishes next to its figures, as JSON (the README tables read them)."""
from __future__ import annotations

import json

from . import runtime


def save(name: str, results: dict):
    """Write ``results`` to ``figures/<name>.json`` (a temporary folder in quick mode); return the path."""
    path = runtime.output_dir() / f"{name}.json"
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return path
