"""``python -m statusbot``."""

import sys

from statusbot.cli import main

sys.exit(main())
