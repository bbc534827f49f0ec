"""The real-engine section of REPORT.md, read from the report `make eval` writes.

`make eval` runs every shipped scenario, repeated over the same seeds in every healer mode,
and `lsmedic-bench` computes everything quoted here: per-mode medians with their intervals,
the aggregate score S of every run (bench/src/score.rs, the one implementation) and the
paired differences with their 95 % intervals, per scenario, per family and overall. This
module only lays those numbers out; it computes no score and no interval of its own.

`slim` keeps what the section reads (no timelines, no audit entries), small enough to commit
beside the models so that REPORT.md can be regenerated from the repository alone.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

# The pairs the section shows, in this order, when the report has them.
PAIRS = [("auto", "off"), ("rules", "off"), ("learned", "off"), ("learned", "rules"), ("auto", "rules")]
MODES = ["off", "auto", "rules", "learned"]
FAMILIES = ["config", "latent"]
# Run fields kept by `slim`: what the section reads off runs (the figures are in `summary`).
RUN_FIELDS = ["healer", "seed", "keys_lost", "wrong_values", "learned_departures"]


def slim(report: dict) -> dict:
    """`report` with each run cut down to what the section reads (seed, mode, keys lost,
    wrong values, departures) plus `actions_applied` (the healer's applied actions); the
    per-mode medians and the paired differences are kept whole."""
    out = {k: v for k, v in report.items() if k != "scenarios"}
    out["scenarios"] = []
    for sc in report.get("scenarios", []):
        runs = []
        for r in sc.get("runs", []):
            kept = {k: r.get(k) for k in RUN_FIELDS if k in r}
            kept["actions_applied"] = applied(r)
            runs.append(kept)
        out["scenarios"].append({**{k: v for k, v in sc.items() if k != "runs"}, "runs": runs})
    return out


def num(x: float | None, nd: int = 3, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:+.{nd}f}" if signed else f"{x:.{nd}f}"


def estimate(e: dict | None) -> str:
    """`+0.120 [+0.020, +0.210]`, or the value alone when there is no interval."""
    if not e:
        return "n/a"
    ci = e.get("ci95")
    if not ci:
        return f"{num(e['value'], signed=True)} (n = {e['n']}, no interval)"
    return f"{num(e['value'], signed=True)} [{num(ci[0], signed=True)}, {num(ci[1], signed=True)}]"


def verdict(e: dict | None) -> str:
    """better / worse with 95 % confidence, or no clear difference."""
    ci = (e or {}).get("ci95")
    if not ci:
        return "no interval"
    if ci[0] > 0:
        return "**better**"
    if ci[1] < 0:
        return "**worse**"
    return "no clear difference"


def pair_entry(pairs: list[dict], healer: str, reference: str) -> dict | None:
    """The `difference` estimate of one pair, None when absent."""
    entry = next((p for p in pairs if p["healer"] == healer and p["reference"] == reference), None)
    return None if entry is None else entry.get("difference")


def present_pairs(report: dict) -> list[tuple[str, str]]:
    have = {(p["healer"], p["reference"]) for p in report.get("paired", [])}
    return [p for p in PAIRS if p in have]


def figure(summary: dict, mode: str, name: str, nd: int, scale: float = 1.0) -> str:
    """`median [low, high]` of one figure of one mode, scaled (µs → ms with 1e-3)."""
    fig = summary.get(mode, {}).get("figures", {}).get(name)
    if not fig:
        return "-"
    med = f"{fig['median'] * scale:.{nd}f}"
    ci = fig.get("ci95")
    return med if not ci else f"{med} [{ci[0] * scale:.{nd}f}, {ci[1] * scale:.{nd}f}]"


def facts(report: dict) -> dict[str, Any]:
    """What the rest of REPORT.md quotes from the evaluation: the overall and per-family
    estimates of every pair, per-scenario learned − rules, and the learned runs' departures."""
    out: dict[str, Any] = {"overall": {}, "by_family": {}, "per_scenario": {}, "departures": None}
    for p in report.get("paired", []):
        out["overall"][(p["healer"], p["reference"])] = p.get("difference")
    for fam, pairs in report.get("paired_by_family", {}).items():
        for p in pairs:
            out["by_family"].setdefault(fam, {})[(p["healer"], p["reference"])] = p.get("difference")
    deps = []
    for sc in report.get("scenarios", []):
        for p in sc.get("paired", []):
            out["per_scenario"].setdefault((p["healer"], p["reference"]), {})[sc["name"]] = p.get("difference")
        deps += [r["learned_departures"] for r in sc.get("runs", []) if r.get("learned_departures")]
    if deps:
        out["departures"] = {
            "runs": len(deps),
            "replaced": sum(d.get("replaced", 0) for d in deps),
            "vetoed": sum(d.get("vetoed", 0) for d in deps),
        }
    return out


def section(report: dict, source: str) -> list[str]:
    """The Markdown lines of the real-engine section; `source` (Markdown) says where the
    report was read."""
    scenarios = report.get("scenarios", [])
    repeats = sorted({len(sc.get("seeds", [])) for sc in scenarios})
    modes = [m for m in MODES if any(r["healer"] == m for sc in scenarios for r in sc.get("runs", []))]
    n_runs = sum(len(sc.get("runs", [])) for sc in scenarios)
    pairs = present_pairs(report)
    L = [f"Source: {source}, written by `make eval` (`lsmedic-bench compare <every shipped scenario> "
         f"--repeat R --time-scale {report.get('time_scale')} --cache …`): {len(scenarios)} scenarios × "
         f"{'/'.join(map(str, repeats)) or 0} seeds × {len(modes)} modes ({', '.join(modes)}) = {n_runs} runs, "
         "each on a fresh database; every mode ran the same seeds (same keys, fault onsets and sizes). "
         "S is the aggregate score above, computed by the bench (`bench/src/score.rs`) for each run against the "
         "`off` run of its seed. A paired difference is taken within each seed, then averaged over the seeds, "
         "with a 95 % Student-t interval; over a family or all scenarios it is the mean of the scenario means, "
         "with the Student-t interval over the scenarios (so it counts how much the effect varies from one kind "
         "of trouble to another, not only run-to-run noise). **better** / **worse** = the interval excludes 0.", ""]
    if not scenarios:
        return L + ["The report has no scenarios.", ""]

    fams = [f for f in FAMILIES if f in report.get("paired_by_family", {})]
    counts = {f: sum(1 for sc in scenarios if sc.get("family") == f) for f in fams}
    L += ["### Paired score differences over the scenarios", "",
          "| difference | all scenarios (" + str(len(scenarios)) + ") | "
          + " | ".join(f"{f} family ({counts[f]})" for f in fams) + " |",
          "|---|---|" + "---|" * len(fams)]
    for h, ref in pairs:
        e = pair_entry(report["paired"], h, ref)
        cells = [estimate(e) + " " + verdict(e)]
        for fam in fams:
            e = pair_entry(report["paired_by_family"][fam], h, ref)
            cells.append(estimate(e) + " " + verdict(e))
        L.append(f"| S({h}) − S({ref}) | " + " | ".join(cells) + " |")
    L.append("")

    L += ["### Paired score differences per scenario", "",
          "Mean over the seeds [95 % interval].", "",
          "| scenario | family | seeds | " + " | ".join(f"S({h}) − S({ref})" for h, ref in pairs) + " |",
          "|---|---|---|" + "---|" * len(pairs)]
    for sc in sorted(scenarios, key=lambda s: (s.get("family", ""), s["name"])):
        cells = []
        for h, ref in pairs:
            e = pair_entry(sc.get("paired", []), h, ref)
            v = verdict(e)
            cells.append(estimate(e) + (f" {v}" if v.startswith("**") else ""))
        L.append(f"| {sc['name']} | {sc.get('family', '?')} | {len(sc.get('seeds', []))} | " + " | ".join(cells) + " |")
    L.append("")

    L += ["### Headline figures per scenario and mode", "",
          "Median over the seeds [95 % bootstrap interval of the median; with 3 to 5 seeds about the range of the "
          "runs]. Worst p99 = the worst of the write, read and scan p99; stall = RocksDB write-stall seconds; "
          "resource units = memory and background-job budgets in force, 1.0 = as configured; lost / wrong = keys "
          "lost and wrong values summed over the seeds; actions = healer actions applied per run (median).", "",
          "| scenario | healer | worst p99 ms | throughput ops/s | stall s | resource units | lost / wrong | actions |",
          "|---|---|---|---|---|---|---|---|"]
    for sc in sorted(scenarios, key=lambda s: (s.get("family", ""), s["name"])):
        summ = sc.get("summary", {})
        for mode in modes:
            if mode not in summ:
                continue
            runs = [r for r in sc.get("runs", []) if r["healer"] == mode]
            lost = sum(r.get("keys_lost") or 0 for r in runs)
            wrong = sum(r.get("wrong_values") or 0 for r in runs)
            acts = [a for a in (applied(r) for r in runs) if a is not None]
            med = statistics.median(acts) if acts else None
            L.append(f"| {sc['name']} | {mode} | {figure(summ, mode, 'worst_p99_us', 2, 1e-3)} | "
                     f"{figure(summ, mode, 'throughput_ops_per_s', 0)} | {figure(summ, mode, 'stall_seconds', 2)} | "
                     f"{figure(summ, mode, 'resource_units_mean', 2)} | {lost} / {wrong} | "
                     f"{'-' if med is None else f'{med:g}'} |")
        for sk in sc.get("skipped", []):
            L.append(f"| {sc['name']} | {sk.get('healer')} | skipped: {sk.get('reason')} | | | | | |")
    L.append("")
    return L


def applied(run: dict) -> int | None:
    """Healer actions applied in a run (full or slim report); None with the healer off."""
    if "actions_applied" in run:
        return run["actions_applied"]
    acts = run.get("actions")
    return None if acts is None else sum(1 for a in acts if a.get("what") == "act")
