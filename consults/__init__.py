"""Consults and referrals across the three-tier care network (care home / home bed → community
health centre → tertiary hospital, and back down for rehabilitation).

Pure parts: the FHIR Task state machine, deadlines, risk tiers, the green-channel policy and the
network's access and escalation rules. Storage functions take a connection and an explicit `now`;
`ConsultsWorker` (``eldercare consults``) runs the policy and the deadline escalation.
"""

from consults._audit import AuditEntry, audit_count, audit_trail
from consults._consults import (
    Advice,
    AdviceAction,
    Consult,
    answer_consult,
    consults_for_alert,
    get_consult,
    list_consults,
    request_consult,
    transition_consult,
)
from consults._deadlines import (
    CONSULT_RESPONSE_TIME,
    REFERRAL_ACCEPTANCE_TIME,
    ConsultUrgency,
    DeadlineRisk,
    accept_by,
    deadline_risk,
    respond_by,
)
from consults._demo import seed_demo_network
from consults._errors import ConsultsError, IllegalTransition, NetworkRuleError, NotFound
from consults._fhir import consult_bundle, referral_bundle, resident_bundle
from consults._followup import (
    FollowUpTask,
    complete_follow_up,
    effective_thresholds,
    ensure_follow_ups,
    expire_risk_tiers,
    follow_ups,
    set_risk_tier,
    set_thresholds,
)
from consults._handoff import HAND_OFF_ACTOR, HandOff, HandOffOutcome, apply_alert_hand_offs
from consults._network import (
    REFERRAL_PRIORITY_FHIR,
    TIER_LEVEL,
    AllianceMember,
    ReferralPriority,
    SiteTier,
    escalation_target,
    next_tier_up,
    visible_site_ids,
)
from consults._network_store import (
    add_alliance,
    add_department,
    add_member,
    add_route,
    add_specialist,
    network_overview,
    sites_visible_to,
)
from consults._policy import AlertFacts, GreenChannelPolicy, PolicyDecision, decide
from consults._referrals import (
    Escalation,
    Referral,
    RehabPlan,
    back_refer,
    escalate_overdue,
    get_referral,
    list_referrals,
    referrals_for_alert,
    request_referral,
    transition_referral,
)
from consults._risk import FOLLOW_UP_INTERVAL, RISK_THRESHOLDS, RiskTier, thresholds_for
from consults._snapshot import build_snapshot
from consults._states import TRANSITIONS, TaskStatus, Transition, allowed_moves, transition
from consults._views import DeadlineAtRisk, NetworkView, network_view
from consults._worker import (
    ConsultsWorker,
    PolicyOutcome,
    TickResult,
    apply_green_channel_policy,
    run_once,
)

__all__ = [
    "CONSULT_RESPONSE_TIME",
    "FOLLOW_UP_INTERVAL",
    "HAND_OFF_ACTOR",
    "REFERRAL_ACCEPTANCE_TIME",
    "REFERRAL_PRIORITY_FHIR",
    "RISK_THRESHOLDS",
    "TIER_LEVEL",
    "TRANSITIONS",
    "Advice",
    "AdviceAction",
    "AlertFacts",
    "AllianceMember",
    "AuditEntry",
    "Consult",
    "ConsultUrgency",
    "ConsultsError",
    "ConsultsWorker",
    "DeadlineAtRisk",
    "DeadlineRisk",
    "Escalation",
    "FollowUpTask",
    "GreenChannelPolicy",
    "HandOff",
    "HandOffOutcome",
    "IllegalTransition",
    "NetworkRuleError",
    "NetworkView",
    "NotFound",
    "PolicyDecision",
    "PolicyOutcome",
    "Referral",
    "ReferralPriority",
    "RehabPlan",
    "RiskTier",
    "SiteTier",
    "TaskStatus",
    "TickResult",
    "Transition",
    "accept_by",
    "add_alliance",
    "add_department",
    "add_member",
    "add_route",
    "add_specialist",
    "allowed_moves",
    "answer_consult",
    "apply_alert_hand_offs",
    "apply_green_channel_policy",
    "audit_count",
    "audit_trail",
    "back_refer",
    "build_snapshot",
    "complete_follow_up",
    "consult_bundle",
    "consults_for_alert",
    "deadline_risk",
    "decide",
    "effective_thresholds",
    "ensure_follow_ups",
    "escalate_overdue",
    "escalation_target",
    "expire_risk_tiers",
    "follow_ups",
    "get_consult",
    "get_referral",
    "list_consults",
    "list_referrals",
    "network_overview",
    "network_view",
    "next_tier_up",
    "referral_bundle",
    "referrals_for_alert",
    "request_consult",
    "request_referral",
    "resident_bundle",
    "respond_by",
    "run_once",
    "seed_demo_network",
    "set_risk_tier",
    "set_thresholds",
    "sites_visible_to",
    "thresholds_for",
    "transition",
    "transition_consult",
    "transition_referral",
    "visible_site_ids",
]
