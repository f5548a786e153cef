"""``python -m eventbus``: test-pattern, explain, next-fires (the demo is tested in test_public_api)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from eventbus.__main__ import main

EVENT = {"version": "0", "id": "1", "account": "123456789012", "source": "shop", "time": "2026-01-01T00:00:00Z",
         "region": "us-east-1", "detail-type": "Order Placed", "resources": [], "detail": {"state": "paid"}}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["eventbus", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_test_pattern_answers_as_aws_does_with_an_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "test-pattern", '{"source": ["shop"]}', json.dumps(EVENT)) == (0, "true\n", "")
    assert run(capsys, "test-pattern", '{"source": ["bank"]}', json.dumps(EVENT)) == (1, "false\n", "")


def test_explain_prints_why(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "pattern.json").write_text('{"detail": {"state": ["shipped"]}}')
    code, out, err = run(capsys, "explain", f"@{tmp_path / 'pattern.json'}", json.dumps(EVENT))
    assert (code, err) == (1, "")
    assert out == 'NO MATCH\n  detail.state: wants ["shipped"]; the event holds "paid": FAILED\n'
    assert run(capsys, "explain", '{"detail": {"state": ["paid"]}}', json.dumps(EVENT))[:2] == (
        0, 'MATCH\n  detail.state: wants ["paid"]; the event holds "paid": ok\n')


def test_an_argument_can_come_from_standard_input(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(EVENT)))
    assert run(capsys, "test-pattern", '{"source": ["shop"]}', "-") == (0, "true\n", "")


def test_next_fires_in_a_time_zone(capsys: pytest.CaptureFixture[str]) -> None:
    # Europe/Paris moves to summer time on 2026-03-29 (02:00 CET -> 03:00 CEST)
    code, out, err = run(capsys, "next-fires", "cron(30 9 ? * MON-FRI *)", "--tz", "Europe/Paris", "-n", "3",
                         "--after", "2026-03-27T00:00:00Z")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["2026-03-27T09:30:00+01:00", "2026-03-30T09:30:00+02:00",
                                "2026-03-31T09:30:00+02:00"]


@pytest.mark.parametrize(("args", "message"), [
    (["test-pattern", '{"source": "shop"}', json.dumps(EVENT)],
     'error: Event pattern is not valid. Reason: "source" must be an object or an array'),
    (["test-pattern", '{"source": ["shop"]}', '{"source": "shop"}'], "error: Parameter Event is not valid."),
    (["explain", '{"source": ["shop"]}', "@/nonexistent/event.json"], "error: [Errno 2] No such file or directory"),
    (["next-fires", "cron(bad)"], "error: Invalid Schedule Expression cron(bad)."),
    (["next-fires", "rate(1 hour)", "-n", "0"], "error: -n must be at least 1, not 0"),
    (["next-fires", "rate(1 hour)", "--after", "yesterday"], "error: Invalid isoformat string: 'yesterday'"),
    (["next-fires", "rate(1 hour)", "--tz", "Mars/Olympus"], "error: "),
])
def test_bad_input_is_said_plainly_with_status_2(capsys: pytest.CaptureFixture[str], args: list[str],
                                                 message: str) -> None:
    code, out, err = run(capsys, *args)
    assert (code, out) == (2, "")
    assert err.startswith(message), err
    assert "Traceback" not in err


def test_the_module_runs_as_a_command() -> None:
    result = subprocess.run([sys.executable, "-m", "eventbus", "next-fires", "rate(2 hours)", "-n", "2", "--after",
                             "2026-01-01T00:00:00+00:00"], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, "2026-01-01T02:00:00+00:00\n2026-01-01T04:00:00+00:00\n")
