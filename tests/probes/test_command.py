"""Command probe: real child processes (sys.executable -c …); the deadline kills the group."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from statusbot.model import State
from statusbot.probes import CommandCheck, ProbeContext, run_check
from statusbot.probes.command import probe


def python(code: str, *args: str, **fields: object) -> CommandCheck:
    return CommandCheck.model_validate(
        {"type": "command", "argv": [sys.executable, "-c", code, *args], **fields}
    )


def gone(pid: int) -> bool:
    """True when ``pid`` no longer exists at all: killed *and* reaped (a zombie still exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_exit_0_is_up(ctx: ProbeContext) -> None:
    outcome = await probe(python("print('fine')"), ctx)
    assert (outcome.state, outcome.reason) == (State.UP, "exit 0")
    assert outcome.latency is not None


async def test_exit_3_is_down_with_one_line_of_output(ctx: ProbeContext) -> None:
    code = (
        "import sys; print('checking'); print('boom:\\n  disk full', file=sys.stderr); sys.exit(3)"
    )
    outcome = await probe(python(code), ctx)
    assert (outcome.state, outcome.reason) == (State.DOWN, "exit 3: checking boom: disk full")


async def test_long_output_is_cut_to_its_last_200_chars(ctx: ProbeContext) -> None:
    outcome = await probe(python("print('x' * 5000 + ' the end'); raise SystemExit(1)"), ctx)
    assert outcome.reason.startswith("exit 1: …x")
    assert outcome.reason.endswith("x the end")
    assert len(outcome.reason) == len("exit 1: ") + 200


async def test_expect_exit_and_env_secrets(ctx: ProbeContext, tmp_path: Path) -> None:
    code = "import os; print('token', os.environ['PROBE_TOKEN'], os.getcwd()); raise SystemExit(2)"
    secret = "very-secret-token"
    failing = await probe(python(code, env={"PROBE_TOKEN": secret}, cwd=str(tmp_path)), ctx)
    assert failing.reason == f"exit 2: token ******** {tmp_path}"
    passing = await probe(python(code, env={"PROBE_TOKEN": secret}, expect_exit=[0, 2]), ctx)
    assert passing.state is State.UP


async def test_missing_program_is_down(ctx: ProbeContext) -> None:
    spec = CommandCheck(type="command", argv=["/nonexistent/statusbot-check"])
    outcome = await probe(spec, ctx)
    assert (outcome.state, outcome.reason) == (
        State.DOWN,
        "command not found: /nonexistent/statusbot-check",
    )


async def test_deadline_kills_and_reaps_the_child(ctx: ProbeContext, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
    outcome = await run_check(python(code, str(pid_file)), ctx, timeout=0.5)
    assert (outcome.state, outcome.reason) == (State.DOWN, "no answer within 0.5s")
    pid = int(pid_file.read_text())
    assert pid != os.getpid()
    assert gone(pid)
