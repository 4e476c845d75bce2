"""A daemon that has no DNS check and no social channel does not carry their libraries.

Each is imported on first use (dnspython 2.4 MB, Mastodon.py, tweepy, twitter-text, grapheme
and apprise about 20 MB of resident memory together); this fails when a module-level import
brings one back. PyYAML (1.1 MB) is needed only to read a config, which a large config does in
a child process (``config_child``).
"""

from __future__ import annotations

import json
import subprocess
import sys

LAZY = ("dns", "grapheme", "mastodon", "tweepy", "twitter_text", "apprise", "yaml", "difflib")

DAEMON_IMPORTS = """
import json, sys
from statusbot.cli import main
from statusbot import config_child, runtime, delivery, fitting, render
from statusbot.page import site
from statusbot.publishers import console
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1:]))))
"""


def test_the_daemons_imports_leave_out_what_only_some_configs_use() -> None:
    done = subprocess.run(
        [sys.executable, "-c", DAEMON_IMPORTS, *LAZY], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []
