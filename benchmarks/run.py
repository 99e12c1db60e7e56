"""Run every benchmark (``make bench``) and write ``benchmarks/results.json``.

Each figure's script runs in its own process (so one's imports, threads and
memory never colour another's), prints its figures with their targets, and
hands its results back as JSON. This script prints the summary table (figure,
value, baseline, ratio, target, met) and the total wall time.

``--quick`` runs smaller sizes (a smoke run, not for publishing); ``--only
NAME`` runs some scripts (``tick``, ``webhook``, ``cold_start``,
``dev_throughput``, ``gen_infra``, ``memory``, ``dashboard``); ``--markdown``
prints the table of an existing results file for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _common import PYTHON, ROOT, child_env, fmt, machine

BENCHMARKS = ("tick", "webhook", "cold_start", "dev_throughput", "gen_infra", "memory",
              "dashboard")
RESULTS = ROOT / "benchmarks" / "results.json"
TIMEOUT_S = 300


def run_one(name: str, quick: bool, workdir: Path) -> dict[str, Any]:
    out = workdir / f"{name}.json"
    command = [PYTHON, str(ROOT / "benchmarks" / f"bench_{name}.py"), "--json", str(out)]
    if quick:
        command.append("--quick")
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=child_env(), timeout=TIMEOUT_S, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode != 0 or not out.exists():
        print(f"!! bench_{name}.py failed (exit {done.returncode})", file=sys.stderr)
        return {"benchmark": name, "error": f"exit {done.returncode}", "seconds": elapsed}
    result: dict[str, Any] = json.loads(out.read_text())
    result["seconds"] = elapsed
    return result


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [f"{'figure':<58} {'zenjobs':>14} {'baseline':>14} {'ratio':>8}  target / met"]
    for result in results:
        for fig in result.get("figures", []):
            verdict = {True: "MET", False: "NOT MET", None: "info"}[fig["met"]]
            base = "" if fig["baseline"] is None else fmt(fig["baseline"])
            ratio = "" if fig["ratio"] is None else f"{fig['ratio']:.3f}"
            lines.append(f"{fig['title'][:58]:<58} {fmt(fig['value']) + ' ' + fig['unit']:>14} "
                         f"{base:>14} {ratio:>8}  {fig['target']}: {verdict}")
        if "error" in result:
            lines.append(f"{result['benchmark']:<58} FAILED ({result['error']})")
    return lines


def markdown(results: list[dict[str, Any]]) -> list[str]:
    """The table docs/performance.md shows (``run.py --markdown`` prints it from results.json)."""
    lines = ["| # | figure | zenjobs | baseline | ratio | target | met |",
             "|---|---|---:|---:|---:|---|---|"]
    for result in results:
        number = result["benchmark"].split(".", 1)[0]
        for fig in result.get("figures", []):
            verdict = {True: "**met**", False: "**not met**", None: "info"}[fig["met"]]
            base = "" if fig["baseline"] is None else f"{fmt(fig['baseline'])} {fig['unit']}"
            if fig["baseline_label"]:
                base += f" ({fig['baseline_label']})"
            ratio = "" if fig["ratio"] is None else f"{fig['ratio']:.2f}"
            lines.append(f"| {number} | {fig['title']} | {fmt(fig['value'])} {fig['unit']} | "
                         f"{base} | {ratio} | {fig['target']} | {verdict} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", choices=BENCHMARKS)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write results (default {RESULTS.name} for a full, "
                             "non-quick run; partial runs write only when asked)")
    parser.add_argument("--markdown", action="store_true",
                        help="print the Markdown table of --out and exit (runs nothing)")
    args = parser.parse_args()
    if args.markdown:
        print("\n".join(markdown(json.loads((args.out or RESULTS).read_text())["results"])))
        return
    # Only a full run may replace the published figures by default.
    out = args.out if args.out is not None else (
        RESULTS if not args.only and not args.quick else None)
    names = args.only or list(BENCHMARKS)
    began = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="zenjobs-bench-") as tmp:
        for name in names:
            results.append(run_one(name, args.quick, Path(tmp)))
            print(flush=True)
    total = time.perf_counter() - began
    document = {
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": args.quick,
        "machine": machine(),
        "total_seconds": total,
        "results": results,
    }
    if out is not None:
        out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    print("== summary")
    for line in table(results):
        print(line)
    info = document["machine"]
    print(f"machine: {info['nproc']} cores, {info['cpu_model']}, Python {info['python']}")
    print(f"total: {total:.1f} s; " + (f"results in {out}" if out else "results not written"))
    if any("error" in r for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
