"""The contract as an AsyncAPI 3 document and a Markdown table, both generated from the catalogue.

``docs/asyncapi.yaml`` is this document written by ``eldercare asyncapi``; a test checks the
committed file is up to date, so the catalogue stays the one source of truth.
"""

from __future__ import annotations

import json
import re
from typing import Any

from devices._catalogue import DEVICE_MODELS, PLAUSIBLE_RANGES, UNITS, Metric
from devices._contract import CONTRACT_VERSION, SCHEMA_VERSION, Stream

# RFC 3339 date-time with a mandatory offset: what `decode_vitals` accepts.
RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _intervals(metric: Metric) -> str:
    rows = [
        f"{spec.report_interval_s:g} s ({model.key})"
        for model in DEVICE_MODELS.values()
        for spec in model.metrics
        if spec.metric is metric
    ]
    return ", ".join(rows) if rows else "not reported by any catalogued model"


def _metric_schema(metric: Metric) -> dict[str, Any]:
    plausible = PLAUSIBLE_RANGES[metric]
    return {
        "type": "number",
        "minimum": plausible.low,
        "maximum": plausible.high,
        "description": (
            f"unit (UCUM) {UNITS[metric]}; expected every {_intervals(metric)}. "
            f"Plausible range: {plausible.source}."
        ),
    }


def _schemas() -> dict[str, Any]:
    values = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {str(m): _metric_schema(m) for m in Metric},
        "description": "Metric name → value; names and units from the device catalogue.",
    }
    device_ts = {
        "type": "string",
        "format": "date-time",
        "pattern": RFC3339_PATTERN,
        "description": "The device's own clock, RFC 3339 with an offset (use Z).",
    }
    schema = {"type": "integer", "const": SCHEMA_VERSION, "description": "Payload schema version."}
    seq = {
        "type": "integer",
        "minimum": 0,
        "description": "Per-device message counter; a gap means lost messages.",
    }
    return {
        "DeviceTimestamp": device_ts,
        "Values": values,
        "Sample": {
            "type": "object",
            "required": ["device_ts", "values"],
            "properties": {
                "device_ts": {"$ref": "#/components/schemas/DeviceTimestamp"},
                "values": {"$ref": "#/components/schemas/Values"},
            },
        },
        "SingleSample": {
            "type": "object",
            "required": ["schema", "seq", "device_ts", "values"],
            "not": {"required": ["samples"]},
            "properties": {
                "schema": schema,
                "seq": seq,
                "device_ts": {"$ref": "#/components/schemas/DeviceTimestamp"},
                "values": {"$ref": "#/components/schemas/Values"},
            },
            "description": "One sample inline. Unknown top-level fields are ignored.",
        },
        "SampleBatch": {
            "type": "object",
            "required": ["schema", "seq", "samples"],
            "not": {"anyOf": [{"required": ["values"]}, {"required": ["device_ts"]}]},
            "properties": {
                "schema": schema,
                "seq": seq,
                "samples": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/components/schemas/Sample"},
                },
            },
            "description": "Several samples in one message, as firmware batches to save radio.",
        },
        "SamplesPayload": {
            "oneOf": [
                {"$ref": "#/components/schemas/SingleSample"},
                {"$ref": "#/components/schemas/SampleBatch"},
            ]
        },
        "StatusPayload": {
            "type": "object",
            "required": ["schema", "state"],
            "properties": {
                "schema": schema,
                "state": {"type": "string", "enum": ["online", "offline"]},
                "device_ts": {"$ref": "#/components/schemas/DeviceTimestamp"},
                "battery": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "Battery charge 0..1 (battery-powered devices).",
                },
            },
            "description": "Retained. Birth `online` after connecting; last will `offline`.",
        },
    }


_EXAMPLE_TS = "2026-11-24T03:12:09.000Z"

_STREAM_DOC: dict[Stream, tuple[str, str, list[dict[str, Any]]]] = {
    Stream.VITALS: (
        "SamplesPayload",
        "Periodic samples from bedside devices (mattress, pillow, oximeter). QoS 1.",
        [
            {
                "schema": SCHEMA_VERSION,
                "seq": 42,
                "device_ts": _EXAMPLE_TS,
                "values": {"heart_rate": 71, "respiration_rate": 14, "bed_presence": 1},
            }
        ],
    ),
    Stream.BP: (
        "SamplesPayload",
        "Blood-pressure cuff readings, every 15-60 min or on demand. QoS 1.",
        [
            {
                "schema": SCHEMA_VERSION,
                "seq": 7,
                "device_ts": _EXAMPLE_TS,
                "values": {
                    "systolic_bp": 138,
                    "diastolic_bp": 78,
                    "mean_arterial_pressure": 98,
                    "pulse_rate": 72,
                    "cuff_status": 0,
                },
            }
        ],
    ),
    Stream.STATUS: (
        "StatusPayload",
        "Retained availability: birth message `online`, last will `offline`. QoS 1.",
        [{"schema": SCHEMA_VERSION, "state": "online", "device_ts": _EXAMPLE_TS, "battery": 0.82}],
    ),
}


def asyncapi_document() -> dict[str, Any]:
    """The contract v1 as an AsyncAPI 3.0 document (a plain dict, JSON/YAML serialisable)."""
    parameters = {
        "namespace": {
            "description": "First topic level; private per deployment on shared brokers."
        },
        "site": {"description": f"Site id, {_ID_PATTERN}."},
        "device_id": {"description": f"Device id, {_ID_PATTERN}; registered to the site."},
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for stream, (payload, description, examples) in _STREAM_DOC.items():
        name = str(stream)
        messages[name] = {
            "name": name,
            "contentType": "application/json",
            "summary": description,
            "payload": {"$ref": f"#/components/schemas/{payload}"},
            "examples": [{"payload": example} for example in examples],
        }
        channels[name] = {
            "address": f"{{namespace}}/{CONTRACT_VERSION}/{{site}}/{{device_id}}/{name}",
            "description": description,
            "parameters": {key: {"$ref": f"#/components/parameters/{key}"} for key in parameters},
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"publish_{name}"] = {
            "action": "send",
            "summary": f"A device publishes on its {name} stream.",
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }
    devices = {
        model.key: {
            "name": model.name,
            "stream": model.stream,
            "metrics": [
                {
                    "metric": str(spec.metric),
                    "unit": str(spec.unit),
                    "report_interval_s": spec.report_interval_s,
                }
                for spec in model.metrics
            ],
        }
        for model in DEVICE_MODELS.values()
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "eldercare device contract",
            "version": f"{CONTRACT_VERSION}.{SCHEMA_VERSION}",
            "description": (
                "Bedside devices publish JSON (UTF-8) on "
                f"`{{namespace}}/{CONTRACT_VERSION}/{{site}}/{{device_id}}/{{stream}}`. "
                "Generated from devices/ (catalogue + contract); see docs/device-contract.md."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "parameters": parameters,
            "messages": messages,
            "schemas": _schemas(),
        },
        "x-eldercare-devices": devices,
    }


_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.-]*")


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    # JSON string escapes are valid YAML double-quoted scalars.
    return json.dumps(str(value), ensure_ascii=False)


def _key(key: str) -> str:
    return key if _PLAIN_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _emit(value: Any, indent: int, lines: list[str], prefix: str) -> None:
    pad = "  " * indent
    if isinstance(value, dict) and value:
        first = True
        for key, item in value.items():
            head = prefix if first else pad
            first = False
            if isinstance(item, dict | list) and item:
                lines.append(f"{head}{_key(key)}:")
                _emit(item, indent + 1, lines, "  " * (indent + 1))
            else:
                lines.append(f"{head}{_key(key)}: {_flow(item)}")
    elif isinstance(value, list) and value:
        first = True
        for item in value:
            head = prefix if first else pad
            first = False
            if isinstance(item, dict | list) and item:
                _emit(item, indent + 1, lines, f"{head}- ")
            else:
                lines.append(f"{head}- {_flow(item)}")
    else:
        lines.append(f"{prefix}{_flow(value)}")


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def asyncapi_yaml() -> str:
    """`asyncapi_document()` as YAML (block style, every string double-quoted)."""
    lines = ["# Generated by `eldercare asyncapi` from devices/; do not edit by hand."]
    _emit(asyncapi_document(), 0, lines, "")
    return "\n".join(lines) + "\n"


def metric_table_markdown() -> str:
    """The catalogue as the Markdown table docs/device-contract.md embeds."""
    rows = [
        "| device model | stream | metric | unit (UCUM) | plausible range | interval |",
        "|---|---|---|---|---|---|",
    ]
    for model in DEVICE_MODELS.values():
        for spec in model.metrics:
            plausible = PLAUSIBLE_RANGES[spec.metric]
            rows.append(
                f"| `{model.key}` | `{model.stream}` | `{spec.metric}` | `{spec.unit}` | "
                f"{plausible.low:g}–{plausible.high:g} | {spec.report_interval_s:g} s |"
            )
    return "\n".join(rows) + "\n"
