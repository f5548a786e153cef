"""Property tests of the test-double toolkit's algorithms, each against a plain reference:
the template planner's creation order, the AWS double's paging, Lambda's FunctionName forms."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventbus import ResourceNotFoundError, ValidationError, World
from eventbus._aws._common import AwsError, page
from eventbus._template._intrinsics import order

NODES = st.lists(st.sampled_from("ABCDEFGHIJ"), min_size=1, max_size=10, unique=True)


@st.composite
def graphs(draw: Any) -> dict[str, list[str]]:
    nodes = draw(NODES)
    return {node: draw(st.lists(st.sampled_from(nodes), max_size=4, unique=True)) for node in nodes}


def _acyclic(graph: dict[str, list[str]]) -> bool:
    """The reference: Kahn's algorithm (remove nodes without dependencies until none is left, or none can go)."""
    left = {node: set(deps) for node, deps in graph.items()}
    while left:
        free = [node for node, deps in left.items() if not deps & set(left)]
        if not free:
            return False
        for node in free:
            del left[node]
    return True


@given(graphs())
def test_the_creation_order_puts_each_resource_after_what_it_depends_on(graph: dict[str, list[str]]) -> None:
    if _acyclic(graph):
        created = order(graph)
        assert sorted(created) == sorted(graph)
        position = {node: at for at, node in enumerate(created)}
        assert all(position[dep] < position[node] for node, deps in graph.items() for dep in deps)
    else:
        with pytest.raises(ValidationError, match="Circular dependency between resources: ") as caught:
            order(graph)
        cycle = str(caught.value).split(": ", 1)[1].split(" -> ")
        assert cycle[0] == cycle[-1]  # a real cycle of the graph, named in order
        assert all(cycle[at + 1] in graph[cycle[at]] for at in range(len(cycle) - 1))


@given(st.lists(st.integers(), max_size=30), st.integers(1, 12))
def test_following_next_tokens_gives_every_item_once_in_order(items: list[int], limit: int) -> None:
    seen: list[int] = []
    params: dict[str, Any] = {"Limit": limit}
    for _ in range(len(items) + 2):
        answer = page(items, params, "Items")
        assert len(answer["Items"]) <= limit
        seen += answer["Items"]
        if "NextToken" not in answer:
            break
        params = {"Limit": limit, "NextToken": answer["NextToken"]}
    assert seen == items


@given(st.text(max_size=5))
def test_a_token_the_list_never_gave_is_refused(token: str) -> None:
    items = list(range(3))
    if re.fullmatch(r"\s*[+-]?\d+\s*", token) and 0 <= int(token) <= 3:
        return  # (one the list could have given)
    with pytest.raises(AwsError, match="nextToken provided is invalid"):
        page(items, {"NextToken": token}, "Items")


NAMES = st.from_regex(r"[a-zA-Z0-9_-]{1,20}", fullmatch=True)


@given(NAMES, st.sampled_from(["us-east-1", "eu-west-1"]), st.sampled_from(["123456789012", "999999999999"]),
       st.sampled_from([None, "$LATEST", "7", "live"]), st.integers(0, 3))
def test_every_functionname_form_finds_the_function_only_in_this_account_and_region(
        name: str, region: str, account: str, qualifier: str | None, form: int) -> None:
    world = World()
    world.register_function(name, lambda event, context: None)
    text = [name, f"{account}:function:{name}", f"{region}:{account}:function:{name}",
            f"arn:aws:lambda:{region}:{account}:function:{name}"][form]
    if form == 0:
        region, account = world.region, world.account  # (a bare name is this account's and region's)
    elif form == 1:
        region = world.region  # (no region given: this one's)
    if qualifier is not None:
        text += f":{qualifier}"
    here = region == world.region and account == world.account and qualifier in (None, "$LATEST")
    if here:
        assert world.function_entry(text).name == name
    else:
        with pytest.raises(ResourceNotFoundError, match=f"Function not found: arn:aws:lambda:{region}:{account}"):
            world.function_entry(text)
