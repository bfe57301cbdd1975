"""The care network's tiers and referral priorities."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
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


TIER_LEVEL: dict[SiteTier, int] = {
    SiteTier.HOME_BED: 0,
    SiteTier.CARE_HOME: 0,
    SiteTier.COMMUNITY_HEALTH_CENTRE: 1,
    SiteTier.TERTIARY_HOSPITAL: 2,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AllianceMember:
    """A site's place in one alliance: its tier and the order it is tried in when escalating."""

    alliance_id: str
    site_id: str
    tier: SiteTier
    escalation_rank: int = 0


def escalation_target(
    members: Iterable[AllianceMember], *, tier: SiteTier, tried: Collection[str]
) -> str | None:
    """The next site of `tier` in the alliance not yet tried (lowest rank first), or None: then
    the alliance's on-call coordinator takes the referral."""
    candidates = sorted(
        (m for m in members if m.tier is tier and m.site_id not in tried),
        key=lambda m: (m.escalation_rank, m.site_id),
    )
    return candidates[0].site_id if candidates else None


def visible_site_ids(viewer_site_id: str, members: Iterable[AllianceMember]) -> frozenset[str]:
    """The sites whose consults and referrals a viewer may see: every member of every alliance the
    viewer belongs to. A site in no alliance sees only its own."""
    rows = list(members)
    alliances = {m.alliance_id for m in rows if m.site_id == viewer_site_id}
    return frozenset({m.site_id for m in rows if m.alliance_id in alliances} | {viewer_site_id})
