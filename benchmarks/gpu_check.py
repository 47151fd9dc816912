"""What the toolkit does on a GPU, in one run (benchmarks/gpu_check.sh runs it).

    python benchmarks/gpu_check.py [--device cuda] [--chatbotdata PATH] [--quick]

1. The device and the torch and CUDA versions.
2. Training speed of the Transformer encoder-decoder (respond.seq2seq's ``architecture:
   transformer``): the same fixed number of steps on the CPU (fp32) and on the device (bf16
   autocast), examples/s of each and the ratio.
3. ``configs/chatbotdata_gpu.yaml`` fine-tuned end to end on the device through the shared
   training loop, and scored on ChatbotData dev as benchmarks/generators.py scores it (BLEU-4
   and chrF on morphemes, distinct-2, the gold answers' perplexity). ``--chatbotdata`` names
   ChatbotData's CSV (a device machine cannot download it); without it the bundled corpus
   stands in, and the results say so.
4. ``torchrun --nproc_per_node 1`` through deploy/train-distributed.sh (NCCL on a GPU, gloo on
   the CPU) trains a small pipeline and saves it.

Writes benchmarks/results/gpu_check.json. ``--quick`` shrinks every part and writes nothing,
to try the script on a CPU before spending device time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # chatbot, from a checkout
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import write_results  # noqa: E402

from chatbot.config import load_config  # noqa: E402
from chatbot.data.corpus import Corpus  # noqa: E402
from chatbot.evaluation import metrics  # noqa: E402
from chatbot.pipeline import Pipeline  # noqa: E402
from chatbot.training.device import autocast  # noqa: E402
from chatbot_plugins.generation.transformer_model import TransformerSeq2Seq  # noqa: E402

TINY_PIPELINE = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: respond.seq2seq
    architecture: transformer
    hidden: 64
    heads: 4
    layers: 1
    ff_dim: 128
    vocab_size: 2000
    epochs: 1
training:
  datasets: [demo]
"""


def device_info(device: torch.device) -> dict:
    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": str(device)}
    if device.type == "cuda":
        info.update(name=torch.cuda.get_device_name(device),
                    memory_gib=round(torch.cuda.get_device_properties(device).total_memory
                                     / 2**30, 1),
                    bf16=torch.cuda.is_bf16_supported())
    return info


def training_speed(device: torch.device, steps: int, quick: bool) -> dict:
    """Examples/s of the same Transformer training steps on the CPU and on ``device``."""
    sizes = dict(dim=128, heads=4, layers=1, ff_dim=256) if quick else dict(
        dim=512, heads=8, layers=4, ff_dim=2048)
    batch, length, vocab = (16, 16, 1000) if quick else (128, 32, 8000)
    speeds = {}
    for where, dtype in (("cpu", torch.float32), (device.type, torch.bfloat16)):
        if where == "cpu" and speeds.get("cpu"):
            continue
        torch.manual_seed(0)
        model = TransformerSeq2Seq(vocab, dropout=0.1, **sizes).to(where)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        source = torch.randint(5, vocab, (batch, length), device=where)
        target = torch.randint(5, vocab, (batch, length + 1), device=where)
        for step in range(steps + 3):  # three warm-up steps, not timed
            if step == 3:
                if where != "cpu":
                    torch.cuda.synchronize()
                started = time.perf_counter()
            with autocast(torch.device(where), dtype):
                logits = model(source, target[:, :-1])  # (batch, length, vocab)
                loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(),
                                                         target[:, 1:].flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if where != "cpu":
            torch.cuda.synchronize()
        speeds[where if where == "cpu" else "device"] = round(
            steps * batch / (time.perf_counter() - started), 1)
    speeds.setdefault("device", speeds["cpu"])
    return {"model": sizes, "batch": batch, "length": length, "steps": steps,
            "cpu_examples_per_second": speeds["cpu"],
            "device_examples_per_second_bf16": speeds["device"],
            "device_over_cpu": round(speeds["device"] / speeds["cpu"], 2)}


def fine_tune(device: str, chatbotdata: str | None, quick: bool) -> dict:
    """configs/chatbotdata_gpu.yaml trained on the device and scored on ChatbotData dev."""
    from dialog import chatbotdata_splits
    from generators import seq2seq_scores

    from chatbot.data.datasets import load_dataset

    if chatbotdata:
        subprocess.run([sys.executable, "-m", "chatbot.cli", "data", "add", "chatbotdata",
                        chatbotdata], check=True)
        train, _, dev = chatbotdata_splits(50 if quick else None)
        data = "chatbotdata"
    else:  # the bundled corpus stands in: the numbers are not ChatbotData's
        pairs = [e for e in load_dataset("demo").examples if e.answer and not e.history]
        train, dev = pairs[: int(len(pairs) * 0.9)], pairs[int(len(pairs) * 0.9):]
        dev = dev[:50] if quick else dev
        data = "demo (no --chatbotdata given)"
    train = train[:500] if quick else train
    overrides = [f"training.device={device}"] + ([] if device.startswith("cuda") else [
        "training.precision=fp32"]) + ([
            f"{plugin}.{key}={value}" for plugin in ("respond.seq2seq", "fallback.lm")
            for key, value in (("epochs", 1), ("layers", 1), ("hidden", 64), ("ff_dim", 128),
                               ("vocab_size", 2000))] if quick else [])
    pipeline = Pipeline.from_config(load_config(ROOT / "configs" / "chatbotdata_gpu.yaml",
                                                overrides))
    started = time.perf_counter()
    pipeline.fit(Corpus(examples=list(train), name=data), progress=True)
    seconds = time.perf_counter() - started
    references = [e.answer for e in dev]
    scores = seq2seq_scores(pipeline, dev, references, metrics.morphemes(references))
    history = pipeline.plugins[1].history
    return {"data": data, "train": len(train), "dev": len(dev),
            "train_seconds": round(seconds, 1), "best_epoch": history.best_epoch,
            "train_examples_per_second": round(history.examples_per_second, 1), **scores}


def torchrun_check(device: str) -> dict:
    """One process under torchrun (NCCL on a GPU, gloo on the CPU) trains and saves."""
    with tempfile.TemporaryDirectory() as folder:
        config, out = Path(folder) / "tiny.yaml", Path(folder) / "model"
        config.write_text(TINY_PIPELINE, encoding="utf-8")
        environment = {**os.environ, "NPROC": "1", "DEVICE": device}
        started = time.perf_counter()
        done = subprocess.run(["bash", str(ROOT / "deploy" / "train-distributed.sh"),
                               str(config), str(out), "--quiet"], env=environment,
                              capture_output=True, text=True)
        return {"backend": "nccl" if device.startswith("cuda") else "gloo",
                "exit_status": done.returncode, "saved": (out / "manifest.json").is_file(),
                "seconds": round(time.perf_counter() - started, 1),
                "output_tail": (done.stdout + done.stderr)[-1500:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu, to try it")
    parser.add_argument("--chatbotdata", help="ChatbotData's CSV, to fine-tune and score on")
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the script")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu --quick to try the script", file=sys.stderr)
        return 2
    results = {"device": device_info(device)}
    print(json.dumps(results["device"]), file=sys.stderr, flush=True)
    results["training_speed"] = training_speed(device, 5 if args.quick else 30, args.quick)
    print(json.dumps(results["training_speed"]), file=sys.stderr, flush=True)
    results["fine_tune"] = fine_tune(args.device, args.chatbotdata, args.quick)
    print(json.dumps({k: v for k, v in results["fine_tune"].items() if k != "examples"},
                     ensure_ascii=False), file=sys.stderr, flush=True)
    results["torchrun"] = torchrun_check(args.device)
    print(json.dumps({k: v for k, v in results["torchrun"].items() if k != "output_tail"}),
          file=sys.stderr, flush=True)
    if args.quick:  # a trial: nothing to keep
        print("quick run: nothing written", file=sys.stderr)
    else:
        print(f"wrote {write_results('gpu_check', results)}", file=sys.stderr)
    return 0 if results["torchrun"]["saved"] else 1


if __name__ == "__main__":
    sys.exit(main())
