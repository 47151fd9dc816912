"""torch's thread policy: free cores under "auto", a fixed number from the config or the
environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from chatbot.errors import ChatbotError
from chatbot.training import threads


@pytest.fixture(autouse=True)
def _restore():
    yield
    threads.apply_thread_policy(1)


def test_auto_leaves_the_core_a_spinning_neighbour_holds(monkeypatch):
    monkeypatch.delenv("CHATBOT_THREADS")
    cores = len(os.sched_getaffinity(0))
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert threads.apply_thread_policy("auto") == torch.get_num_threads()
        assert torch.get_num_threads() <= max(1, cores - 1)
    finally:
        neighbour.kill()
        neighbour.wait()


def test_the_environment_fixes_auto_but_not_a_configured_number(monkeypatch):
    monkeypatch.setenv("CHATBOT_THREADS", "2")
    assert threads.apply_thread_policy("auto") == 2 == torch.get_num_threads()
    assert threads.apply_thread_policy(1) == 1 == torch.get_num_threads()


@pytest.mark.parametrize("value", ["0", "many", "10000", "²"])
def test_a_bad_environment_value_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("CHATBOT_THREADS", value)
    with pytest.raises(ChatbotError, match="CHATBOT_THREADS"):
        threads.apply_thread_policy("auto")
