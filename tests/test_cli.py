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


# -- topology ---------------------------------------------------------------------------------------
TEMPLATES = Path(__file__).parent / "templates"


def test_topology_draws_a_cdk_template_as_a_mermaid_flowchart(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "topology", str(TEMPLATES / "cdk_order_service.json"))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "flowchart LR"
    for line in (
        'n_OrdersBus2F5D3C1A[["bus: orders"]]',
        # a rule: its pattern summarised (Mermaid entity codes for " and >)
        'n_OrderPlacedRuleA1B2C3D4{{"rule: OrderPlacedRule<br/>detail.total: {#34;numeric#34;:[#34;#62;#34;,0]}'
        '<br/>detail-type: OrderPlaced<br/>source: com.example.orders"}}',
        'n_SaveOrderFn6B1C3A2F(["function: SaveOrderFn"])',
        'n_NotifyDlq4F2E8B1C[("queue: NotifyDlq")]',
        'n_HourlyReportSchedule6C7D8E9F>"schedule: reports/HourlyReportSchedule<br/>rate(1 hour)"]',
        'n_ShipOrdersPipe2C3D4E5F[/"pipe: ship-orders"/]',
        # edges: bus -> rule -> target, DLQs dashed
        "n_OrdersBus2F5D3C1A --> n_OrderPlacedRuleA1B2C3D4",
        'n_OrderPlacedRuleA1B2C3D4 -->|"Target0 (input transformer)"| n_SaveOrderFn6B1C3A2F',
        'n_NotifyCustomerRule5E6F7A8B -.->|"DLQ of Target0"| n_NotifyDlq4F2E8B1C',
        'n_NotifyCustomerFn8F9A0B1C -.->|"DLQ"| n_NotifyDlq4F2E8B1C',
        'n_HourlyReportSchedule6C7D8E9F -->|"target"| n_HourlyReportFn0E1F2A3B',
        # the queue's redrive (dashed); the pipe: source -> pipe -> enrichment -> target
        'n_Shipments4E5F6A7B -.->|"redrive after 3 receives"| n_ShipmentsDlq0A1B2C3D',
        'n_Shipments4E5F6A7B -->|"source"| n_ShipOrdersPipe2C3D4E5F',
        'n_ShipOrdersPipe2C3D4E5F -->|"enrichment"| n_EnrichOrderFn2A3B4C5D',
        'n_EnrichOrderFn2A3B4C5D -->|"ship-orders target"| n_ShipOrderFn0C1D2E3F',
        # an event source mapping: queue -> function
        'n_ReturnsQueue6A7B8C9D -->|"event source mapping, batch 5"| n_ProcessReturnFn8A9B0C1D',
    ):
        assert "    " + line in lines, line
    # permissions and CDK metadata are not drawn
    assert "Role" not in out and "CDKMetadata" not in out and "Permission" not in out


def test_topology_draws_what_the_template_points_outside_it_dashed(capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    template = {"Resources": {
        "Flow": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"StateMachineName": "flow"}},
        "Rule": {"Type": "AWS::Events::Rule", "Properties": {
            "Name": 'say "hi" <now> & #1', "ScheduleExpression": "rate(5 minutes)",
            "Targets": [{"Id": "flow", "Arn": {"Ref": "Flow"}},
                        {"Id": "gone", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:gone"}]}}}}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template))
    code, out, err = run(capsys, "topology", str(path), "--output", str(tmp_path / "t.mmd"))
    assert (code, out, err) == (0, "", "")
    drawn = (tmp_path / "t.mmd").read_text().splitlines()
    assert '    n_Rule{{"rule: say #34;hi#34; #60;now#62; #38; #35;1<br/>rate(5 minutes)"}}' in drawn
    assert '    n_Flow["AWS::StepFunctions::StateMachine: flow"]' in drawn
    assert '    n_Rule -->|"flow"| n_Flow' in drawn
    [gone] = [line for line in drawn if line.startswith("    ext_gone_")]
    node = gone.split("(", 1)[0].strip()
    assert gone.endswith('(["function: arn:aws:lambda:us-east-1:123456789012:function:gone"])')
    assert f'    n_Rule -->|"gone"| {node}' in drawn
    assert drawn[-1] == f"    class {node},n_Flow unmodelled"


def test_topology_does_not_import_handlers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {
        "FunctionName": "f", "Handler": "eventbus_topology_never_imports_this.handler", "Code": {"ZipFile": "x"}}}}}))
    code, out, _ = run(capsys, "topology", str(path))
    assert code == 0 and '    n_F(["function: f"])' in out.splitlines()
    assert "eventbus_topology_never_imports_this" not in sys.modules


@pytest.mark.parametrize(("content", "message"), [
    (None, "error: [Errno 2] No such file or directory"),
    ("{not json", "is not JSON"),
    ('{"Resources": {}}', "error: Template format error: at least one Resources member must be defined."),
    ('{"Resources": {"A": {"Type": "AWS::SQS::Queue", "DependsOn": "A"}}}',
     "error: Circular dependency between resources: A -> A"),
])
def test_topology_of_a_missing_or_invalid_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                       content: str | None, message: str) -> None:
    path = tmp_path / "template.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run(capsys, "topology", str(path))
    assert (code, out) == (2, "")
    assert message in err and "Traceback" not in err
