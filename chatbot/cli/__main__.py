"""``python -m chatbot.cli`` runs the command line."""

import sys

from chatbot.cli import main

sys.exit(main())
