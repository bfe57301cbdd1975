"""Consults and referrals across the three-tier care network (care home → community health centre →
tertiary hospital). The vocabulary is fixed here; the workflows grow in this package."""

from consults._network import REFERRAL_PRIORITY_FHIR, ReferralPriority, SiteTier, next_tier_up

__all__ = ["REFERRAL_PRIORITY_FHIR", "ReferralPriority", "SiteTier", "next_tier_up"]
