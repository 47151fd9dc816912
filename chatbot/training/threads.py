"""How many CPU threads torch computes with: one policy, for training and for answering.

torch starts one intra-op thread per core. The toolkit's models are small (GRU/LSTM layers of a
few hundred units, batches of 64), so each operation is split into pieces of microseconds, and
every piece waits for all threads at a barrier. On a machine whose cores are shared with other
work, one descheduled thread stalls every barrier: benchmarks/contention.py measured a default-bot
epoch about ten times slower beside one busy process with torch's default of two threads on two
cores. One thread does not wait for anyone, and on these model sizes it is as fast when idle.
"""

from __future__ import annotations

AUTO_THREADS = 1


def apply_thread_policy(threads: int | str = "auto") -> int:
    """Set torch's intra-op threads (``"auto"``: AUTO_THREADS); returns the number set."""
    import torch

    count = AUTO_THREADS if threads == "auto" else int(threads)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
