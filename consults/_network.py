"""The care network's tiers and referral priorities."""

from __future__ import annotations

from enum import StrEnum


class SiteTier(StrEnum):
    """Tiers of the three-tier care network (三级医疗救治网络); values match `sites.tier`."""

    HOME_BED = "home_bed"
    CARE_HOME = "care_home"
    COMMUNITY_HEALTH_CENTRE = "community_health_centre"
    TERTIARY_HOSPITAL = "tertiary_hospital"


class ReferralPriority(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    GREEN_CHANNEL = "green_channel"


# FHIR R4 request-priority codes (hl7.org/fhir/request-priority): the green channel is `stat`.
REFERRAL_PRIORITY_FHIR: dict[ReferralPriority, str] = {
    ReferralPriority.ROUTINE: "routine",
    ReferralPriority.URGENT: "urgent",
    ReferralPriority.GREEN_CHANNEL: "stat",
}

_UPWARD: dict[SiteTier, SiteTier | None] = {
    SiteTier.HOME_BED: SiteTier.COMMUNITY_HEALTH_CENTRE,
    SiteTier.CARE_HOME: SiteTier.COMMUNITY_HEALTH_CENTRE,
    SiteTier.COMMUNITY_HEALTH_CENTRE: SiteTier.TERTIARY_HOSPITAL,
    SiteTier.TERTIARY_HOSPITAL: None,
}


def next_tier_up(tier: SiteTier) -> SiteTier | None:
    """Where a routine referral goes next; the green channel may skip straight to a hospital."""
    return _UPWARD[tier]
