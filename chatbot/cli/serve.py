"""The ``serve`` (Gradio web UI) and ``chat`` (terminal) verbs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from chatbot.cli.arguments import float_in, int_in
from chatbot.serving.http.settings import DEFAULT_KAKAO_BUDGET_S, TOKEN_ENV

LOOPBACK = ("127.0.0.1", "localhost", "::1")

SERVE_EXAMPLES = """\
examples:
  chatbot serve                                  the default bot (trained on first use)
  chatbot serve --model models/mine --port 8080  (from chatbot train default --out models/mine)
  chatbot serve --model default --log-db logs/dialog.sqlite

one server, one port (7860 by default):
  /                        the chat UI
  POST /api/v1/chat        {"message": "안녕하세요", "conversation_id": null} -> the reply
  POST /api/v1/feedback    {"conversation_id", "turn_index", "value": 1 | -1 | null}
  POST /webhooks/rest/webhook   Rasa's REST channel: {"sender", "message"}
  POST /kakao/skill        a Kakao i Open Builder skill (payload version 2.0)
  GET /healthz, /readyz, /metrics   probes and Prometheus metrics
  /api/docs                the API's documentation and schema

  curl -s localhost:7860/api/v1/chat -H 'content-type: application/json' \\
       -d '{"message": "오늘 너무 피곤해"}'
"""


def add_serving_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="the chat UI, a REST API and Rasa and Kakao channels, logging every turn",
        description="Serve a trained pipeline on one port: a web chat with a trace panel, a "
        "REST API, Rasa's REST channel, a Kakao skill, probes and metrics. Every turn is "
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
    serve.add_argument("--api-token", default=os.environ.get(TOKEN_ENV),
                       help=f"a secret the API and channel routes require as `Authorization: "
                       f"Bearer TOKEN` (default: ${TOKEN_ENV}; none: open, which serve "
                       "warns about when it binds beyond this machine)")
    serve.add_argument("--kakao-budget", type=float_in(0.1, 4.9), default=DEFAULT_KAKAO_BUDGET_S,
                       metavar="SECONDS", help="how long a Kakao skill call waits for its "
                       "reply before answering \"one moment\" (default 4.5; Kakao gives up "
                       "after 5)")
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
    import uvicorn

    from chatbot.serving.http.app import build_server
    from chatbot.serving.http.settings import ServerSettings

    if args.host not in LOOPBACK:
        print(f"warning: serving on {args.host}: other machines can reach this chat",
              file=sys.stderr)
        if not args.api_token:
            print(f"warning: no --api-token (or ${TOKEN_ENV}): anyone who reaches "
                  f"{args.host}:{args.port} can use the API and the channels", file=sys.stderr)
    app = build_server(service, ServerSettings(api_token=args.api_token,
                                               kakao_budget_s=args.kakao_budget))
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    print(f"chat UI at http://{shown}:{args.port}/ (API docs at /api/docs; Ctrl-C stops it)",
          flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                    timeout_graceful_shutdown=10)
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
