"""The ``serve`` (Gradio web UI) and ``chat`` (terminal) verbs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from chatbot.cli.arguments import int_in

SERVE_EXAMPLES = """\
examples:
  chatbot serve                                  the default bot (trained on first use)
  chatbot serve --model models/mine --port 8080  (from chatbot train default --out models/mine)
  chatbot serve --model default --log-db logs/dialog.sqlite

programs can call the `chat` endpoint (gradio_client):
  from gradio_client import Client
  client = Client("http://127.0.0.1:7860/")
  answer = client.predict("안녕하세요", "", api_name="/chat")
  client.predict("고마워", answer["conversation_id"], api_name="/chat")
"""


def add_serving_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="the Gradio chat UI (and a `chat` API), logging every turn",
        description="Serve a trained pipeline in a web chat with a trace panel. Every turn is "
        "written to the SQLite dialog log before its reply is shown. Binds 127.0.0.1 unless "
        "--host says otherwise; nothing is fetched from the internet.",
        epilog=SERVE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common_options(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 "
                       "opens it to the network)")
    serve.add_argument("--port", type=int_in(1, 65535), default=7860, help="port (default 7860)")
    serve.add_argument("--max-batch", type=int_in(1, 1024), default=32,
                       help="most concurrent messages processed as one batch (default 32; 1 "
                       "turns batching off)")
    serve.set_defaults(run=cmd_serve)

    chat = commands.add_parser(
        "chat", help="chat in the terminal (/trace shows the trace, /quit leaves)",
        description="A terminal chat with line editing and history. Turns are logged like "
        "the web UI's.")
    _add_common_options(chat)
    chat.add_argument("--trace", action="store_true", help="start with the trace shown")
    chat.set_defaults(run=cmd_chat)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="a trained pipeline directory (chatbot train), or "
                        "'default' (also when left out): the default bot, trained on the "
                        "bundled corpus on first use and cached")
    parser.add_argument("--log-db", type=Path,
                        help="the SQLite dialog log (default: $CHATBOT_LOG_DB, else "
                        "~/.local/share/korean-chatbot/dialog-log.sqlite)")


def _open_service(args: argparse.Namespace, max_batch: int = 1):
    from chatbot.data.logstore import LogStore
    from chatbot.default_model import DEFAULT_MODEL_NAME, model_directory
    from chatbot.pipeline import Pipeline
    from chatbot.serving.service import ChatService, default_log_db, model_version

    directory = model_directory(args.model or DEFAULT_MODEL_NAME, progress=True,
                                notify=lambda line: print(line, file=sys.stderr))
    print(f"loading {directory}", file=sys.stderr)
    pipeline = Pipeline.load(directory)  # a broken directory stops here with a clear error
    pipeline.warm_up()
    log_db = args.log_db or default_log_db()
    log_db.parent.mkdir(parents=True, exist_ok=True)
    service = ChatService(pipeline, LogStore(log_db), model_version(directory),
                          max_batch=max_batch)
    print(f"logging turns to {log_db}", file=sys.stderr)
    return service


def cmd_serve(args: argparse.Namespace) -> int:
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_OFFLINE"] = "1"
    service = _open_service(args, max_batch=args.max_batch)
    from chatbot.serving.web import launch

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: other machines can reach this chat",
              file=sys.stderr)
    try:
        app = launch(service, host=args.host, port=args.port, block=False)
        print(f"chat UI at {app.local_url} (Ctrl-C stops it)", flush=True)
        app.block_thread()  # until Ctrl-C
    finally:
        service.close()
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from chatbot.default_model import models_dir
    from chatbot.serving.terminal import run_terminal_chat

    service = _open_service(args)
    try:
        run_terminal_chat(service, sys.stdout, show_trace=args.trace,
                          history_file=models_dir().parent / "chat-history")
    finally:
        service.close()
    return 0
