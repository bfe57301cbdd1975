"""FHIR R4 export: Patient, Observation (LOINC + UCUM), ServiceRequest, Task and Communication
as a `collection` Bundle for a resident, a referral or a consult.

Plain JSON dicts; the tests validate them with `fhir.resources.R4B` (FHIR 4.3, which keeps R4's
shape for these five resources). References inside a bundle are `urn:uuid:` full URLs derived
from our ids, so exporting twice gives the same bundle.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg

from consults._consults import Consult, get_consult
from consults._network import REFERRAL_PRIORITY_FHIR, ReferralPriority
from consults._referrals import Referral, get_referral
from consults._snapshot import build_snapshot, resident_row
from devices import UNITS, Metric

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
SITE_SYSTEM = "urn:eldercare:site"
RESIDENT_SYSTEM = "urn:eldercare:resident"

# LOINC codes for what the devices measure (see /work/shared/ARCHITECTURE.md); metrics without a
# vital-sign code (movement, sleep state, signal quality...) are not exported.
VITAL_LOINC: dict[Metric, tuple[tuple[str, str], ...]] = {
    Metric.HEART_RATE: (("8867-4", "Heart rate"),),
    Metric.PULSE_RATE: (("8867-4", "Heart rate"),),
    Metric.RESPIRATION_RATE: (("9279-1", "Respiratory rate"),),
    Metric.SPO2: (
        ("2708-6", "Oxygen saturation in Arterial blood"),
        ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
    ),
}
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_COMPONENTS: dict[Metric, tuple[str, str]] = {
    Metric.SYSTOLIC_BP: ("8480-6", "Systolic blood pressure"),
    Metric.DIASTOLIC_BP: ("8462-4", "Diastolic blood pressure"),
}
CONSULT_PRIORITY_FHIR = {"routine": "routine", "urgent": "urgent", "emergency": "stat"}
# ServiceRequest.status (request-status) for each Task status of ours.
REQUEST_STATUS = {
    "draft": "draft",
    "requested": "active",
    "accepted": "active",
    "in-progress": "active",
    "completed": "completed",
    "rejected": "revoked",
    "cancelled": "revoked",
}
_NAMESPACE = uuid.UUID("6f1c8a4e-5b7d-4c1e-9a3f-2d8e7b6c5a41")


def _uid(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts)))


def _ref(uid: str) -> dict[str, str]:
    return {"reference": f"urn:uuid:{uid}"}


def _site(site_id: str, name: str | None = None) -> dict[str, Any]:
    return {"identifier": {"system": SITE_SYSTEM, "value": site_id}, "display": name or site_id}


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def patient(resident: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": _uid("patient", resident["resident_id"]),
        "identifier": [{"system": RESIDENT_SYSTEM, "value": resident["resident_id"]}],
        "active": True,
        "name": [{"text": resident["display_name"]}],
        "managingOrganization": _site(resident["site_id"], resident.get("site_name")),
    }


def _quantity(value: float, metric: Metric) -> dict[str, Any]:
    unit = str(UNITS[metric])
    return {"value": round(float(value), 2), "unit": unit, "system": UCUM, "code": unit}


def observations(
    charts: Mapping[str, list[Mapping[str, Any]]], *, patient_uid: str, scope: str
) -> list[dict[str, Any]]:
    """Hourly means of the snapshot's chart series as vital-sign Observations."""
    vital_signs = {
        "coding": [_coding(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")],
        "text": "Vital Signs",
    }
    found: list[dict[str, Any]] = []
    bp_hours: dict[str, dict[Metric, float]] = {}
    for name, points in sorted(charts.items()):
        try:
            metric = Metric(name)
        except ValueError:
            continue
        for point in points:
            if metric in BP_COMPONENTS:
                bp_hours.setdefault(point["hour"], {})[metric] = point["mean"]
                continue
            codes = VITAL_LOINC.get(metric)
            if codes is None:
                continue
            found.append(
                {
                    "resourceType": "Observation",
                    "id": _uid("observation", scope, metric, point["hour"]),
                    "status": "final",
                    "category": [vital_signs],
                    "code": {
                        "coding": [_coding(LOINC, c, d) for c, d in codes],
                        "text": codes[0][1],
                    },
                    "subject": _ref(patient_uid),
                    "effectivePeriod": _hour(point["hour"]),
                    "valueQuantity": _quantity(point["mean"], metric),
                    "note": [{"text": f"hourly mean of {point['n']} samples"}],
                }
            )
    for hour, values in sorted(bp_hours.items()):
        found.append(
            {
                "resourceType": "Observation",
                "id": _uid("observation", scope, "bp", hour),
                "status": "final",
                "category": [vital_signs],
                "code": {"coding": [_coding(LOINC, *BP_PANEL)], "text": "Blood pressure"},
                "subject": _ref(patient_uid),
                "effectivePeriod": _hour(hour),
                "component": [
                    {
                        "code": {"coding": [_coding(LOINC, *BP_COMPONENTS[metric])]},
                        "valueQuantity": _quantity(value, metric),
                    }
                    for metric, value in sorted(values.items())
                ],
            }
        )
    return found


def _hour(start: str) -> dict[str, str]:
    begin = datetime.fromisoformat(start)
    return {"start": begin.isoformat(), "end": (begin + timedelta(hours=1)).isoformat()}


def _bundle(entries: list[dict[str, Any]], *, scope: str, now: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": _uid("bundle", scope, now.isoformat()),
        "type": "collection",
        "timestamp": now.isoformat(),
        "entry": [_entry(resource) for resource in entries],
    }


def resident_bundle(conn: psycopg.Connection, resident_id: str, *, now: datetime) -> dict[str, Any]:
    """Patient and the last 24 h of vital signs (hourly) for one resident."""
    resident = resident_row(conn, resident_id)
    snapshot = build_snapshot(conn, resident_id, now=now)
    pat = patient(resident)
    obs = observations(snapshot["charts"], patient_uid=pat["id"], scope=f"resident/{resident_id}")
    return _bundle([pat, *obs], scope=f"resident/{resident_id}", now=now)


def _task(
    *,
    scope: str,
    status: str,
    intent: str,
    priority: str,
    request_uid: str,
    patient_uid: str,
    authored: datetime,
    modified: datetime,
    requester: str,
    owner: dict[str, Any],
    deadline: datetime | None,
    reason: str | None,
    business_status: str | None,
) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": _uid("task", scope),
        "status": status,
        "intent": intent,
        "priority": priority,
        "code": {"coding": [_coding(TASK_CODE, "fulfill", "Fulfill the focal request")]},
        "focus": _ref(request_uid),
        "basedOn": [_ref(request_uid)],
        "for": _ref(patient_uid),
        "authoredOn": authored.isoformat(),
        "lastModified": modified.isoformat(),
        "requester": {"display": requester},
        "owner": owner,
    }
    if deadline is not None:
        task["restriction"] = {"period": {"end": deadline.isoformat()}}
    if reason:
        task["statusReason"] = {"text": reason}
    if business_status:
        task["businessStatus"] = {"text": business_status}
    return task


def _communication(
    *,
    uid: str,
    request_uid: str,
    patient_uid: str,
    sent: datetime,
    sender: str,
    topic: str,
    text: str,
) -> dict[str, Any]:
    return {
        "resourceType": "Communication",
        "id": uid,
        "basedOn": [_ref(request_uid)],
        "status": "completed",
        "subject": _ref(patient_uid),
        "topic": {"text": topic},
        "sent": sent.isoformat(),
        "sender": {"display": sender},
        "payload": [{"contentString": text}],
    }


def _handover_text(referral: Referral) -> str:
    handover = referral.handover
    lines = [f"Reason: {referral.reason}"]
    for vital in handover.get("vitals_24h", []):
        lines.append(
            f"{vital['metric']}: mean {vital['mean']:.1f} (min {vital['min']:.1f}, "
            f"max {vital['max']:.1f}, n {vital['n']}) over 24 h"
        )
    for alert in handover.get("alerts", []):
        lines.append(f"Alert {alert['alert_id']}: {alert['kind']} ({alert['severity']})")
    if referral.rehab_plan:
        lines.append(f"Rehabilitation plan: {referral.rehab_plan.get('summary', '')}")
        lines += [f"Goal: {goal}" for goal in referral.rehab_plan.get("goals", [])]
    if handover.get("notes"):
        lines.append(f"Notes: {handover['notes']}")
    return "\n".join(lines)


def referral_bundle(conn: psycopg.Connection, referral_id: int, *, now: datetime) -> dict[str, Any]:
    """Patient, the handover's vital signs, ServiceRequest + Task, and the handover packet as a
    Communication."""
    ref = get_referral(conn, referral_id)
    scope = f"referral/{referral_id}"
    pat = patient(resident_row(conn, ref.resident_id))
    obs = observations(ref.handover.get("charts", {}), patient_uid=pat["id"], scope=scope)
    request_uid = _uid("servicerequest", scope)
    priority = REFERRAL_PRIORITY_FHIR[ReferralPriority(ref.priority)]
    intent = "proposal" if ref.status == "draft" else "order"
    down = ref.direction == "down"
    service_request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": request_uid,
        "identifier": [{"system": "urn:eldercare:referral", "value": str(referral_id)}],
        "status": REQUEST_STATUS[ref.status],
        "intent": intent,
        "priority": priority,
        "code": {
            "coding": [_coding(SNOMED, "3457005", "Patient referral")],
            "text": "Back-referral for rehabilitation" if down else "Referral up the care network",
        },
        "subject": _ref(pat["id"]),
        "authoredOn": ref.requested_at.isoformat(),
        "requester": _site(ref.from_site_id),
        "performer": [_site(ref.to_site_id)],
        "reasonCode": [{"text": ref.reason}],
    }
    if obs:
        service_request["supportingInfo"] = [_ref(o["id"]) for o in obs]
    business = None
    if ref.coordinator_owned:
        business = "with the alliance's on-call coordinator"
    elif ref.escalation_level:
        business = f"escalated {ref.escalation_level} time(s)"
    task = _task(
        scope=scope,
        status=ref.status,
        intent=intent,
        priority=priority,
        request_uid=request_uid,
        patient_uid=pat["id"],
        authored=ref.requested_at,
        modified=ref.updated_at,
        requester=ref.requested_by,
        owner=_site(ref.to_site_id),
        deadline=ref.accept_by,
        reason=ref.status_reason,
        business_status=business,
    )
    handover = _communication(
        uid=_uid("communication", scope, "handover"),
        request_uid=request_uid,
        patient_uid=pat["id"],
        sent=ref.requested_at,
        sender=ref.requested_by,
        topic="rehabilitation plan" if down else "handover",
        text=_handover_text(ref),
    )
    return _bundle([pat, *obs, service_request, task, handover], scope=scope, now=now)


def consult_bundle(conn: psycopg.Connection, consult_id: int, *, now: datetime) -> dict[str, Any]:
    """Patient, the snapshot's vital signs, ServiceRequest + Task for the consult, the question
    and (when answered) the advice as Communications."""
    consult: Consult = get_consult(conn, consult_id)
    scope = f"consult/{consult_id}"
    pat = patient(resident_row(conn, consult.resident_id))
    obs = observations(consult.snapshot.get("charts", {}), patient_uid=pat["id"], scope=scope)
    request_uid = _uid("servicerequest", scope)
    priority = CONSULT_PRIORITY_FHIR[consult.urgency]
    service_request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": request_uid,
        "identifier": [{"system": "urn:eldercare:consult", "value": str(consult_id)}],
        "status": REQUEST_STATUS[consult.status],
        "intent": "order",
        "priority": priority,
        "code": {"coding": [_coding(SNOMED, "11429006", "Consultation")], "text": "Remote consult"},
        "subject": _ref(pat["id"]),
        "authoredOn": consult.requested_at.isoformat(),
        "requester": _site(consult.requesting_site_id),
        "performer": [_site(consult.target_site_id)],
        "reasonCode": [{"text": consult.question}],
    }
    if obs:
        service_request["supportingInfo"] = [_ref(o["id"]) for o in obs]
    task = _task(
        scope=scope,
        status=consult.status,
        intent="order",
        priority=priority,
        request_uid=request_uid,
        patient_uid=pat["id"],
        authored=consult.requested_at,
        modified=consult.updated_at,
        requester=consult.requested_by,
        owner=_site(consult.target_site_id),
        deadline=consult.respond_by,
        reason=None,
        business_status=None,
    )
    messages = [
        _communication(
            uid=_uid("communication", scope, "question"),
            request_uid=request_uid,
            patient_uid=pat["id"],
            sent=consult.requested_at,
            sender=consult.requested_by,
            topic="consult question",
            text=consult.question,
        )
    ]
    if consult.advice is not None and consult.answered_at is not None:
        messages.append(
            _communication(
                uid=_uid("communication", scope, "advice"),
                request_uid=request_uid,
                patient_uid=pat["id"],
                sent=consult.answered_at,
                sender=consult.answered_by or "specialist",
                topic=f"advice: {consult.advice_action}",
                text=consult.advice,
            )
        )
    return _bundle([pat, *obs, service_request, task, *messages], scope=scope, now=now)
