"""FHIR R4 export validated with fhir.resources' R4B models (FHIR 4.3, R4-compatible for these
resources; the pinned fhir.resources 8.x has no plain R4 package)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from consults import (
    Advice,
    AdviceAction,
    ConsultUrgency,
    ReferralPriority,
    TaskStatus,
    answer_consult,
    consult_bundle,
    referral_bundle,
    request_consult,
    request_referral,
    resident_bundle,
    transition_referral,
)
from tests.consults.support import ACTOR, T0, add_alert, write_vitals

MODELS = {
    "Patient": Patient,
    "Observation": Observation,
    "ServiceRequest": ServiceRequest,
    "Task": Task,
    "Communication": Communication,
}


def validated(bundle: dict[str, Any]) -> dict[str, list[Any]]:
    """Validate the bundle and each resource with its own model; resources by type."""
    Bundle.model_validate(bundle)
    by_type: dict[str, list[Any]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        model = MODELS[resource["resourceType"]].model_validate(resource)
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
        by_type.setdefault(resource["resourceType"], []).append(model)
    return by_type


def test_resident_export_has_loinc_and_ucum_vitals(network: psycopg.Connection) -> None:
    conn = network
    write_vitals(
        conn, "mat-r1", "demo-care-home", start=T0 - timedelta(hours=2), heart_rates=[72, 76]
    )
    resources = validated(resident_bundle(conn, "r1", now=T0))
    (patient,) = resources["Patient"]
    assert patient.identifier[0].value == "r1"
    codes = {
        (o.code.coding[0].system, o.code.coding[0].code, o.valueQuantity.code)
        for o in resources["Observation"]
    }
    assert codes == {("http://loinc.org", "8867-4", "/min"), ("http://loinc.org", "9279-1", "/min")}
    hr = next(o for o in resources["Observation"] if o.code.coding[0].code == "8867-4")
    assert hr.valueQuantity.system == "http://unitsofmeasure.org"
    assert hr.category[0].coding[0].code == "vital-signs"
    assert hr.subject.reference == f"urn:uuid:{patient.id}"


def test_blood_pressure_exports_as_a_panel_and_spo2_with_both_codes() -> None:
    from consults._fhir import observations

    charts = {
        "systolic_bp": [{"hour": T0.isoformat(), "n": 2, "mean": 132.0}],
        "diastolic_bp": [{"hour": T0.isoformat(), "n": 2, "mean": 81.0}],
        "spo2": [{"hour": T0.isoformat(), "n": 60, "mean": 95.5}],
        "movement": [{"hour": T0.isoformat(), "n": 60, "mean": 0.2}],
    }
    found = [
        Observation.model_validate(o) for o in observations(charts, patient_uid="p", scope="s")
    ]
    spo2 = next(o for o in found if o.code.coding[0].code == "2708-6")
    assert [c.code for c in spo2.code.coding] == ["2708-6", "59408-5"]
    assert spo2.valueQuantity.code == "%"
    bp = next(o for o in found if o.code.coding[0].code == "85354-9")
    assert {(c.code.coding[0].code, c.valueQuantity.code) for c in bp.component} == {
        ("8480-6", "mm[Hg]"),
        ("8462-4", "mm[Hg]"),
    }
    assert len(found) == 2  # movement has no vital-sign code


def test_referral_export_green_channel_is_stat(network: psycopg.Connection) -> None:
    conn = network
    write_vitals(conn, "mat-r1", "demo-care-home", start=T0 - timedelta(hours=1), heart_rates=[150])
    alert_id = add_alert(conn, "r1")
    referral = request_referral(
        conn,
        resident_id="r1",
        priority=ReferralPriority.GREEN_CHANNEL,
        reason="HR 150",
        requested_by=ACTOR,
        now=T0,
        alert_ids=[alert_id],
        notes="on warfarin",
    )
    transition_referral(conn, referral.referral_id, TaskStatus.ACCEPTED, actor="dr-chen", now=T0)
    resources = validated(referral_bundle(conn, referral.referral_id, now=T0))
    (request,) = resources["ServiceRequest"]
    (task,) = resources["Task"]
    (handover,) = resources["Communication"]
    assert (request.priority, request.status, request.intent) == ("stat", "active", "order")
    assert (task.status, task.priority) == ("accepted", "stat")
    assert task.focus.reference == f"urn:uuid:{request.id}"
    assert task.restriction.period.end is not None
    assert "on warfarin" in handover.payload[0].contentString
    assert "tachycardia" in handover.payload[0].contentString
    assert request.supportingInfo  # the handover's observations


def test_consult_export_carries_question_and_advice(network: psycopg.Connection) -> None:
    conn = network
    consult = request_consult(
        conn,
        resident_id="r1",
        question="Is this AF?",
        urgency=ConsultUrgency.EMERGENCY,
        requested_by=ACTOR,
        now=T0,
    )
    answer_consult(
        conn,
        consult.consult_id,
        Advice(text="Keep monitoring", action=AdviceAction.KEEP_MONITORING),
        actor="dr-chen",
        now=T0 + timedelta(minutes=5),
    )
    resources = validated(consult_bundle(conn, consult.consult_id, now=T0))
    (task,) = resources["Task"]
    assert (task.status, task.priority) == ("completed", "stat")
    texts = [c.payload[0].contentString for c in resources["Communication"]]
    assert texts == ["Is this AF?", "Keep monitoring"]
