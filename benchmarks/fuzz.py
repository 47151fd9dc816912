"""The fuzzing run of record: every Hypothesis test of tests/fuzz/ with the "long" profile
(10,000 examples per test), and how many examples each ran, passed and failed.

Usage::

    python benchmarks/fuzz.py                  # all surfaces; results/fuzz.json
    python benchmarks/fuzz.py -k config        # a subset (pytest's -k); writes no results

The suite runs the same tests with the "default" profile (60 examples each) in CI.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, write_results  # noqa: E402

# Hypothesis's --hypothesis-show-statistics block for one test.
TEST_LINE = re.compile(r"^(tests/fuzz/\S+::\S+):\s*$")
PHASE = re.compile(r"- during (\w+) phase \(([\d.]+) seconds\)")
COUNTS = re.compile(r"- (\d+) passing, (\d+) failing, and (\d+) invalid test cases")
STOPPED = re.compile(r"- Stopped because (.+)")


def parse_statistics(output: str) -> dict[str, dict]:
    """Per test: examples passing/failing/invalid summed over phases, seconds, why it stopped."""
    tests: dict[str, dict] = {}
    current = None
    for line in output.splitlines():
        line = line.strip()
        if match := TEST_LINE.match(line):
            current = tests.setdefault(match.group(1), {
                "passing": 0, "failing": 0, "invalid": 0, "seconds": 0.0, "stopped": None})
        elif current is None:
            continue
        elif match := PHASE.search(line):
            current["seconds"] = round(current["seconds"] + float(match.group(2)), 2)
        elif match := COUNTS.search(line):
            for key, value in zip(("passing", "failing", "invalid"), match.groups(), strict=True):
                current[key] += int(value)
        elif match := STOPPED.search(line):
            current["stopped"] = match.group(1)
    return tests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="keyword", help="only the tests whose name matches")
    args = parser.parse_args()
    command = [sys.executable, "-m", "pytest", "tests/fuzz", "-m", "fuzz", "-p",
               "no:cacheprovider", "--hypothesis-profile=long", "--hypothesis-show-statistics",
               "-q", "-rf"]
    if args.keyword:
        command += ["-k", args.keyword]
    started = time.perf_counter()
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    tests = parse_statistics(run.stdout)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-500:]
    results = {
        "profile": "long (10,000 examples per test, no deadline)",
        "command": " ".join(command[1:]),
        "pytest_exit_status": run.returncode,
        "pytest_summary": summary,
        "seconds": round(elapsed, 1),
        "tests": tests,
        "examples": sum(t["passing"] + t["failing"] + t["invalid"] for t in tests.values()),
        "failures": sum(t["failing"] for t in tests.values()),
    }
    if run.returncode != 0:
        failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
        results["failed_tests"] = failed
    print(f"{len(tests)} tests, {results['examples']:,} examples, {results['failures']} failing "
          f"({summary})", file=sys.stderr)
    if not args.keyword:  # a subset is a check while fixing, not the run of record
        print(f"wrote {write_results('fuzz', results)}", file=sys.stderr)
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
