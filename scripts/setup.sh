#!/usr/bin/env bash
# Create .venv with the toolkit installed (editable). `--test` adds the test tools.
#
# torch is installed first, on purpose: with no torch present, pip resolves a plain "torch"
# requirement to the newest build with several GB of CUDA libraries. With torch 2.13.0 already
# installed, the project's range (torch>=2.2) installs nothing more.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
extras=""
if [ "${1:-}" = "--test" ]; then
  extras="[test]"
fi

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "installing torch 2.13.0 (before the project, see above)"
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
echo "installing the toolkit${extras:+ with $extras}"
.venv/bin/python -m pip install --quiet -e ".${extras}"
if [ -n "$extras" ]; then
  # The example third-party plugin, found through its entry point like any other; its tests
  # are part of the suite.
  echo "installing examples/chatbot-mask-profanity"
  .venv/bin/python -m pip install --quiet --no-deps -e examples/chatbot-mask-profanity
fi
if ! command -v java >/dev/null 2>&1; then
  echo "note: no Java runtime found; tokenize.konlpy needs one (Debian: apt-get install default-jdk-headless)"
fi
echo "ready: .venv/bin/chatbot --help"
