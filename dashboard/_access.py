"""Roles, permissions and tenancy: who may do what, and whose records they may see. Pure: the
sites a staff member may see are computed once at login from the network and carried here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    NURSE = "nurse"
    CHARGE_NURSE = "charge_nurse"
    DOCTOR = "doctor"
    SITE_ADMIN = "site_admin"
    SPECIALIST = "specialist"
    NETWORK_ADMIN = "network_admin"


class Permission(StrEnum):
    VIEW_WARD = "view_ward"  # ward overview, residents' records, charts, alerts of the home site
    READ_RECORDS = "read_records"  # one resident's record: home site, or a case addressed to us
    VIEW_DEVICES = "view_devices"
    ACT_ON_ALERTS = "act_on_alerts"  # acknowledge, resolve, escalate
    WRITE_NOTES = "write_notes"
    COMPLETE_FOLLOW_UPS = "complete_follow_ups"
    VIEW_CASES = "view_cases"  # consults and referrals of the sites the user may see
    REQUEST_CONSULT = "request_consult"
    REQUEST_REFERRAL = "request_referral"
    ANSWER_CASES = "answer_cases"  # reply to consults, accept/reject referrals, refer back down
    SET_RISK_TIER = "set_risk_tier"
    OVERRIDE_THRESHOLDS = "override_thresholds"
    MANAGE_SITE = "manage_site"  # alert subscribers, escalation policies, on-call rota
    MANAGE_STAFF = "manage_staff"
    VIEW_ACCESS_AUDIT = "view_access_audit"


_CLINICAL_HOME = frozenset(
    {
        Permission.VIEW_WARD,
        Permission.READ_RECORDS,
        Permission.VIEW_DEVICES,
        Permission.ACT_ON_ALERTS,
        Permission.WRITE_NOTES,
        Permission.COMPLETE_FOLLOW_UPS,
        Permission.VIEW_CASES,
        Permission.REQUEST_CONSULT,
    }
)

# Least privilege: administrators manage people, devices and rotas but do not read clinical
# records; specialists see a resident only through a consult or referral sent to their site.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.NURSE: _CLINICAL_HOME,
    Role.CHARGE_NURSE: _CLINICAL_HOME | {Permission.REQUEST_REFERRAL, Permission.SET_RISK_TIER},
    Role.DOCTOR: _CLINICAL_HOME
    | {
        Permission.REQUEST_REFERRAL,
        Permission.ANSWER_CASES,
        Permission.SET_RISK_TIER,
        Permission.OVERRIDE_THRESHOLDS,
    },
    Role.SITE_ADMIN: frozenset(
        {
            Permission.VIEW_DEVICES,
            Permission.MANAGE_SITE,
            Permission.MANAGE_STAFF,
            Permission.VIEW_ACCESS_AUDIT,
        }
    ),
    Role.SPECIALIST: frozenset(
        {
            Permission.READ_RECORDS,
            Permission.VIEW_CASES,
            Permission.ANSWER_CASES,
            Permission.WRITE_NOTES,
            Permission.SET_RISK_TIER,
            Permission.OVERRIDE_THRESHOLDS,
        }
    ),
    Role.NETWORK_ADMIN: frozenset(
        {Permission.VIEW_CASES, Permission.MANAGE_STAFF, Permission.VIEW_ACCESS_AUDIT}
    ),
}

# Which roles an account manager may create: nobody creates a role above their own reach.
GRANTABLE_ROLES: dict[Role, frozenset[Role]] = {
    Role.SITE_ADMIN: frozenset(
        {Role.NURSE, Role.CHARGE_NURSE, Role.DOCTOR, Role.SPECIALIST, Role.SITE_ADMIN}
    ),
    Role.NETWORK_ADMIN: frozenset(Role),
}


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    """The logged-in staff member and the sites their records may come from.

    * ``site_id``: the user's own site (``None`` for a network admin);
    * ``home_site_ids``: sites whose residents, alerts and devices the user works with;
    * ``case_site_ids``: sites whose consults and referrals the user sees (a hospital sees its
      alliances' members, a care home itself, a network admin its alliance).
    """

    user_id: int
    username: str
    display_name: str
    role: Role
    site_id: str | None
    alliance_id: str | None
    locale: str
    home_site_ids: frozenset[str]
    case_site_ids: frozenset[str]

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    @property
    def permissions(self) -> frozenset[Permission]:
        return ROLE_PERMISSIONS[self.role]

    @property
    def administered_site_ids(self) -> frozenset[str]:
        """Sites whose accounts and audit an administrator looks after: a network admin's
        alliance members, anyone else's own site."""
        if self.site_id is None:
            return self.case_site_ids
        return frozenset({self.site_id})

    def sees_home(self, site_id: str) -> bool:
        return site_id in self.home_site_ids

    def sees_case(self, *site_ids: str) -> bool:
        """A consult or referral is visible when any of its sites is among the user's."""
        return any(s in self.case_site_ids for s in site_ids)

    def may_grant(self, role: Role) -> bool:
        return role in GRANTABLE_ROLES.get(self.role, frozenset())


def home_sites(role: Role, site_id: str | None) -> frozenset[str]:
    """Sites whose residents a role works with directly: its own, for the bedside roles."""
    if site_id is None or not (
        ROLE_PERMISSIONS[role] & {Permission.VIEW_WARD, Permission.VIEW_DEVICES}
    ):
        return frozenset()
    return frozenset({site_id})
