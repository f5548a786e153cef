"""The pytest plugin's clock (fixture and marker) and the testing assertions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventbus import EventBus, ManualClock, Target
from eventbus.testing import assert_delivered, assert_matches, assert_no_match, assert_rule_matched

pytest_plugins = ["pytester"]


def test_the_fixture_is_a_manual_clock_and_the_default_for_the_test(eventbus_clock: ManualClock) -> None:
    bus = EventBus()  # no clock given: the fixture's
    assert bus.clock is eventbus_clock
    assert eventbus_clock.now() == datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.eventbus_clock(start="2026-03-29T00:30:00Z", seed=7)
def test_the_marker_starts_the_clock_where_asked(eventbus_clock: ManualClock) -> None:
    assert eventbus_clock.now() == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert eventbus_clock.seed == 7


def test_the_plugin_is_registered_and_checks_its_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        from datetime import datetime, UTC

        @pytest.mark.eventbus_clock(start=datetime(2030, 1, 1))
        def test_a_datetime_start(eventbus_clock):
            assert eventbus_clock.now().year == 2030

        @pytest.mark.eventbus_clock(start="tomorrow")
        def test_bad_start(eventbus_clock):
            pass

        @pytest.mark.eventbus_clock(begin="2030-01-01")
        def test_unknown_setting(eventbus_clock):
            pass

        def test_shut_down_after(eventbus_clock, request):
            request.addfinalizer(lambda: None)
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(["*eventbus_clock(start='tomorrow'): not an ISO 8601 time*",
                                 "*has no setting 'begin' (start, seed)*"])


def test_assert_matches_says_why_not() -> None:
    event = {"source": "shop", "detail": {"state": "draft"}}
    assert_matches({"source": ["shop"]}, event)
    with pytest.raises(AssertionError) as raised:
        assert_matches({"detail": {"state": ["paid"]}}, event)
    assert str(raised.value) == (
        'the event does not match the pattern\n  pattern: {"detail": {"state": ["paid"]}}\n  event: {"source": '
        '"shop", "detail": {"state": "draft"}}\nNO MATCH\n  detail.state: wants ["paid"]; the event holds "draft": '
        'FAILED')
    assert_no_match({"detail": {"state": ["paid"]}}, event)
    with pytest.raises(AssertionError, match="the event matches the pattern"):
        assert_no_match('{"source": ["shop"]}', event)


def test_assert_rule_matched_shows_the_journey_and_the_pattern(eventbus_clock: ManualClock) -> None:
    bus = EventBus()
    bus.put_rule("paid", event_pattern={"detail": {"state": ["paid"]}})
    bus.put_rule("any", event_pattern={"source": ["shop"]})
    bus.put_targets("any", [Target(lambda event: None, target_id="t")])
    event_id = bus.publish(source="shop", detail_type="Order", detail={"state": "draft"})
    eventbus_clock.run_until_idle()
    assert_rule_matched(bus, event_id, "any")
    with pytest.raises(AssertionError) as raised:
        assert_rule_matched(bus, event_id, "paid")
    message = str(raised.value)
    assert message.startswith(f"event {event_id} did not match rule 'paid' of bus default\nevent {event_id} "
                              "(shop / Order) on bus default at 2024-01-01T00:00:00Z: matched any")
    assert message.endswith("""  rule 'paid' (ENABLED) has the pattern {"detail": {"state": ["paid"]}}""")
    with pytest.raises(AssertionError, match="the bus has no rule 'gone'"):
        assert_rule_matched(bus, event_id, "gone")
    with pytest.raises(AssertionError, match="No journey for event 'nope'"):
        assert_rule_matched(bus, "nope", "any")


def test_assert_delivered_checks_the_outcome_and_the_attempts(eventbus_clock: ManualClock) -> None:
    bus = EventBus()
    calls = []

    def flaky(event: dict[str, object]) -> None:
        calls.append(event)
        if len(calls) < 3:
            raise ConnectionError("down")

    bus.put_rule("all", event_pattern={"source": ["shop"]})
    bus.put_targets("all", [Target(flaky, target_id="flaky")])
    event_id = bus.publish(source="shop", detail_type="Order", detail={})
    eventbus_clock.run_until_idle()
    delivery = assert_delivered(bus, event_id, "flaky", attempts=3)
    assert delivery.ended_as == "succeeded"
    with pytest.raises(AssertionError) as raised:
        assert_delivered(bus, event_id, "flaky", ended_as="dead_lettered", attempts=1)
    assert str(raised.value).startswith(f"event {event_id}'s delivery to target 'flaky' ended as succeeded, not "
                                        "dead_lettered and took 3 attempts, not 1\nevent ")
    assert "attempt 1 at 2024-01-01T00:00:00Z: ConnectionError: down" in str(raised.value)
    with pytest.raises(AssertionError, match="has no delivery to target 'other' through rule 'all'"):
        assert_delivered(bus, event_id, "other", rule="all")
