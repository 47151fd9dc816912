"""Load on the served chat: many conversations at once through the `chat` API, batched serving
against unbatched serving, in the same run.

    python benchmarks/serve_load.py [--model DIR] [--conversations 50] [--turns 10]
                                    [--max-batch 32]

For each mode (max_batch=1: one message at a time; max_batch=N: concurrent messages processed
together) `chatbot serve` starts in its own process on a free 127.0.0.1 port with a fresh
SQLite dialog log, and --conversations clients (gradio_client, one thread each, in this
process) each send --turns messages, one after another, as people in a chat do. Traffic stays
on the loopback interface, and every request has a time limit. Then the server is killed
(SIGKILL) and its log read. Reported per mode: errors, log rows lost (turns answered but not
in the log), p50/p95 latency seen by the clients, turns/second, and the mean size of the batch
a turn was processed in; and the batched/unbatched ratios. The clients share the 2 cores with
the server, so the numbers are for the whole loop, client included. Without --model: the
default bot (trained on first use).
Results: benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import percentile, write_results

from chatbot.data.datasets import load_dataset
from chatbot.data.logstore import LogStore

REQUEST_TIMEOUT_S = 60
START_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: Path, max_batch: int, log: Path) -> tuple[subprocess.Popen, str]:
    """`chatbot serve` in its own process (as users run it), once it answers on its port."""
    from gradio_client import Client

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "chatbot.cli", "serve", "--model", str(model), "--port",
         str(port), "--log-db", str(log), "--max-batch", str(max_batch)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped: {server.stderr.read()}")
        if time.monotonic() > deadline:
            server.kill()
            raise SystemExit(f"the server did not answer in {START_TIMEOUT_S} s")
        try:
            Client(url, verbose=False)
            return server, url
        except Exception:
            time.sleep(1)


def run_mode(model: Path, max_batch: int, conversations: int, turns: int,
             questions: list[str]) -> dict:
    from gradio_client import Client

    log = Path(tempfile.mkdtemp(prefix="serve-load-")) / "log.sqlite"
    server, url = start_server(model, max_batch, log)
    latencies: list[float] = []
    errors: list[str] = []
    answered = 0
    lock = threading.Lock()

    def converse(number: int) -> None:
        nonlocal answered
        try:
            client = Client(url, verbose=False)
        except Exception as error:  # counted, never hidden
            with lock:
                errors.append(f"client {number}: {error!r}")
            return
        conversation = ""
        for turn in range(turns):
            text = questions[(number * turns + turn * 7) % len(questions)]
            started = time.perf_counter()
            try:
                job = client.submit(text, conversation, api_name="/chat")
                result = job.result(timeout=REQUEST_TIMEOUT_S)
            except Exception as error:
                with lock:
                    errors.append(f"conversation {number} turn {turn}: {error!r}")
                continue
            elapsed = (time.perf_counter() - started) * 1000
            conversation = result["conversation_id"]
            with lock:
                latencies.append(elapsed)
                answered += result["turn_index"] is not None

    threads = [threading.Thread(target=converse, args=(n,)) for n in range(conversations)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    server.send_signal(signal.SIGKILL)  # as a crash would: the log must already hold it all
    server.wait(timeout=30)
    logged = LogStore(log).turns()
    batches = [turn.trace.get("batch_size", 1) for turn in logged]
    return {
        "max_batch": max_batch, "turns_sent": conversations * turns, "errors": len(errors),
        "error_examples": errors[:5], "answered": answered, "log_rows": len(logged),
        "lost_log_rows": answered - len(logged),
        "p50_ms": round(percentile(latencies, 0.5), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95), 1) if latencies else None,
        "turns_per_second": round(len(latencies) / seconds, 2),
        "mean_batch_of_a_turn": round(statistics.mean(batches), 2) if batches else None,
        "largest_batch": max(batches) if batches else None, "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a trained pipeline directory (default: the default "
                        "bot)")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--max-batch", type=int, default=32)
    args = parser.parse_args(argv)
    if args.model:
        model = Path(args.model)
    else:
        from chatbot.default_model import ensure_default_model

        model = ensure_default_model(progress=True)
    questions = list(dict.fromkeys(e.text for e in load_dataset("demo").examples))
    modes = {}
    for name, max_batch in (("unbatched", 1), ("batched", args.max_batch)):
        modes[name] = run_mode(model, max_batch, args.conversations, args.turns, questions)
        print(f"{name}: {modes[name]}", file=sys.stderr, flush=True)
    unbatched, batched = modes["unbatched"], modes["batched"]
    ratios = {
        "turns_per_second": round(batched["turns_per_second"] / unbatched["turns_per_second"],
                                  2),
        "p50": round(batched["p50_ms"] / unbatched["p50_ms"], 2),
        "p95": round(batched["p95_ms"] / unbatched["p95_ms"], 2),
    }
    path = write_results("serve_load", {
        "model": str(model), "conversations": args.conversations, "turns": args.turns,
        "modes": modes, "batched_over_unbatched": ratios,
    })
    print(f"batched / unbatched: {ratios}\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
