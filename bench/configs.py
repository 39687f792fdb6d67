"""config.toml text for benchmarks and tests that build files of several pipelines."""

from __future__ import annotations

import re


def as_pipeline(text: str, name: str, sections: tuple[str, ...]) -> str:
    """The tables of config.toml ``text`` under these top-level ``sections`` as
    ``[pipelines.NAME.…]`` tables: a pipeline's own sections, for a file of several."""
    out, keep = [], False
    for line in text.splitlines():
        header = re.match(r"^(\[\[?)([A-Za-z_.]+)(\]\]?)(.*)$", line)
        if header:
            keep = header.group(2).split(".")[0] in sections
            if keep:
                line = (f"{header.group(1)}pipelines.{name}.{header.group(2)}"
                        f"{header.group(3)}{header.group(4)}")
        if keep:
            out.append(line)
    return "\n".join(out) + "\n"
