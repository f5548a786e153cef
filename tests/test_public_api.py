"""The public surface: one sorted __all__, and the layering of the packages."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import eventbus

SRC = Path(eventbus.__file__).parent


def test_all_is_sorted_and_complete() -> None:
    assert eventbus.__all__ == sorted(eventbus.__all__)
    # (under pytest, the plugin imports the eventbus.testing subpackage, and pytest rewrites the asserts of a
    # plugin's distribution, adding its "@py_builtins" and "@pytest_ar" to each module)
    public = {name for name in dir(eventbus) if not name.startswith(("_", "@"))}
    assert set(eventbus.__all__) == public - {"annotations", "testing"}
    for name in eventbus.__all__:
        assert getattr(eventbus, name) is not None


def test_public_classes_present_themselves_as_eventbus() -> None:
    for name in ("RuleIndex", "EventPattern", "InvalidEventPatternError", "ValidationError", "EventBusError"):
        assert getattr(eventbus, name).__module__ == "eventbus"


def test_error_hierarchy() -> None:
    assert issubclass(eventbus.ValidationError, eventbus.EventBusError)
    assert issubclass(eventbus.ValidationError, ValueError)
    assert issubclass(eventbus.InvalidEventPatternError, eventbus.ValidationError)
    assert issubclass(eventbus.ResourceNotFoundError, LookupError)
    assert issubclass(eventbus.ClockClosedError, RuntimeError)
    assert issubclass(eventbus.LoopBlockingError, RuntimeError)
    assert issubclass(eventbus.WaitTimeoutError, TimeoutError)


def test_every_error_lives_in_the_exceptions_module_and_in_docs_errors_md() -> None:
    errors = [getattr(eventbus, name) for name in eventbus.__all__
              if isinstance(getattr(eventbus, name), type) and issubclass(getattr(eventbus, name), BaseException)]
    from eventbus import _exceptions

    assert {e.__name__ for e in errors} == set(_exceptions.__all__)
    for error in errors:
        assert issubclass(error, eventbus.EventBusError)
        assert getattr(_exceptions, error.__name__) is error
    page = (Path(__file__).parents[1] / "docs" / "errors.md").read_text()
    for error in errors:
        assert f"`{error.__name__}`" in page, error.__name__
    raised = {node.exc.func.id for path in SRC.rglob("*.py") if path.name != "__main__.py"
              for node in ast.walk(ast.parse(path.read_text()))
              if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
              and isinstance(node.exc.func, ast.Name) and node.exc.func.id.endswith("Error")}
    builtins = {"AssertionError", "AttributeError", "KeyError", "NotImplementedError"}
    # raised and caught inside eventbus: a json hook's ValueError, the wildcard parser's own error (re-raised as
    # InvalidEventPatternError), and a handler result that is not JSON (recorded as Runtime.MarshalError)
    # the AWS double's error answer (AwsError, turned into botocore's ClientError), a handler module that cannot
    # be imported (ImportError, reported at invoke as Lambda's Runtime.ImportModuleError)
    caught_inside = {"ValueError", "WildcardSyntaxError", "MarshalError", "AwsError", "ImportError",
                     "ImportModuleError"}
    assert raised - builtins - caught_inside <= set(_exceptions.__all__), raised


def test_the_package_is_typed() -> None:
    assert (SRC / "py.typed").exists()


def _imports(path: Path) -> set[str]:
    """What a module imports when it runs (``if TYPE_CHECKING:`` blocks are for type checkers alone)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                package = path.parent.relative_to(SRC.parent).parts
                base = list(package[: len(package) - node.level + 1])
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


def test_the_matcher_core_imports_only_the_standard_library_and_the_exceptions() -> None:
    allowed_own = {"eventbus._exceptions", "eventbus._stack"}
    # No scheduling and no time in the matcher; ``threading`` only for the lock
    # its writers take turns on (a fresh stack for deep patterns comes from
    # eventbus._stack, standard library only).
    forbidden_std = {"asyncio", "concurrent", "multiprocessing", "time", "datetime", "sched"}
    for path in sorted((SRC / "_pattern").glob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "eventbus":
                assert name.startswith("eventbus._pattern") or name in allowed_own, (path.name, name)
            else:
                assert top in sys.stdlib_module_names, (path.name, name)
                assert top not in forbidden_std, (path.name, name)
        used = set(re.findall(r"\bthreading\.(\w+)", path.read_text(encoding="utf-8")))
        assert used <= {"Lock"}, (path.name, used)


def test_demo_runs_and_shows_matches() -> None:
    result = subprocess.run([sys.executable, "-m", "eventbus", "demo"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "MATCH  ec2-running" in result.stdout
    assert "no     env=payments (across elements)" in result.stdout
    assert "Empty arrays are not allowed" in result.stdout
    assert "attempts: flaky +0s, broken +0s, flaky +60s, broken +60s, flaky +180s, broken +180s" in result.stdout
    assert "save-order succeeded on attempt 3" in result.stdout
    assert "check-order: 1 dead-lettered, 2 retries, 0 dropped" in result.stdout
    # the bus: a transformer, a failing target and its DLQ, a journey
    assert 'shipping queue holds {"ship": "o-17", "to": "Lyon", "rule": "order-placed"}' in result.stdout
    assert "rule order-placed -> target billing: dead_lettered (MaximumRetryAttempts" in result.stdout
    assert "the second event: matched no rule" in result.stdout
    assert "InvocationsSentToDLQ=1 UnmatchedEvents=1" in result.stdout
    # schedules: New York's daylight-saving change, a retry, a one-time schedule, a scheduled rule
    assert "Fri 06 14:30:00 UTC stand-up, attempt 2" in result.stdout
    assert "Mon 09 07:00:00 UTC launch {'go': True}" in result.stdout
    assert "Mon 09 13:30:00 UTC stand-up, attempt 1" in result.stdout
    assert "the nightly rule fired 7 times, a 'Scheduled Event' from aws.events; schedules left: ['standup']" in (
        result.stdout)
    # a pipe
    assert ("the target got one batch: [[{'ship': 1, 'express': True}, {'ship': 3, 'express': False}]]"
            in result.stdout)
    assert "'filtered': 1" in result.stdout and "0 messages left in the queue" in result.stdout


def test_unknown_command_prints_usage() -> None:
    result = subprocess.run([sys.executable, "-m", "eventbus", "nope"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_the_readme_example_runs() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = [part.split("```")[0] for part in readme.split("```python\n")[1:]]
    assert len(blocks) >= 2
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_only_the_clock_module_reads_the_time() -> None:
    readers = ("datetime.now", "datetime.utcnow", "time.time(", "time.monotonic", "time.perf_counter",
               "date.today", ".time()", "time.sleep")
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "_clock" or path.name == "__main__.py":  # the demo times itself for the reader
            continue
        text = path.read_text()
        offenders += [f"{path.name}: {r}" for r in readers if r in text]
    assert offenders == []


def test_the_delivery_layer_does_not_import_upper_layers() -> None:
    for path in sorted((SRC / "_delivery").glob("*.py")):
        for name in _imports(path):
            if name.startswith("eventbus"):
                assert name.startswith(("eventbus._delivery", "eventbus._clock", "eventbus._exceptions",
                                        "eventbus._validate", "eventbus._stack", "eventbus._transform",
                                        "eventbus._store")), (  # (the work store sits below delivery)
                    path.name, name)


def test_input_transformation_is_pure() -> None:
    """``_transform`` sits below delivery and buses: no clock, no threads, no delivery."""
    for name in _imports(SRC / "_transform.py"):
        if name.startswith("eventbus"):
            assert name.startswith(("eventbus._exceptions", "eventbus._validate")), name
        else:
            assert name.split(".")[0] in {"__future__", "json", "re", "collections", "dataclasses", "datetime",
                                          "typing"}, name


def test_the_bus_layer_sits_on_the_layers_below() -> None:
    for path in sorted((SRC / "_bus").glob("*.py")):
        for name in _imports(path):
            if name.startswith("eventbus"):
                assert not name.startswith(("eventbus.testing", "eventbus._pipes", "eventbus._scheduler")), (
                    path.name, name)


def test_schemas_sit_below_the_bus() -> None:
    """The registry, discovery and checks know nothing of buses: a bus calls them
    (they share the delivery layer's JSON codec)."""
    for path in sorted((SRC / "_schemas").glob("*.py")):
        for name in _imports(path):
            if name.startswith("eventbus"):
                assert name.startswith(("eventbus._schemas", "eventbus._exceptions", "eventbus._validate",
                                        "eventbus._clock", "eventbus._stack", "eventbus._delivery._payload")), (
                    path.name, name)


def test_archive_stores_sit_below_the_bus() -> None:
    """An archive store keeps records: the bus archives and replays through it,
    and it knows nothing of buses, clocks or delivery."""
    for path in sorted((SRC / "_archive").glob("*.py")):
        for name in _imports(path):
            if name.startswith("eventbus"):
                assert name.startswith(("eventbus._archive", "eventbus._exceptions", "eventbus._validate",
                                        "eventbus._sqlite")), (
                    path.name, name)


def test_the_schedule_layer_sits_beside_the_bus() -> None:
    """Schedules deliver through the delivery layer (an event bus is one more
    destination to them); the bus uses only their expressions and timers."""
    for path in sorted((SRC / "_schedule").glob("*.py")):
        for name in _imports(path):
            assert not name.startswith(("eventbus._bus", "eventbus._pattern")), (path.name, name)
    for path in sorted((SRC / "_bus").glob("*.py")):
        for name in _imports(path):
            if name.startswith("eventbus._schedule"):
                assert name in ("eventbus._schedule._expression", "eventbus._schedule._recurring"), (path.name, name)


def test_the_clock_imports_nothing_above_it() -> None:
    for path in sorted((SRC / "_clock").glob("*.py")):
        for name in _imports(path):
            if name.startswith("eventbus"):
                assert name.startswith(("eventbus._clock", "eventbus._exceptions", "eventbus._validate")), (
                    path.name, name)


def test_the_world_the_aws_double_and_templates_sit_below_the_testing_package() -> None:
    """``eventbus.World``, the AWS double (``_aws``) and ``load_template`` are the
    library's own: ``eventbus.testing`` (the boto3 glue, the plugin) sits on
    them, never the other way round, and only it touches boto3/botocore."""
    for path in [SRC / "_world.py", *sorted((SRC / "_aws").glob("*.py")), *sorted((SRC / "_template").glob("*.py"))]:
        for name in _imports(path):
            assert not name.startswith(("eventbus.testing", "boto3", "botocore", "moto")), (path.name, name)
    for path in sorted(SRC.rglob("*.py")):
        if "testing" in path.relative_to(SRC).parts:
            continue
        for name in _imports(path):
            assert not name.startswith(("boto3", "botocore")), (path, name)


def test_the_store_protocol_sits_at_the_bottom() -> None:
    """The work stores keep records, leases and due times: they know nothing of
    buses, targets, clocks or schedules (the callers pass every time in).  They
    keep archives too, with the archive stores' own records and statements
    (which know nothing of those either)."""
    for path in sorted((SRC / "_store").glob("*.py")):
        for name in _imports(path):
            if name.startswith("eventbus"):
                assert name.startswith(("eventbus._store", "eventbus._exceptions", "eventbus._validate",
                                        "eventbus._sqlite", "eventbus._archive._store",
                                        "eventbus._archive._sqlite")), (
                    path.name, name)
