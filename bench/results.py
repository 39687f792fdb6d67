"""Where benchmark figures go: bench/results.json (flat name → number, merged
across benchmarks) and bench/RESULTS.md (one section per benchmark, replaced
when that benchmark runs again). Only figures measured in the run are written."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
JSON_PATH = HERE / "results.json"
MD_PATH = HERE / "RESULTS.md"
HEADER = ("# Benchmark results\n\nWritten by the scripts in `bench/`; each section says the "
          "command that measured it. Figures come from one run on the machine named; "
          "ratios are taken within that run.\n")


def record(section: str, markdown: str, figures: dict[str, float]) -> None:
    data = json.loads(JSON_PATH.read_text()) if JSON_PATH.exists() else {}
    data.update({name: round(value, 3) for name, value in figures.items()})
    JSON_PATH.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")

    text = MD_PATH.read_text() if MD_PATH.exists() else HEADER
    begin, end = f"<!-- {section}: begin -->", f"<!-- {section}: end -->"
    stamp = (f"_Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
             f"Python {platform.python_version()}._\n")
    block = f"{begin}\n{markdown.rstrip()}\n\n{stamp}{end}"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    MD_PATH.write_text(text)


@dataclass
class Measured:
    """One pattern's run: how many leads, API calls counted at the sandbox, seconds."""

    pattern: str
    leads: int
    calls: int
    seconds: float

    @property
    def calls_per_1k(self) -> float:
        return self.calls * 1000 / self.leads

    @property
    def leads_per_s(self) -> float:
        return self.leads / self.seconds

    def row(self) -> str:
        return (f"| {self.pattern} | {self.leads:,} | {self.calls:,} | {self.calls_per_1k:.1f} | "
                f"{self.seconds:.1f} | {self.leads_per_s:,.0f} |")


TABLE_HEAD = ["| pattern | leads | API calls | calls per 1,000 | wall s | leads/s |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
