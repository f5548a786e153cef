"""A template's topology as a Mermaid flowchart, drawn from the template alone.

``topology(source)`` plans the template (no ``World``, no handler imported)
and draws buses, rules (their pattern summarised, or their schedule) and
their targets, dead-letter queues (dashed, labelled DLQ), schedules, pipes
(source -> pipe -> enrichment -> target), event source mappings (queue ->
function), queue redrive (dashed) and Lambda destinations.  Resources the
template holds but eventbus does not model are drawn too, dashed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from ._document import TemplateSource, read
from ._kinds import Planned
from ._plan import Plan, plan

__all__ = ["mermaid_label", "mermaid_topology", "summarise_pattern"]

_SHAPES = {"bus": ('[["', '"]]'), "rule": ('{{"', '"}}'), "function": ('(["', '"])'), "queue": ('[("', '")]'),
           "schedule": ('>"', '"]'), "pipe": ('[/"', '"/]'), "archive": ('[("', '")]'), "": ('["', '"]')}
_ESCAPES = {"#": "#35;", '"': "#34;", "<": "#60;", ">": "#62;", "&": "#38;", "|": "#124;", "`": "#96;"}


def mermaid_label(text: str) -> str:
    """``text`` safe inside a quoted Mermaid label (entity codes; lines joined by ``<br/>``)."""
    escaped = "".join(_ESCAPES.get(char, char) for char in text)
    return "<br/>".join(escaped.splitlines() or [""])


def _leaves(pattern: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(pattern, Mapping) and not (path and all(isinstance(k, str) and k in _OPERATORS for k in pattern)):
        out: list[tuple[str, Any]] = []
        for key, value in pattern.items():
            if key == "$or" and isinstance(value, list):
                out.append((f"{path}$or" if not path else f"{path}.$or", f"{len(value)} alternatives"))
                continue
            out += _leaves(value, f"{path}.{key}" if path else str(key))
        return out
    return [(path, pattern)]


_OPERATORS = frozenset({"prefix", "suffix", "anything-but", "numeric", "exists", "cidr", "equals-ignore-case",
                        "wildcard"})


def summarise_pattern(pattern: Any, *, fields: int = 4, width: int = 48) -> str:
    """An event pattern in a few lines: ``path: value, value`` per field, cut to
    ``width`` characters, at most ``fields`` fields (then ``+N more``)."""
    if isinstance(pattern, str):
        text: str = pattern
        try:
            pattern = json.loads(text)
        except ValueError:
            return text[:width]
    lines = []
    leaves = _leaves(pattern)
    for path, values in leaves[:fields]:
        items = values if isinstance(values, list) else [values]
        text = ", ".join(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for v in items)
        line = f"{path}: {text}"
        lines.append(line if len(line) <= width else line[: width - 1] + "…")
    if len(leaves) > fields:
        lines.append(f"+{len(leaves) - fields} more")
    return "\n".join(lines)


class _Graph:
    def __init__(self, result: Plan) -> None:
        self.result = result
        self.nodes: dict[str, str] = {}  # id -> declaration
        self.edges: list[str] = []
        self.dashed: set[str] = set()
        self.by_arn = result.by_arn()
        self.by_name = {(p.kind, p.name): logical_id for logical_id, p in result.resources.items() if p.kind}

    def node(self, planned: Planned) -> str:
        node_id = "n_" + planned.logical_id
        if node_id not in self.nodes:
            kind = planned.kind if planned.kind in _SHAPES else ""
            label = f"{kind or planned.type}: {planned.extra.get('label', planned.name)}"
            if kind == "rule":
                props = planned.properties
                detail = props.get("ScheduleExpression") or summarise_pattern(props.get("EventPattern") or {})
                label += "\n" + str(detail)
            elif kind == "schedule":
                label = (f"schedule: {planned.extra.get('group', 'default')}/{planned.extra.get('label')}\n"
                         f"{planned.properties.get('ScheduleExpression', '')}")
            open_, close = _SHAPES[kind]
            self.nodes[node_id] = f"{node_id}{open_}{mermaid_label(label)}{close}"
            if planned.unmodelled and not planned.calls or not kind:
                self.dashed.add(node_id)
        return node_id

    def external(self, kind: str, text: str) -> str:
        tail = re.sub(r"\W+", "_", text.rsplit(":", 1)[-1].rsplit("/", 1)[-1])[:32]
        node_id = f"ext_{tail}_{hashlib.sha256(text.encode()).hexdigest()[:6]}"
        if node_id not in self.nodes:
            open_, close = _SHAPES.get(kind, _SHAPES[""])
            label = mermaid_label(f"{kind or 'external'}: {text}")
            self.nodes[node_id] = f"{node_id}{open_}{label}{close}"
            self.dashed.add(node_id)
        return node_id

    def find(self, value: Any, kind: str = "") -> str | None:
        """The node for an ARN, queue URL or (with ``kind``) a name."""
        if not isinstance(value, str) or not value:
            return None
        logical_id = self.by_arn.get(value) or self.by_name.get((kind, value))
        if logical_id is None and kind == "bus" and value.startswith("arn:"):
            logical_id = self.by_name.get(("bus", value.rsplit("event-bus/", 1)[-1]))
        if logical_id is not None:
            return self.node(self.result.resources[logical_id])
        if kind == "" and value.startswith("arn:"):
            parts = value.split(":")
            kind = {"lambda": "function", "sqs": "queue", "events": "bus"}.get(parts[2] if len(parts) > 2 else "", "")
            if kind == "bus":
                value = value.rsplit("event-bus/", 1)[-1]
        return self.external(kind, value)

    def edge(self, source: str | None, target: str | None, label: str = "", *, dashed: bool = False) -> None:
        if source is None or target is None:
            return
        arrow = "-.->" if dashed else "-->"
        if label:
            arrow += '|"' + mermaid_label(label) + '"|'
        self.edges.append(f"{source} {arrow} {target}")

    def draw(self) -> str:
        for logical_id in self.result.order:
            planned = self.result.resources[logical_id]
            if planned.ignored is not None or planned.kind == "schedule-group":
                continue
            if planned.kind:
                getattr(self, "_" + planned.kind.replace("-", "_"))(planned)
            else:  # a type eventbus does not model: drawn, dashed
                self.node(planned)
        lines = ["flowchart LR", *(f"    {n}" for n in self.nodes.values()), *(f"    {e}" for e in self.edges)]
        if self.dashed:
            lines.append("    classDef unmodelled stroke-dasharray: 5 5")
            lines.append(f"    class {','.join(sorted(self.dashed))} unmodelled")
        return "\n".join(lines) + "\n"

    # -- one resource of each kind ---------------------------------------------------------
    def _bus(self, planned: Planned) -> None:
        self.node(planned)

    def _archive(self, planned: Planned) -> None:
        self.edge(self.find(planned.properties.get("SourceArn"), "bus"), self.node(planned), "archive",
                  dashed=True)

    def _rule(self, planned: Planned) -> None:
        props = planned.properties
        rule = self.node(planned)
        if "EventPattern" in props or "ScheduleExpression" not in props:
            self.edge(self.find(str(props.get("EventBusName") or "default"), "bus"), rule)
        for target in props.get("Targets") or []:
            if not isinstance(target, Mapping):
                continue
            label = str(target.get("Id", ""))
            if "InputTransformer" in target:
                label += " (input transformer)"
            elif "InputPath" in target:
                label += " (input path)"
            elif "Input" in target:
                label += " (constant input)"
            self.edge(rule, self.find(target.get("Arn")), label)
            dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
            self.edge(rule, self.find(dead_letter), f"DLQ of {target.get('Id', '')}", dashed=True)

    def _schedule(self, planned: Planned) -> None:
        node = self.node(planned)
        target = planned.properties.get("Target") or {}
        self.edge(node, self.find(target.get("Arn")), "target")
        self.edge(node, self.find((target.get("DeadLetterConfig") or {}).get("Arn")), "DLQ", dashed=True)

    def _pipe(self, planned: Planned) -> None:
        props = planned.properties
        pipe = self.node(planned)
        self.edge(self.find(props.get("Source")), pipe, "source")
        enrichment = self.find(props.get("Enrichment"))
        if enrichment is not None:
            self.edge(pipe, enrichment, "enrichment")
        self.edge(enrichment or pipe, self.find(props.get("Target")), f"{planned.name} target")

    def _queue(self, planned: Planned) -> None:
        node = self.node(planned)
        redrive = planned.properties.get("RedrivePolicy")
        if isinstance(redrive, str):
            try:
                redrive = json.loads(redrive)
            except ValueError:
                redrive = None
        if isinstance(redrive, Mapping):
            self.edge(node, self.find(redrive.get("deadLetterTargetArn")),
                      f"redrive after {redrive.get('maxReceiveCount', '?')} receives", dashed=True)

    def _function(self, planned: Planned) -> None:
        node = self.node(planned)
        dead_letter = (planned.properties.get("DeadLetterConfig") or {}).get("TargetArn")
        self.edge(node, self.find(dead_letter), "DLQ", dashed=True)

    def _event_source_mapping(self, planned: Planned) -> None:
        props = planned.properties
        label = "event source mapping" + (f", batch {props['BatchSize']}" if "BatchSize" in props else "")
        if (props.get("FilterCriteria") or {}).get("Filters"):
            label += ", filtered"
        self.edge(self.find(props.get("EventSourceArn")), self.find(props.get("FunctionName"), "function"), label)

    def _invoke_config(self, planned: Planned) -> None:
        function = self.find(planned.properties.get("FunctionName"), "function")
        destinations = planned.properties.get("DestinationConfig") or {}
        for side, text, dashed in (("OnSuccess", "on success", False), ("OnFailure", "on failure", True)):
            self.edge(function, self.find((destinations.get(side) or {}).get("Destination")), text, dashed=dashed)


def mermaid_topology(source: TemplateSource, *, parameters: Mapping[str, Any] | None = None) -> str:
    """The template's topology as Mermaid ``flowchart LR`` text (see the module notes)."""
    return _Graph(plan(read(source, parameters), account="123456789012", region="us-east-1")).draw()
