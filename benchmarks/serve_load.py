"""Load on `chatbot serve`: many conversations at once through each channel, in the same run.

    python benchmarks/serve_load.py [--model DIR] [--conversations 50] [--turns 10]
                                    [--channels rest gradio kakao] [--max-batch 32]
                                    [--unbatched] [--kill]

For each channel, `chatbot serve` starts in its own process on a free 127.0.0.1 port with a
fresh SQLite dialog log, and --conversations clients (one thread each, in this process) each
send --turns messages, one after another, as people in a chat do:

- ``rest``: ``POST /api/v1/chat`` (httpx, one keep-alive connection per client);
- ``gradio``: Gradio's ``chat`` endpoint through its queue (gradio_client), as before the API;
- ``kakao``: ``POST /kakao/skill`` with Kakao i Open Builder payloads, one Kakao user each.

Then the server is killed (SIGKILL) and its log read. Reported per channel: errors, log rows
lost (turns answered but not in the log), p50/p95/p99 latency seen by the clients, turns/s, the
mean size of the batch a turn was processed in, and each channel's turns/s over Gradio's.
``--unbatched`` adds the REST channel with ``--max-batch 1`` (one message at a time).
``--kill`` also kills the REST server halfway through a run (once a quarter of the next
round of turns is logged, with the rest in flight) and starts it again on the same log: every
answered turn must be in the log and each conversation's turn indices must continue (0, 1, 2,
... with no gap or repeat). The clients share the 2 cores with the server, so the
numbers are for the whole loop, client included. Without --model: the default bot.
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
from collections.abc import Callable
from pathlib import Path

import httpx
from common import percentile, write_results

from chatbot.data.datasets import load_dataset
from chatbot.data.logstore import LogStore

REQUEST_TIMEOUT_S = 60
START_TIMEOUT_S = 180
LATE = "잠시만요"  # how a Kakao reply past its budget starts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: Path, max_batch: int, log: Path,
                 port: int | None = None) -> tuple[subprocess.Popen, str]:
    """`chatbot serve` in its own process (as users run it), once it is ready."""
    port = port or free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "chatbot.cli", "serve", "--model", str(model), "--port",
         str(port), "--log-db", str(log), "--max-batch", str(max_batch)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped: {server.stderr.read()}")
        if time.monotonic() > deadline:
            server.kill()
            raise SystemExit(f"the server did not get ready in {START_TIMEOUT_S} s")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)


# -- one client per conversation, per channel: send(text) -> (answered, conversation key) ----

Sender = Callable[[str], bool]


def rest_client(url: str, number: int) -> tuple[Sender, Callable[[], None]]:
    http = httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S)
    conversation = {"id": f"load-{number}"}

    def send(text: str) -> bool:
        response = http.post("/api/v1/chat", json={"message": text,
                                                   "conversation_id": conversation["id"]})
        response.raise_for_status()
        return response.json()["turn_index"] is not None

    return send, http.close


def gradio_client(url: str, number: int) -> tuple[Sender, Callable[[], None]]:
    from gradio_client import Client

    client = Client(f"{url}/", verbose=False)

    def send(text: str) -> bool:
        job = client.submit(text, f"load-{number}", api_name="/chat")
        return job.result(timeout=REQUEST_TIMEOUT_S)["turn_index"] is not None

    return send, lambda: None


def kakao_client(url: str, number: int) -> tuple[Sender, Callable[[], None]]:
    http = httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S)

    def send(text: str) -> bool:
        payload = {"intent": {"id": "load", "name": "폴백 블록"},
                   "userRequest": {"timezone": "Asia/Seoul", "utterance": text, "lang": "ko",
                                   "params": {}, "block": {"id": "load", "name": "폴백 블록"},
                                   "user": {"id": f"load-user-{number}", "type": "botUserKey",
                                            "properties": {}}},
                   "bot": {"id": "load-bot", "name": "부하 시험"},
                   "action": {"id": "skill", "name": "챗봇", "params": {}, "detailParams": {},
                              "clientExtra": {}}}
        response = http.post("/kakao/skill", json=payload)
        response.raise_for_status()
        text_out = response.json()["template"]["outputs"][0]["simpleText"]["text"]
        return not text_out.startswith(LATE)

    return send, http.close


CLIENTS = {"rest": rest_client, "gradio": gradio_client, "kakao": kakao_client}


def drive(url: str, channel: str, conversations: int, turns: range,
          questions: list[str]) -> dict:
    """Every conversation sends its ``turns`` at once with the others; what the clients saw."""
    latencies: list[float] = []
    errors: list[str] = []
    answered = [0] * conversations
    lock = threading.Lock()

    def converse(number: int) -> None:
        try:
            send, close = CLIENTS[channel](url, number)
        except Exception as error:  # counted, never hidden
            with lock:
                errors.append(f"client {number}: {error!r}")
            return
        for turn in turns:
            text = questions[(number * 1000 + turn * 7) % len(questions)]
            started = time.perf_counter()
            try:
                ok = send(text)
            except Exception as error:
                with lock:
                    errors.append(f"conversation {number} turn {turn}: {error!r}")
                continue
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
                answered[number] += ok
        close()

    threads = [threading.Thread(target=converse, args=(n,)) for n in range(conversations)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "errors": errors, "answered": answered,
            "seconds": time.perf_counter() - started}


def summary(channel: str, max_batch: int, sent: int, seen: dict, logged: list) -> dict:
    latencies, batches = seen["latencies"], [t.trace.get("batch_size", 1) for t in logged]

    def at(share: float) -> float | None:
        return round(percentile(latencies, share), 1) if latencies else None

    return {
        "channel": channel, "max_batch": max_batch, "turns_sent": sent,
        "errors": len(seen["errors"]), "error_examples": seen["errors"][:5],
        "answered": sum(seen["answered"]), "log_rows": len(logged),
        "lost_log_rows": max(0, sum(seen["answered"]) - len(logged)),
        "p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99),
        "turns_per_second": round(len(latencies) / seen["seconds"], 2),
        "mean_batch_of_a_turn": round(statistics.mean(batches), 2) if batches else None,
        "largest_batch": max(batches) if batches else None,
        "seconds": round(seen["seconds"], 1),
    }


def run_channel(model: Path, channel: str, max_batch: int, conversations: int, turns: int,
                questions: list[str]) -> dict:
    log = Path(tempfile.mkdtemp(prefix="serve-load-")) / "log.sqlite"
    server, url = start_server(model, max_batch, log)
    try:
        seen = drive(url, channel, conversations, range(turns), questions)
    finally:
        server.send_signal(signal.SIGKILL)  # as a crash would: the log must already hold it
        server.wait(timeout=30)
    return summary(channel, max_batch, conversations * turns, seen, LogStore(log).turns())


def run_kill(model: Path, max_batch: int, conversations: int, turns: int,
             questions: list[str]) -> dict:
    """Half the turns, SIGKILL while the second half is in flight, a restart on the same log,
    then the rest: every answered turn logged, every conversation's indices continuing."""
    log = Path(tempfile.mkdtemp(prefix="serve-kill-")) / "log.sqlite"
    port = free_port()
    half = turns // 2
    server, url = start_server(model, max_batch, log, port)
    first = drive(url, "rest", conversations, range(half), questions)
    before = LogStore(log).count()

    def kill_mid_load() -> None:  # once a quarter of the next turns are logged
        store = LogStore(log)
        while store.count() < before + max(1, conversations // 4):
            time.sleep(0.005)
        server.send_signal(signal.SIGKILL)
        store.close()

    killer = threading.Thread(target=kill_mid_load)
    killer.start()
    during = drive(url, "rest", conversations, range(half, half + 2), questions)
    killer.join()
    server.wait(timeout=30)
    server, url = start_server(model, max_batch, log, port)
    try:
        after = drive(url, "rest", conversations, range(half + 2, turns), questions)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    logged = LogStore(log).turns()
    answered = sum(sum(part["answered"]) for part in (first, during, after))
    gaps = 0
    for number in range(conversations):
        indices = sorted(t.turn_index for t in logged if t.conversation_id == f"load-{number}")
        gaps += indices != list(range(len(indices)))
    return {"answered": answered, "answered_in_the_killed_round": sum(during["answered"]),
            "log_rows": len(logged),
            "lost_log_rows": max(0, answered - len(logged)),
            "errors_while_down": len(during["errors"]),
            "conversations_whose_indices_do_not_continue": gaps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a trained pipeline directory (default: the default "
                        "bot)")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--channels", nargs="+", choices=list(CLIENTS),
                        default=["rest", "gradio", "kakao"])
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--unbatched", action="store_true",
                        help="also the REST channel with --max-batch 1")
    parser.add_argument("--kill", action="store_true", help="also kill the REST server "
                        "mid-load and restart it (every answered turn must be logged)")
    args = parser.parse_args(argv)
    if args.model:
        model = Path(args.model)
    else:
        from chatbot.default_model import ensure_default_model

        model = ensure_default_model(progress=True)
    questions = list(dict.fromkeys(e.text for e in load_dataset("demo").examples))
    runs = [(channel, args.max_batch) for channel in args.channels]
    if args.unbatched:
        runs.append(("rest", 1))
    results = {}
    for channel, max_batch in runs:
        name = channel if max_batch == args.max_batch else f"{channel}_max_batch_{max_batch}"
        results[name] = run_channel(model, channel, max_batch, args.conversations, args.turns,
                                    questions)
        print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
    if "gradio" in results:
        base = results["gradio"]["turns_per_second"]
        for result in results.values():
            result["turns_per_second_over_gradio"] = round(result["turns_per_second"] / base, 2)
    killed = None
    if args.kill:
        killed = run_kill(model, args.max_batch, args.conversations, args.turns, questions)
        print(f"kill -9 mid-load: {killed}", file=sys.stderr)
    path = write_results("serve_load", {
        "model": str(model), "conversations": args.conversations, "turns": args.turns,
        "channels": results, "kill_mid_load": killed})
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
