"""What every benchmark module shares: the run context, ``Figure`` (one row of the table), timing helpers, the
table and ``results.json``.

Invariants:
- a figure holds every sample it was computed from (min / median / max are derived, never typed in), and its
  baseline's samples measured in the same run, under the same conditions (same files, same server, interleaved
  with the cloudml runs where both are timed);
- a budget is a list of checks computed from those samples; a failed check prints ``MISSED`` with what failed, a
  figure that could not be measured prints ``NOT MEASURED`` with the reason; nothing is dropped from the table;
- every server a module starts binds to 127.0.0.1 and is stopped, and every temporary folder is removed, by that
  module (``Context.tempdir`` folders are removed by the runner at the end whatever happened).
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@dataclass
class Context:
    quick: bool
    root: Path = ROOT
    python: str = PYTHON
    _temps: list[Path] = field(default_factory=list)

    def repeats(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def tempdir(self, prefix: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"cloudml-bench-{prefix}-"))
        self._temps.append(path)
        return path

    def cleanup(self) -> None:
        for path in self._temps:
            shutil.rmtree(path, ignore_errors=True)
        self._temps.clear()

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for child processes: cloudml importable from this checkout, nothing else changed."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.root), env.get("PYTHONPATH")) if p)
        env.update(extra)
        return env


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# -- figures --------------------------------------------------------------------------------------------------
@dataclass
class Check:
    text: str          # e.g. "< 300 ms"
    passed: bool


@dataclass
class Figure:
    group: str                          # "1 start-up", ...
    name: str                           # what cloudml does
    unit: str                           # s | bytes | bytes/s | req/s
    samples: list[float] | None         # None: not measured (see note)
    baseline_name: str | None = None
    baseline: list[float] | None = None
    checks: list[Check] = field(default_factory=list)
    budget: str = ""                    # the budget as the issue states it (empty: informational)
    note: str = ""
    higher_is_better: bool = False

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline) if self.baseline else None

    @property
    def ratio(self) -> float | None:
        m, b = self.median, self.baseline_median
        return m / b if m is not None and b else None

    @property
    def result(self) -> str:
        if self.samples is None:
            return "NOT MEASURED"
        if not self.budget:
            return "-"
        failed = [c.text for c in self.checks if not c.passed]
        return "PASS" if not failed else "MISSED (" + "; ".join(failed) + ")"

    def to_json(self) -> dict[str, Any]:
        def summary(s: list[float] | None) -> dict[str, Any] | None:
            if not s:
                return None
            return {"min": min(s), "median": statistics.median(s), "max": max(s), "n": len(s), "samples": s}

        return {"group": self.group, "name": self.name, "unit": self.unit, "cloudml": summary(self.samples),
                "baseline_name": self.baseline_name, "baseline": summary(self.baseline), "ratio": self.ratio,
                "budget": self.budget, "checks": [{"text": c.text, "passed": c.passed} for c in self.checks],
                "result": self.result, "note": self.note}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:.0f} us"
        return f"{value * 1e3:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "bytes":
        return f"{value / 1e6:.1f} MB" if value >= 1e5 else f"{value:.0f} B"
    if unit == "bytes/s":
        return f"{value / 1e6:.0f} MB/s"
    if unit == "req/s":
        return f"{value:,.0f}/s"
    if unit == "x":
        return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"
    if unit == "min":
        return f"{value:.1f} min"
    if unit == "%":
        return f"{value:.1f}%"
    return f"{value:g} {unit}"


def spread(samples: Sequence[float] | None, unit: str) -> str:
    """``min / median / max`` in one unit-aware string."""
    if not samples:
        return "-"
    if min(samples) == max(samples):
        return f"{fmt(samples[0], unit)} (all {len(samples)})"
    return " / ".join(fmt(v, unit) for v in (min(samples), statistics.median(samples), max(samples)))


# -- timing ---------------------------------------------------------------------------------------------------
def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int, warmup: int = 1) -> dict[str, list[float]]:
    """Time each function ``repeat`` times, round-robin (so background load hits every contender alike),
    after ``warmup`` untimed rounds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            out[key].append(time.perf_counter() - start)
    return out


def run_quiet(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   timeout=300)


# -- the machine, the table -----------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        mem_gib = None
    return {"cpus": os.cpu_count(), "cpu_model": model or platform.processor() or "unknown",
            "memory_gib": mem_gib, "python": platform.python_version(), "platform": platform.platform(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def columns(f: Figure) -> list[str]:
    ratio = f.ratio
    return [f.group, f.name, spread(f.samples, f.unit), f.baseline_name or "-", spread(f.baseline, f.unit),
            f"{ratio:.2f}x" if ratio is not None else "-", f.budget or "-", f.result]


HEADER = ["#", "figure", "cloudml min / median / max", "baseline", "baseline min / median / max", "ratio",
          "budget", "result"]


def text_table(figures: Sequence[Figure]) -> str:
    rows = [HEADER] + [columns(f) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {f.group} {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["notes:"] + notes if notes else []))


def markdown_table(figures: Sequence[Figure] | Sequence[dict[str, Any]]) -> str:
    """The README's table, from figures or from ``results.json``'s ``figures`` list."""
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for f in figures:
        cells = columns(f) if isinstance(f, Figure) else columns(from_json(f))
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


def from_json(d: dict[str, Any]) -> Figure:
    return Figure(group=d["group"], name=d["name"], unit=d["unit"],
                  samples=d["cloudml"]["samples"] if d["cloudml"] else None, baseline_name=d["baseline_name"],
                  baseline=d["baseline"]["samples"] if d["baseline"] else None,
                  checks=[Check(c["text"], c["passed"]) for c in d["checks"]], budget=d["budget"], note=d["note"])


# -- generated data -------------------------------------------------------------------------------------------
def make_tree(root: Path, files: int, total_bytes: int, seed: int = 9) -> Path:
    """A deterministic source-like tree: ``files`` files in folders of 25, sizes varying around the mean and
    summing to ``total_bytes``; half text (code-like lines, compressible), half binary (random: weights, images).
    """
    import random

    rng = random.Random(seed)
    words = ["def", "return", "self", "import", "numpy", "torch", "tensor", "x", "y", "loss", "for", "in", "range",
             "if", "else", "model", "batch", "optimizer", "step", "lr", "0.001", "None", "True", "print", "data"]
    pool = [(" " * rng.choice((0, 4, 8)) + " ".join(rng.choices(words, k=rng.randint(2, 12))) + "\n").encode()
            for _ in range(4000)]
    mean = total_bytes // files
    raw = [rng.randint(mean // 2, mean * 3 // 2) for _ in range(files)]
    sizes = [s * total_bytes // sum(raw) for s in raw]
    sizes[-1] += total_bytes - sum(sizes)
    for i, size in enumerate(sizes):
        folder = root / f"pkg{i // 25:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        if i % 2:
            (folder / f"weights_{i:04d}.bin").write_bytes(rng.randbytes(size))
        else:
            text = bytearray()
            while len(text) < size:
                text += b"".join(rng.choices(pool, k=256))
            (folder / f"module_{i:04d}.py").write_bytes(bytes(text[:size]))
    return root


def tree_bytes(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)
