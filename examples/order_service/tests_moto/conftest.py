"""Fixtures of the moto suite: every test runs inside moto's ``mock_aws``, with the service deployed.

moto's Lambda runs functions in Docker unless told otherwise; there is no Docker here, so the suite
uses its "simple" Lambda (``use_docker: False``).  moto also refuses CreateFunction unless the role
exists in its IAM, so the fixture creates the role that ``infra.deploy`` expects the account to have.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from order_service import handlers, infra

REGION = "us-east-1"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


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
    with mock_aws(config={"lambda": {"use_docker": False}}):
        boto3.client("iam").create_role(RoleName="order-service", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
        yield


@pytest.fixture
def deployed(aws: None) -> dict[str, Any]:
    return infra.deploy(region=REGION)
