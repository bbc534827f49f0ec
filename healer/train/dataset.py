"""The training data of the learned healer: a grid of workload tasks x faults x healer modes,
recorded with `lsmedic-bench record` (trace format v2) on the real engine.

Usage (repository root; `make traces` runs it):

    python3 healer/train/dataset.py --bench target/release/lsmedic-bench --out target/traces
    python3 healer/train/dataset.py --dataset small ...      # ~5 minutes, for development
    python3 healer/train/dataset.py --plan                   # print the runs, record nothing

What it does, in order:
1. builds the plan (`plan()`): every workload task (`TASKS`) with every fault that applies
   to it (`FAULTS`), recorded with the healer off (pure fault dynamics, for the detector and
   the cascade GNN), plus a rotating subset with the rule policy and epsilon-exploration
   (`rules --explore`, logged transitions for the policy);
2. writes one scenario TOML per run (schema: README.md "Scenario files") into
   `<out>/scenarios/`;
3. runs `lsmedic-bench record` on each, one after the other (the machine has 2 cores; the
   runs are timing-sensitive), writing `<out>/<run>.<healer>.trace.jsonl.gz`;
4. writes `<out>/dataset.json` (the plan, per-run wall times and trace sizes) and
   `<out>/DIGEST` (`sha256:` + SHA-256 over the trace files' names and bytes in sorted order,
   the same definition as `lsmtrain.traces.digest_files`), and checks that
   `healer/train/split.json` names exactly the held-out tasks of `HELD_OUT_FAMILIES`.

Every run has the same shape: a `load` phase (fillseq of the key space, warm-up), a `settle`
phase (the task's workload, warm-up), then one measured `steady` phase of the task's
workload in which the fault starts after `normal_s` seconds, lasts `fault_s` seconds, and is
followed by `recovery_s` seconds. The `workload` field of each trace header names the task,
so that all faults and modes of one task group together (a MAML task).

The output folder is owned by this script: at the start it deletes the trace files,
scenarios, `dataset.json` and `DIGEST` left there by an earlier run (unless `--resume`, which
keeps the traces whose run is in the plan and records the missing ones), so one folder
always holds exactly one data set.

Stdlib only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SPLIT_FILE = HERE / "split.json"

MIB = 1024 * 1024

# Workload families whose tasks are never trained on (the held-out test set).
HELD_OUT_FAMILIES: tuple[str, ...] = ("ycsb-f", "ycsb-e")

# Exploration probability per decision tick of the `rules --explore` runs.
EXPLORE_EPSILON = 0.3

# Objective weights (latency, throughput, resources) the rules+explore runs rotate through.
WEIGHT_PRESETS: tuple[tuple[float, float, float], ...] = (
    (1.0, 1.0, 1.0),
    (0.6, 0.3, 0.1),
    (0.2, 0.3, 0.5),
)


@dataclass(frozen=True)
class Task:
    """One workload task: a family with its parameters (the unit of MAML adaptation)."""

    family: str  # lsmedic-bench workload name
    distribution: str  # uniform | zipfian | latest
    value_size: int  # bytes
    rate: float  # ops/s over all threads, on the first column family
    threads: int
    cfs: int  # column families 1..3; the others run the family at rate / 3 with 1 thread
    key_space: int
    hot_keys: int | None = None  # normal working set 0..hot_keys (cache-shift moves it away)
    scan_length: tuple[int, int] | None = None  # scans only

    @property
    def name(self) -> str:
        """Stable task id (the trace header's `workload.task`)."""
        hot = f"-hot{self.hot_keys}" if self.hot_keys else ""
        return (
            f"{self.family}-{self.distribution[:4]}-v{self.value_size}-r{int(self.rate)}"
            f"-t{self.threads}-cf{self.cfs}{hot}"
        )

    @property
    def writes(self) -> bool:
        return self.family not in ("readrandom", "seekrandom", "ycsb-c")

    @property
    def reads(self) -> bool:
        return self.family not in ("fillrandom", "overwrite", "fillseq", "deleterandom")

    @property
    def scans(self) -> bool:
        return self.family in ("seekrandom", "ycsb-e")

    @property
    def held_out(self) -> bool:
        return self.family in HELD_OUT_FAMILIES


# The workload tasks. Rates keep the normal phase healthy with 2 CPU cores (up to ~6 MB/s
# of writes into 2 MiB memtables); faults then push it over.
TASKS: tuple[Task, ...] = (
    Task("fillrandom", "uniform", 400, 15000, 2, 1, 60_000),
    Task("overwrite", "zipfian", 1000, 6000, 2, 2, 30_000),
    Task("ycsb-a", "zipfian", 800, 12000, 2, 1, 40_000),
    Task("ycsb-b", "zipfian", 1000, 12000, 2, 2, 40_000, hot_keys=4000),
    Task("ycsb-d", "latest", 500, 12000, 2, 1, 40_000),
    Task("readwhilewriting", "uniform", 1000, 10000, 2, 3, 30_000),
    Task("seekrandom", "uniform", 500, 800, 2, 1, 40_000, scan_length=(20, 80)),
    Task("ycsb-c", "zipfian", 1000, 15000, 2, 1, 40_000, hot_keys=4000),
    # held out (HELD_OUT_FAMILIES)
    Task("ycsb-f", "zipfian", 600, 10000, 2, 2, 40_000),
    Task("ycsb-e", "zipfian", 500, 2000, 2, 1, 40_000, scan_length=(1, 100)),
)


def fault_toml(fault: str, task: Task, at_s: float, duration_s: float) -> str | None:
    """The `[[phases.faults]]` table of `fault` for `task`, `None` when it does not apply."""
    head = f'[[phases.faults]]\nkind = "{{kind}}"\nat_s = {at_s}\nduration_s = {duration_s}\n'
    if fault == "write_burst" and task.writes:
        return head.format(kind="write_burst") + "factor = 10\n"
    if fault == "write_burst_mild" and task.writes:
        # Pressure that builds up over seconds (a stall, if any, comes well after the onset):
        # the cascade GNN's predictable cases, in training and in the held-out evaluation.
        return head.format(kind="write_burst") + "factor = 4\n"
    if fault == "compaction_starvation" and task.writes:
        return (
            head.format(kind="compaction_starvation")
            + "max_background_jobs = 1\nbackground_threads_low = 1\ndisable_auto_compactions = true\n"
        )
    if fault == "tiny_memtables" and task.writes:
        return head.format(kind="misconfiguration") + "options = { write_buffer_size = 65536 }\n"
    if fault == "low_l0_triggers" and task.writes:
        return head.format(kind="misconfiguration") + (
            "options = { level0_file_num_compaction_trigger = 1, "
            "level0_slowdown_writes_trigger = 2, level0_stop_writes_trigger = 3 }\n"
        )
    if fault == "cache_shrink" and task.reads:
        return head.format(kind="misconfiguration") + "global = { block_cache_capacity = 1048576 }\n"
    if fault == "cache_shift" and task.reads and task.hot_keys:
        return head.format(kind="working_set_shift") + f"key_range = [0, {task.key_space}]\n"
    if fault == "delete_storm" and task.scans:
        return head.format(kind="delete_storm") + (
            f"key_range = [0, {task.key_space * 3 // 10}]\nrate = 10000\n"
        )
    return None


# Fault kinds, in plan order (sst_corruption is left out: destructive and slow to rebuild).
FAULTS: tuple[str, ...] = (
    "write_burst",
    "compaction_starvation",
    "tiny_memtables",
    "low_l0_triggers",
    "cache_shrink",
    "cache_shift",
    "delete_storm",
    "write_burst_mild",
)


@dataclass(frozen=True)
class Timing:
    """Seconds of the run's parts."""

    settle_s: float
    normal_s: float
    fault_s: float
    recovery_s: float


TIMINGS: dict[str, Timing] = {
    "full": Timing(settle_s=3, normal_s=8, fault_s=8, recovery_s=8),
    "small": Timing(settle_s=2, normal_s=6, fault_s=5, recovery_s=5),
}


@dataclass
class Run:
    """One recording."""

    task: Task
    fault: str
    healer: str  # off | rules
    seed: int
    explore: float = 0.0
    weights: tuple[float, float, float] | None = None

    @property
    def name(self) -> str:
        mode = "explore" if self.explore > 0 else self.healer
        return f"{self.task.name}__{self.fault}__{mode}"

    @property
    def trace_file(self) -> str:
        return f"{self.name}.{self.healer}.trace.jsonl.gz"


def stable_seed(*parts: str) -> int:
    """A seed that depends only on `parts` (CRC-32 of their join)."""
    return zlib.crc32("/".join(parts).encode())


def plan(dataset: str) -> list[Run]:
    """The runs of `dataset` (`full` or `small`), in recording order."""
    runs: list[Run] = []
    if dataset == "small":
        picks = {
            "ycsb-a": ["write_burst", "compaction_starvation"],
            "ycsb-b": ["cache_shift", "tiny_memtables"],
            "ycsb-f": ["write_burst", "low_l0_triggers"],
            "ycsb-e": ["delete_storm"],
        }
        for task in TASKS:
            for fault in picks.get(task.family, []):
                runs.append(Run(task, fault, "off", stable_seed(task.name, fault, "off")))
        explore = [("ycsb-a", "low_l0_triggers"), ("ycsb-f", "compaction_starvation")]
    elif dataset == "full":
        for task in TASKS:
            for fault in FAULTS:
                if fault_toml(fault, task, 0, 0) is not None:
                    runs.append(Run(task, fault, "off", stable_seed(task.name, fault, "off")))
        # rules + exploration (the policy's logged transitions): three faults per writing
        # task (rotating through the write faults), one per read-only task.
        explore = []
        write_faults = FAULTS[:4]
        for i, task in enumerate(TASKS):
            if task.writes:
                for k in range(3):
                    explore.append((task.family, write_faults[(i + k) % 4]))
            else:
                explore.append((task.family, "cache_shrink"))
    else:
        raise ValueError(f"unknown dataset {dataset!r} (full or small)")
    by_family = {t.family: t for t in TASKS}
    for i, (family, fault) in enumerate(explore):
        task = by_family[family]
        runs.append(
            Run(
                task,
                fault,
                "rules",
                stable_seed(task.name, fault, "explore"),
                explore=EXPLORE_EPSILON,
                weights=WEIGHT_PRESETS[i % len(WEIGHT_PRESETS)],
            )
        )
    return runs


def _workload_tables(task: Task) -> str:
    """`[[phases.workloads]]` tables of `task` (one per column family)."""
    out = []
    for cf in range(task.cfs):
        cf_name = "default" if cf == 0 else f"cf{cf}"
        rate = task.rate if cf == 0 else task.rate / 3
        threads = task.threads if cf == 0 else 1
        lines = [
            "[[phases.workloads]]",
            f'workload = "{task.family}"',
            f'cf = "{cf_name}"',
            f'distribution = "{task.distribution}"',
            f"key_space = {task.key_space}",
            f"value_size = {task.value_size}",
            f"threads = {threads}",
            f"rate = {rate:.0f}",
        ]
        if task.hot_keys:
            lines.append(f"key_range = [0, {task.hot_keys}]")
        if task.scan_length:
            lines.append(f"scan_length = [{task.scan_length[0]}, {task.scan_length[1]}]")
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


CF_OPTIONS = """write_buffer_size = 2097152
max_write_buffer_number = 2
level0_file_num_compaction_trigger = 4
level0_slowdown_writes_trigger = 8
level0_stop_writes_trigger = 14
target_file_size_base = 4194304
max_bytes_for_level_base = 16777216
"""


def scenario_toml(run: Run, timing: Timing) -> str:
    """The scenario file of `run` (README.md "Scenario files")."""
    task = run.task
    steady_s = timing.normal_s + timing.fault_s + timing.recovery_s
    fault = fault_toml(run.fault, task, timing.normal_s, timing.fault_s)
    if fault is None:
        raise ValueError(f"fault {run.fault} does not apply to task {task.name}")
    parts = [
        f'name = "{run.name}"',
        f'description = "dataset run: task {task.name}, fault {run.fault}, healer {run.healer}'
        f'{" + explore" if run.explore else ""}"',
        f"seed = {run.seed}",
        "",
        "[engine]",
        "max_background_jobs = 2",
        "delayed_write_rate = 8388608",
        f"block_cache_size = {8 * MIB}",
        f"use_direct_reads = {'true' if task.reads else 'false'}",
        "",
        "[engine.cf_options]",
        CF_OPTIONS,
    ]
    for cf in range(1, task.cfs):
        parts += [
            "[[engine.column_families]]",
            f'name = "cf{cf}"',
            "[engine.column_families.options]",
            CF_OPTIONS,
        ]
    # Load: every column family's key space with fillseq (warm-up).
    parts += ["[[phases]]", 'name = "load"', "warmup = true"]
    for cf in range(task.cfs):
        cf_name = "default" if cf == 0 else f"cf{cf}"
        parts += [
            "[[phases.workloads]]",
            'workload = "fillseq"',
            f'cf = "{cf_name}"',
            f"key_space = {task.key_space}",
            f"value_size = {task.value_size}",
            f"ops = {task.key_space}",
            "",
        ]
    parts += ["[[phases]]", 'name = "settle"', "warmup = true", f"duration_s = {timing.settle_s}"]
    parts.append(_workload_tables(task))
    parts += ["[[phases]]", 'name = "steady"', f"duration_s = {steady_s}"]
    parts.append(_workload_tables(task))
    parts.append(fault)
    return "\n".join(parts) + "\n"


def digest(paths: list[Path]) -> str:
    """`sha256:` + SHA-256 over the names and bytes of `paths` in sorted order (the definition
    of `lsmtrain.traces.digest_files`)."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(b"\0")
        h.update(p.read_bytes())
    return "sha256:" + h.hexdigest()


def held_out_tasks() -> list[str]:
    """Names of the held-out tasks (every task of a held-out family)."""
    return sorted(t.name for t in TASKS if t.held_out)


def check_split() -> None:
    """`healer/train/split.json` must name exactly the held-out tasks."""
    want = {"held_out": held_out_tasks(), "held_out_families": list(HELD_OUT_FAMILIES)}
    have = json.loads(SPLIT_FILE.read_text()) if SPLIT_FILE.exists() else None
    if have != want:
        raise SystemExit(
            f"{SPLIT_FILE} is out of date; run `python3 {Path(__file__).name} --write-split` "
            f"(want {want}, have {have})"
        )


def write_split() -> None:
    """Writes `healer/train/split.json` from `HELD_OUT_FAMILIES`."""
    want = {"held_out": held_out_tasks(), "held_out_families": list(HELD_OUT_FAMILIES)}
    SPLIT_FILE.write_text(json.dumps(want, indent=2) + "\n")


def clean(out: Path, keep: set[str]) -> None:
    """Removes what an earlier run left in `out`, except the trace files named in `keep`."""
    for p in out.glob("*.trace.jsonl.gz"):
        if p.name not in keep:
            p.unlink()
    for name in ("dataset.json", "DIGEST"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "scenarios", ignore_errors=True)


def freeze_binary(bench: Path, out: Path) -> Path:
    """A private link (or copy) of `bench` in `out`, so that a rebuild during the recording
    (cargo replaces the file) cannot change the binary half-way through the data set."""
    frozen = out / ".lsmedic-bench"
    frozen.unlink(missing_ok=True)
    try:
        frozen.hardlink_to(bench)
    except OSError:
        shutil.copy2(bench, frozen)
    return frozen


def record(bench: Path, run: Run, scenario: Path, out: Path, db_dir: Path | None) -> float:
    """Records one run; returns its wall time in seconds."""
    cmd = [
        str(bench),
        "record",
        str(scenario),
        "--out",
        str(out),
        "--healer",
        run.healer,
        "--task",
        run.task.name,
        "--seed",
        str(run.seed),
        "--no-verify",
    ]
    if run.explore:
        cmd += ["--explore", str(run.explore)]
    if run.weights:
        cmd += ["--weights", ",".join(str(w) for w in run.weights)]
    if db_dir:
        cmd += ["--db-dir", str(db_dir)]
    t = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.monotonic() - t
    if result.returncode != 0:
        raise SystemExit(
            f"recording {run.name} failed ({' '.join(cmd)}):\n{result.stdout}\n{result.stderr}"
        )
    return elapsed


@dataclass
class Recorded:
    """What `dataset.json` keeps per run."""

    name: str
    task: str
    family: str
    held_out: bool
    fault: str
    healer: str
    explore: float
    weights: list[float] | None
    seed: int
    trace: str
    bytes: int
    wall_s: float | None
    extra: dict = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=("full", "small"), default="full")
    ap.add_argument("--bench", type=Path, default=REPO / "target" / "release" / "lsmedic-bench")
    ap.add_argument("--out", type=Path, default=REPO / "target" / "traces")
    ap.add_argument("--db-dir", type=Path, default=None, help="where fresh databases go")
    ap.add_argument("--resume", action="store_true", help="keep traces already recorded")
    ap.add_argument("--plan", action="store_true", help="print the plan and stop")
    ap.add_argument("--write-split", action="store_true", help="rewrite split.json and stop")
    args = ap.parse_args(argv)

    if args.write_split:
        write_split()
        print(f"wrote {SPLIT_FILE}")
        return 0
    check_split()
    runs = plan(args.dataset)
    timing = TIMINGS[args.dataset]
    if args.plan:
        for run in runs:
            print(f"{run.name:70} seed {run.seed:>10} weights {run.weights}")
        held = sum(r.task.held_out for r in runs)
        print(f"{len(runs)} runs ({held} on held-out tasks {held_out_tasks()})")
        return 0
    if not args.bench.exists():
        raise SystemExit(f"{args.bench} does not exist (cargo build --release -p lsmedic-bench)")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    keep = {r.trace_file for r in runs} if args.resume else set()
    clean(out, keep)
    bench = freeze_binary(args.bench, out)
    scenarios = out / "scenarios"
    scenarios.mkdir()
    recorded: list[Recorded] = []
    started = time.monotonic()
    for i, run in enumerate(runs, 1):
        scenario = scenarios / f"{run.name}.toml"
        scenario.write_text(scenario_toml(run, timing))
        trace = out / run.trace_file
        wall: float | None = None
        if not (args.resume and trace.exists()):
            wall = record(bench, run, scenario, out, args.db_dir)
        if not trace.exists():
            raise SystemExit(f"{run.name}: no trace written at {trace}")
        size = trace.stat().st_size
        total = time.monotonic() - started
        print(
            f"[{i}/{len(runs)}] {run.name}: {size // 1024} KiB"
            + (f", {wall:.1f} s" if wall is not None else " (kept)")
            + f", {total / 60:.1f} min so far",
            flush=True,
        )
        recorded.append(
            Recorded(
                name=run.name,
                task=run.task.name,
                family=run.task.family,
                held_out=run.task.held_out,
                fault=run.fault,
                healer=run.healer,
                explore=run.explore,
                weights=list(run.weights) if run.weights else None,
                seed=run.seed,
                trace=run.trace_file,
                bytes=size,
                wall_s=wall,
            )
        )
    traces = sorted(out.glob("*.trace.jsonl.gz"))
    data_digest = digest(traces)
    (out / "DIGEST").write_text(data_digest + "\n")
    summary = {
        "dataset": args.dataset,
        "timing": asdict(timing),
        "held_out_families": list(HELD_OUT_FAMILIES),
        "held_out_tasks": held_out_tasks(),
        "digest": data_digest,
        "recording_wall_s": round(time.monotonic() - started, 1),
        "trace_bytes": sum(r.bytes for r in recorded),
        "runs": [asdict(r) for r in recorded],
    }
    (out / "dataset.json").write_text(json.dumps(summary, indent=2) + "\n")
    bench.unlink(missing_ok=True)
    print(
        f"{len(recorded)} traces, {summary['trace_bytes'] / MIB:.1f} MiB, "
        f"{summary['recording_wall_s'] / 60:.1f} min; digest {data_digest}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
