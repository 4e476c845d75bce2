"""``python -m statusbot``."""

import sys

from statusbot.entry import main

sys.exit(main())
