#!/usr/bin/env python3
"""Issue 17's quality table: the perplexity of each weight format against f16, from the reports of
`tknp bench perplexity` (tools/gpu_host_run.sh, stage quant-quality).

    python3 tools/quality_table.py --dir OUT [--formats "none int8 int4 w8a8"] [--meta bench/data/heldout_default.json]

Reads OUT/ppl_<format>.json (the report of `tknp bench perplexity --json`); where a format has none,
the last error line of OUT/ppl_<format>.log (e.g. a format this build does not support yet) goes into
its row instead. 'none' is the checkpoint's f16 weights, the reference of the Δ column; --meta adds
the transformers float32 loss of the same stream (tools/dump_heldout.py). Prints Markdown; needs only
the Python standard library. Exit status 0 whenever the table could be written.
"""
import argparse
import json
import math
import os
import re

# Perplexity increase allowed over f16, in percent (issue 17, item 3); formats without one: none set.
TARGETS = {"int8": 1.0, "int4": 5.0}
ERROR = re.compile(r"(Error\b|error:|Unknown argument|refused|not supported)", re.I)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", required=True, help="folder with ppl_<format>.json / ppl_<format>.log")
    p.add_argument("--formats", default="none int8 int4 w8a8", help="formats in table order, space-separated")
    p.add_argument("--meta", help="heldout_default.json of tools/dump_heldout.py (adds the float32 reference row)")
    return p.parse_args()


def error_line(log_path: str) -> str:
    """The last line of a failed run's log that names an error (else its last non-empty line)."""
    if not os.path.exists(log_path):
        return f"no report and no log ({os.path.basename(log_path)})"
    lines = [l.strip() for l in open(log_path, encoding="utf-8", errors="replace") if l.strip()]
    if not lines:
        return f"no report; {os.path.basename(log_path)} is empty"
    errors = [l for l in lines if ERROR.search(l)]
    return (errors or lines)[-1]


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")[:300]


def label(fmt: str) -> str:
    return "f16 (none)" if fmt == "none" else fmt


def table(directory: str, formats: list, meta: dict = None) -> str:
    reports = {}
    for fmt in formats:
        path = os.path.join(directory, f"ppl_{fmt}.json")
        if os.path.exists(path):
            reports[fmt] = json.load(open(path))
    ref = reports.get("none")
    first = next(iter(reports.values()), None)
    lines = ["## Quality: perplexity by weight format", ""]
    if first:
        lines.append(f"`tknp bench perplexity` on {first['source']}: {first['windows']} windows × {first['window']} = "
                     f"{first['tokens']} predicted tokens, model {first['model']}.")
        lines.append("")
    lines += ["| format | mean NLL | perplexity | Δ perplexity vs f16 | target | |", "|---|---|---|---|---|---|"]
    if meta:
        # The float32 loss of the same windows the runs evaluated (a --max-windows run covers the first N).
        n = first["windows"] if first else len(meta.get("windowLosses", []))
        losses = meta.get("windowLosses", [])[:n]
        loss = sum(losses) / len(losses) if losses and len(losses) == n else meta["referenceLoss"]
        what = f"first {n} windows" if losses and n < len(meta.get("windowLosses", [])) else "all windows"
        lines.append(f"| transformers float32 (reference, {what}) | {loss:.4f} | {math.exp(loss):.3f} | | | |")
    for fmt in formats:
        target = TARGETS.get(fmt)
        target_cell = f"≤ +{target:g} %" if target is not None else ""
        r = reports.get(fmt)
        if r is None:
            lines.append(f"| {label(fmt)} | {cell(error_line(os.path.join(directory, f'ppl_{fmt}.log')))} | | | {target_cell} | not run |")
            continue
        if ref is None or fmt == "none":
            delta, verdict = "", "reference" if fmt == "none" else "no f16 run to compare"
        else:
            d = (r["perplexity"] - ref["perplexity"]) / ref["perplexity"] * 100
            delta = f"{d:+.2f} %"
            verdict = "" if target is None else ("met" if d <= target else "MISSED")
        lines.append(f"| {label(fmt)} | {r['meanNll']:.4f} | {r['perplexity']:.3f} | {delta} | {target_cell} | {verdict} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    meta = json.load(open(args.meta)) if args.meta and os.path.exists(args.meta) else None
    print(table(args.dir, args.formats.split(), meta), end="")


if __name__ == "__main__":
    main()
