"""json and yaml from the same plain data (never from the table rows)."""

from __future__ import annotations

from typing import Any


def render_json(obj: Any) -> str:
    """Indented JSON (2 spaces), keys in dump order, ending with a newline."""
    import orjson

    return orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n"


def render_yaml(obj: Any) -> str:
    """Block-style YAML, keys in dump order."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text: str = yaml.dump(
        obj,
        Dumper=dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=10_000,
    )
    return text
