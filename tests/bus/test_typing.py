"""The PutEvents shapes are TypedDicts: a type checker catches a misspelt or mistyped entry."""

from __future__ import annotations

import os
import textwrap

from mypy import api


def test_mypy_checks_put_events_entries() -> None:
    snippet = textwrap.dedent('''
        import eventbus
        bus = eventbus.EventBus()
        ok = bus.put_events([{"Source": "shop", "DetailType": "t", "Detail": "{}", "Resources": ["arn:x"]}])
        count: int = ok["FailedEntryCount"]
        first = ok["Entries"][0].get("EventId")
        bus.put_events([{"Source": "shop", "DetailTyp": "t", "Detail": "{}"}])
        bus.put_events([{"Source": 5, "DetailType": "t", "Detail": "{}"}])
    ''')
    out, _, status = api.run(["--config-file", os.devnull, "--strict", "--no-incremental", "--no-error-summary",
                              "-c", snippet])
    lines = [line for line in out.splitlines() if "error:" in line]
    assert status == 1
    assert len(lines) == 2, out
    assert '"DetailTyp"' in lines[0] and "line 7" in lines[0].replace("<string>:7", "line 7")
    assert "Source" in lines[1] and "int" in lines[1]
