"""Test doubles and test helpers for code that uses EventBridge.

* ``mock_aws()``: boto3's events, scheduler, pipes, lambda and sqs clients
  answered in process from an ``eventbus.World`` (decorator, context manager,
  and the pytest plugin's ``eventbus_aws`` fixture);
* the pytest plugin (``pytest11`` entry point): the ``eventbus_clock``,
  ``eventbus_world`` and ``eventbus_aws`` fixtures and the ``eventbus_clock``
  marker;
* assertions whose failure messages say why (``assert_matches``,
  ``assert_no_match``, ``assert_rule_matched``, ``assert_delivered`` ...).
"""

from .._aws import supported
from .._exceptions import UnsupportedOperationError
from .._world import World
from ._assertions import (
    assert_dead_lettered,
    assert_delivered,
    assert_matches,
    assert_no_match,
    assert_received,
    assert_rule_matched,
)
from ._mock import MockAws, current_world, mock_aws

__all__ = ["MockAws", "UnsupportedOperationError", "World", "assert_dead_lettered", "assert_delivered",
           "assert_matches", "assert_no_match", "assert_received", "assert_rule_matched", "current_world", "mock_aws",
           "supported"]
