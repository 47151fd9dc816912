"""What a command costs before it does anything: wall time, peak memory and whether it imports
torch, for the commands a newcomer runs first.

Each command runs ``--repeats`` times in a fresh process, interleaved (one round runs every
command once), so a burst of load on a shared machine hits all of them alike. Two baselines run
in the same rounds: ``python -c pass`` (the interpreter alone) and a script that does what
``chatbot process --config text`` needs of Kiwi, at the least: build one ``Kiwi()`` and run
``tokenize``, ``space`` and ``split_into_sents`` once. Medians are reported, with ratios to both
baselines. Whether a command imported torch is checked in one extra run of each through
``chatbot.cli.main`` in a child interpreter that reports ``sys.modules``.

    python benchmarks/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks.common

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
KIWI_BASELINE = ("from kiwipiepy import Kiwi\nkiwi = Kiwi()\nkiwi.tokenize('안녕')\n"
                 "kiwi.space('안녕')\nkiwi.split_into_sents('안녕')\n")
CHATBOT_ARGS = {
    "chatbot --help": ["--help"],
    "chatbot validate configs/text.yaml": ["validate", "configs/text.yaml"],
    "chatbot plugins": ["plugins"],
    "chatbot process --config text 안녕": ["process", "--config", "text", "안녕"],
}
COMMANDS = {
    "python -c pass": [PYTHON, "-c", "pass"],
    "kiwi load and analyse (baseline)": [PYTHON, "-c", KIWI_BASELINE],
    **{name: [PYTHON, "-m", "chatbot.cli", *args] for name, args in CHATBOT_ARGS.items()},
}
# Runs a CLI command in this interpreter, then says which heavy libraries it imported.
IMPORT_CHECK = """
import json, sys
from chatbot.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = ("torch", "soynlp", "sklearn", "scipy", "gradio", "matplotlib", "kss")
print(json.dumps({name: name in sys.modules for name in heavy}), file=sys.stderr)
"""


def run_once(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident memory in MB) of one run of ``command``.

    The kernel counts the spawning process's resident pages into a child's peak when the
    child execs, so this process imports as little as it can before measuring (the JSON is
    written with the toolkit's helpers afterwards): the floor is then that of a bare
    interpreter, which ``python -c pass`` shows. The working directory is the repository's
    (main() changes to it), so relative config paths resolve.
    """
    quiet = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
    started = time.perf_counter()
    pid = os.posix_spawn(command[0], command, dict(os.environ, CHATBOT_THREADS="1"),
                         file_actions=quiet)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {code}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KB on Linux


def imports_of(args: list[str]) -> dict[str, bool]:
    result = subprocess.run([PYTHON, "-c", IMPORT_CHECK, *args], capture_output=True,
                            text=True, check=True, cwd=ROOT)
    return json.loads(result.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command")
    args = parser.parse_args()
    os.chdir(ROOT)

    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for round_number in range(args.repeats):
        for name, command in COMMANDS.items():
            samples[name].append(run_once(command))
        print(f"round {round_number + 1}/{args.repeats} done", file=sys.stderr)

    def median(name: str, index: int) -> float:
        return statistics.median(sample[index] for sample in samples[name])

    python_s, kiwi_s, kiwi_mb = (median("python -c pass", 0),
                                 median("kiwi load and analyse (baseline)", 0),
                                 median("kiwi load and analyse (baseline)", 1))
    rows = {}
    for name in COMMANDS:
        seconds, megabytes = median(name, 0), median(name, 1)
        rows[name] = {
            "seconds_median": round(seconds, 3),
            "seconds_all": [round(s, 3) for s, _ in samples[name]],
            "peak_mb_median": round(megabytes, 1),
            "seconds_over_python": round(seconds / python_s, 2),
            "seconds_over_kiwi": round(seconds / kiwi_s, 3),
            "memory_over_kiwi": round(megabytes / kiwi_mb, 3),
        }
        if name in CHATBOT_ARGS:
            rows[name]["imports"] = imports_of(CHATBOT_ARGS[name])
    text = rows["chatbot process --config text 안녕"]
    results = {
        "repeats": args.repeats,
        "load": "nothing else running; CHATBOT_THREADS=1",
        "commands": rows,
        "process_text_within_1_5x_of_kiwi": {
            "time": text["seconds_over_kiwi"] <= 1.5, "memory": text["memory_over_kiwi"] <= 1.5},
    }
    from benchmarks.common import write_results  # only now: see run_once

    path = write_results("startup", results)
    for name, row in rows.items():
        imported = [lib for lib, yes in row.get("imports", {}).items() if yes]
        print(f"{name:38s} {row['seconds_median']:7.2f} s  {row['peak_mb_median']:7.0f} MB  "
              f"×{row['seconds_over_python']:6.1f} python  ×{row['seconds_over_kiwi']:5.2f} kiwi"
              + (f"  imports {', '.join(imported)}" if imported else ""))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
