"""How many CPU threads torch computes with: one policy, for training and for answering.

torch starts one intra-op thread per core. The toolkit's models are small (GRU/LSTM layers of a
few hundred units, batches of 64), so each operation is split into pieces of microseconds, and
every piece waits for all threads at a barrier. When another process holds one of the cores, the
thread that shares it stalls every barrier: benchmarks/contention.py measured a default-bot epoch
2.3 times slower beside one busy process with two threads on two cores, while one thread is only
1.1 times slower there, but 1.2 times slower than two on an idle machine.

So ``auto`` uses the cores that are free: the cores this process may run on, less the other
processes running right now. It is decided when a model is loaded and again before every epoch
of training, so a neighbour that starts or stops during a long training is followed.

The thread count changes the last bits of a trained model (sums are split differently), so under
``auto`` two trainings with the same seed agree exactly only under the same load. For
bit-identical runs, or where the machine's cores are not this process's to take (a container
with a CPU quota), fix the count: ``training.threads: N`` in the config, or ``CHATBOT_THREADS=N``
in the environment (it replaces ``auto`` for training and for serving).
"""

from __future__ import annotations

import os
import time

from chatbot.errors import ChatbotError

MAX_AUTO_THREADS = 8  # past this, the toolkit's small models gain nothing from more threads
_SAMPLES = 5
_SAMPLE_GAP_S = 0.01

_policy: int | str = "auto"


def apply_thread_policy(threads: int | str = "auto") -> int:
    """Adopt a policy (``"auto"`` or a number of threads), set torch to it; the number set."""
    global _policy
    _policy = threads
    return refresh_threads()


def refresh_threads() -> int:
    """Set torch's intra-op threads for the current policy (``auto``: the free cores now)."""
    import torch

    if _policy != "auto":
        count = int(_policy)
    elif os.environ.get("CHATBOT_THREADS"):
        count = _threads_from_environment(os.environ["CHATBOT_THREADS"])
    else:
        count = auto_threads()
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def _threads_from_environment(value: str) -> int:
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= 256):
        raise ChatbotError(f"CHATBOT_THREADS is {value[:20]!r}, not a whole number from 1 to 256",
                           hint="unset it to let the toolkit count the free cores")
    return int(value)


def auto_threads() -> int:
    """The cores free for this process now: its cores less the other running processes."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_AUTO_THREADS, (cores or 1) - _others_running()))


def _others_running() -> int:
    """Runnable threads on the machine besides this one (Linux; 0 where unknown).

    The least of a few samples: a neighbour that computes is runnable in every one, while this
    process's own torch threads, still spinning after their last operation, soon are not.
    """
    counts = []
    for sample in range(_SAMPLES):
        if sample:
            time.sleep(_SAMPLE_GAP_S)
        try:
            with open("/proc/stat", encoding="ascii") as stat:
                line = next((row for row in stat if row.startswith("procs_running")), "")
        except OSError:
            return 0
        if not line:
            return 0
        counts.append(int(line.split()[1]) - 1)  # this thread, reading, is running too
    return max(0, min(counts))
