"""`python -m bot` is the `linli` command."""

import sys

from bot.cli import main

sys.exit(main())
