"""Helpers shared by experiment scripts: run folders, tables, seeding."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def write_table(frame: pd.DataFrame, out_dir: Path, stem: str, title: str, floatfmt: str = ".3f") -> str:
    """Write ``stem.csv`` and ``stem.md`` into ``out_dir``; return the Markdown table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out_dir / f"{stem}.csv", index=False)
    markdown = f"### {title}\n\n" + markdown_table(frame, floatfmt) + "\n"
    (out_dir / f"{stem}.md").write_text(markdown)
    return markdown


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub Markdown table (no dependency on ``tabulate``)."""
    def cell(value) -> str:
        return format(value, floatfmt) if isinstance(value, float) else str(value)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def parse_overrides(items: list[str], flag: str = "--set") -> dict:
    """``["w_bits=2", "reward=crop_psnr_gain"]`` -> ``{"w_bits": 2, "reward": "crop_psnr_gain"}`` (values read as
    YAML scalars: numbers, booleans, null, lists; ``1e-3`` is read as the number 0.001, which YAML 1.1 would leave
    a string); the caller's validation reports bad keys and values. ``flag`` names the option in errors."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"{flag} must look like KEY=VALUE, got '{item}'")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):
            try:
                parsed = float(parsed) if any(c in parsed for c in ".eE") else int(parsed)
            except ValueError:
                pass
        overrides[key] = parsed
    return overrides
