"""What benchmarks and tests share to set up a run: config.toml text for a file of
several pipelines, and a free local port."""

from __future__ import annotations

import re
import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (for a server the run starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
