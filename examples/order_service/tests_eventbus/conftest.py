"""Fixtures of the eventbus suite: every test runs inside ``eventbus.testing.mock_aws``, with the service
deployed by the same ``infra.deploy`` as under moto.

The Lambda functions' ``Handler`` (``order_service.handlers.<name>``) is imported and run in process, on
the world's virtual clock.  Nothing else differs from the moto suite's fixtures: no IAM role is needed
(eventbus does not model IAM), and no Docker setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from order_service import handlers, infra

from eventbus.testing import mock_aws

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("ORDERS_BUS", raising=False)


@pytest.fixture(autouse=True)
def _fresh_handlers() -> Iterator[None]:
    handlers.reset()
    yield
    handlers.reset()


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(region=REGION):
        yield


@pytest.fixture
def deployed(aws: None) -> dict[str, Any]:
    return infra.deploy(region=REGION)
