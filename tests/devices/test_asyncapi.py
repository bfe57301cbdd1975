"""The AsyncAPI document and the readable page are generated from the catalogue and up to date."""

from __future__ import annotations

from pathlib import Path

import yaml

from devices import (
    DEVICE_MODELS,
    PLAUSIBLE_RANGES,
    UNITS,
    Metric,
    Stream,
    asyncapi_document,
    asyncapi_yaml,
    metric_table_markdown,
)

ROOT = Path(__file__).resolve().parents[2]


def test_committed_asyncapi_yaml_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "asyncapi.yaml").read_text(encoding="utf-8")
    assert committed == asyncapi_yaml(), "run: eldercare asyncapi --output docs/asyncapi.yaml"


def test_yaml_parses_back_to_the_document() -> None:
    assert yaml.safe_load(asyncapi_yaml()) == asyncapi_document()


def test_document_is_asyncapi_3_with_one_channel_per_stream() -> None:
    doc = asyncapi_document()
    assert doc["asyncapi"] == "3.0.0"
    assert set(doc["channels"]) == {str(s) for s in Stream}
    for name, channel in doc["channels"].items():
        assert channel["address"] == f"{{namespace}}/v1/{{site}}/{{device_id}}/{name}"
        operation = doc["operations"][f"publish_{name}"]
        assert operation["action"] == "send"
        assert operation["channel"] == {"$ref": f"#/channels/{name}"}


def test_every_metric_is_in_the_schema_with_unit_range_and_source() -> None:
    values = asyncapi_document()["components"]["schemas"]["Values"]
    assert values["additionalProperties"] is False
    for metric in Metric:
        schema = values["properties"][str(metric)]
        plausible = PLAUSIBLE_RANGES[metric]
        assert (schema["minimum"], schema["maximum"]) == (plausible.low, plausible.high)
        assert str(UNITS[metric]) in schema["description"]
        assert plausible.source in schema["description"]


def test_every_device_model_is_listed_with_its_metrics() -> None:
    devices = asyncapi_document()["x-eldercare-devices"]
    assert set(devices) == set(DEVICE_MODELS)
    for key, model in DEVICE_MODELS.items():
        listed = [row["metric"] for row in devices[key]["metrics"]]
        assert listed == [str(spec.metric) for spec in model.metrics]
        assert devices[key]["stream"] == model.stream


def test_device_contract_page_shows_the_current_catalogue_table() -> None:
    page = (ROOT / "docs" / "device-contract.md").read_text(encoding="utf-8")
    assert metric_table_markdown() in page, "paste metric_table_markdown() into the page"


def test_every_model_stream_is_a_contract_stream() -> None:
    for model in DEVICE_MODELS.values():
        assert Stream(model.stream) is not Stream.STATUS
