"""Test doubles and test helpers for code that uses EventBridge.

So far: the pytest plugin's clock (``eventbus_clock`` fixture and marker,
registered through the ``pytest11`` entry point when eventbus is installed)
and assertions whose failure messages say why (``assert_matches``,
``assert_no_match``, ``assert_rule_matched``, ``assert_delivered``).  boto3 answered in process
and the world it talks to come next (issue #12).
"""

from ._assertions import assert_delivered, assert_matches, assert_no_match, assert_rule_matched

__all__ = ["assert_delivered", "assert_matches", "assert_no_match", "assert_rule_matched"]
