"""OTLP/HTTP trace exports, as the emulator takes them (``POST /opentelemetry/v1/traces``): each span an
event of the session its attributes name, the way the vendor's tracers set them.

JSON (``application/json``) is read with the standard library; protobuf (``application/x-protobuf``)
with ``opentelemetry-proto``'s messages, imported only when such an export arrives. Both become the same
spans (ids in hex, as OTLP/JSON writes them), then the same events.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

#: Where the vendor's tracers put the session of a span (an attribute; from their baggage).
SESSION_ATTRIBUTES = ("honeyhive.session_id", "honeyhive_session_id", "traceloop.association.properties.session_id",
                      "session_id")
#: Where they put its source: the Python tracer sets honeyhive.source, the Node tracer (on Traceloop) only
#: the association property.
SOURCE_ATTRIBUTES = ("honeyhive_source", "honeyhive.source", "traceloop.association.properties.source")
#: The event's object fields, from attributes ``honeyhive_<field>`` (a JSON string, or flattened:
#: ``honeyhive_inputs.query``) or ``honeyhive.<field>``.
OBJECT_FIELDS = ("inputs", "outputs", "config", "metadata", "metrics", "feedback", "user_properties")
#: The event types of the vendor's Event schema; a span that names none is a tool.
EVENT_TYPES = ("model", "tool", "chain")
#: A namespace for the event ids derived from (trace id, span id): a span's id is the same in every export.
SPAN_NAMESPACE = uuid.UUID("9f4c2b1e-7a3d-4e5f-8b6a-0c1d2e3f4a5b")


class MalformedExport(ValueError):
    """An export that cannot be read (answered 400 in OTLP's error shape)."""


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def spans_from_json(document: Any) -> list[Span]:
    if not isinstance(document, dict):
        raise MalformedExport("the export must be an object with resourceSpans")
    spans = []
    for resource in _list(document.get("resourceSpans", []), "resourceSpans"):
        for scope in _list(_dict(resource, "resourceSpans[]").get("scopeSpans", []), "scopeSpans"):
            for raw in _list(_dict(scope, "scopeSpans[]").get("spans", []), "spans"):
                raw = _dict(raw, "spans[]")
                found = raw.get("status")
                status: dict[str, Any] = found if isinstance(found, dict) else {}
                spans.append(Span(
                    trace_id=_hex_id(raw.get("traceId"), "traceId"), span_id=_hex_id(raw.get("spanId"), "spanId"),
                    parent_span_id=_hex_id(raw.get("parentSpanId") or "", "parentSpanId", empty=True),
                    name=str(raw.get("name") or ""),
                    start_ns=_int(raw.get("startTimeUnixNano", 0), "startTimeUnixNano"),
                    end_ns=_int(raw.get("endTimeUnixNano", 0), "endTimeUnixNano"),
                    attributes={str(a.get("key")): _value(a.get("value")) for a in _list(raw.get("attributes", []), "attributes")
                                if isinstance(a, dict)},
                    error=(status.get("message") or "error") if status.get("code") in (2, "STATUS_CODE_ERROR") else None,
                ))
    return spans


def spans_from_protobuf(body: bytes) -> list[Span]:
    try:
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    except ImportError as exc:  # pragma: no cover - installed with hhsession
        raise MalformedExport(f"protobuf exports need opentelemetry-proto ({exc})") from None
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise MalformedExport(f"not an ExportTraceServiceRequest ({exc})") from None
    document = MessageToDict(request)  # (ids come as base64 there: hex, as OTLP/JSON writes them)
    for resource in document.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64decode(span[key]).hex()
    return spans_from_json(document)


def events_from_spans(spans: list[Span]) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """(session id, event document) of each span that names its session, and how many named none."""
    events, rejected = [], 0
    for span in spans:
        attributes = span.attributes
        session_id = next((str(attributes[k]) for k in SESSION_ATTRIBUTES if attributes.get(k)), None)
        if session_id is None:
            rejected += 1
            continue
        event_type = _first(attributes, "event_type")
        document: dict[str, Any] = {
            "event_id": str(uuid.uuid5(SPAN_NAMESPACE, span.trace_id + span.span_id)),
            "parent_id": (str(uuid.uuid5(SPAN_NAMESPACE, span.trace_id + span.parent_span_id))
                          if span.parent_span_id else None),
            "event_type": event_type if event_type in EVENT_TYPES else "tool",
            "event_name": _first(attributes, "event_name") or span.name or "unknown",
            "source": next((str(attributes[k]) for k in SOURCE_ATTRIBUTES if attributes.get(k)), "otel"),
            "start_time": (span.start_ns + 500_000) // 1_000_000,  # whole ms (ns do not fit a float)
            "end_time": (span.end_ns + 500_000) // 1_000_000,
            "error": _first(attributes, "error") or span.error,
        }
        for name in OBJECT_FIELDS:
            value = _object(attributes, name)
            if value:
                document[name] = value
        events.append((session_id, document))
    return events, rejected


# --------------------------------------------------------------------------- helpers


def _first(attributes: dict[str, Any], name: str) -> Any:
    for key in (f"honeyhive_{name}", f"honeyhive.{name}"):
        if attributes.get(key) not in (None, ""):
            return attributes[key]
    return None


def _object(attributes: dict[str, Any], name: str) -> dict[str, Any]:
    """``honeyhive_<name>`` as JSON text or an object, and ``honeyhive_<name>.a.b`` flattened keys, merged."""
    found: dict[str, Any] = {}
    for prefix in (f"honeyhive_{name}", f"honeyhive.{name}"):
        whole = attributes.get(prefix)
        if isinstance(whole, str):
            try:
                whole = json.loads(whole)
            except ValueError:
                whole = {"value": whole}
        if isinstance(whole, dict):
            found.update(whole)
        for key, value in attributes.items():
            if key.startswith(prefix + "."):
                target = found
                *parents, last = key[len(prefix) + 1:].split(".")
                for part in parents:
                    target = target.setdefault(part, {}) if isinstance(target.get(part, {}), dict) else {}
                target[last] = value
    return found


def _value(value: Any) -> Any:
    """An OTLP AnyValue, as a plain value."""
    if not isinstance(value, dict) or not value:
        return None
    kind, inner = next(iter(value.items()))
    if kind == "stringValue":
        return str(inner)
    if kind == "boolValue":
        return bool(inner)
    if kind == "intValue":
        return _int(inner, "intValue")
    if kind == "doubleValue":
        return float(inner)
    if kind == "bytesValue":
        return str(inner)
    if kind == "arrayValue":
        return [_value(item) for item in (inner or {}).get("values", [])]
    if kind == "kvlistValue":
        return {str(item.get("key")): _value(item.get("value")) for item in (inner or {}).get("values", [])}
    return None


def _hex_id(value: Any, name: str, empty: bool = False) -> str:
    text = value if isinstance(value, str) else ""
    if (empty and text == "") or (text and all(c in "0123456789abcdefABCDEF" for c in text)):
        return text.lower()
    raise MalformedExport(f"{name} must be a hex id, not {value!r:.40}")


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MalformedExport(f"{name} must be an integer, not {value!r:.40}") from None


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedExport(f"{name} must be an array")
    return value


def _dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedExport(f"{name} must be an object")
    return value
