"""The network view: what a site's staff see of their alliance's consults and referrals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from consults._deadlines import REFERRAL_ACCEPTANCE_TIME, DeadlineRisk, deadline_risk
from consults._network import ReferralPriority
from consults._network_store import sites_visible_to


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadlineAtRisk:
    kind: str  # "consult" (response deadline) or "referral" (acceptance deadline)
    item_id: int
    resident_id: str
    status: str
    priority: str
    from_site_id: str
    to_site_id: str
    deadline: datetime
    risk: DeadlineRisk


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkView:
    viewer_site_id: str | None
    site_ids: tuple[str, ...]
    consults_by_status: dict[str, int]
    referrals_by_status: dict[str, int]
    at_risk: tuple[DeadlineAtRisk, ...]


_COUNTS = """
SELECT status, count(*) FROM {table}
WHERE {from_col} = ANY(%(sites)s) OR {to_col} = ANY(%(sites)s){also}
GROUP BY status
"""
# Open deadlines: a consult until it is answered, a referral until it is accepted.
_PENDING = """
SELECT 'consult', consult_id, resident_id, status, urgency, requesting_site_id, target_site_id,
       requested_at, respond_by
FROM consults
WHERE status IN ('requested', 'accepted', 'in-progress')
  AND (requesting_site_id = ANY(%(sites)s) OR target_site_id = ANY(%(sites)s))
UNION ALL
SELECT 'referral', referral_id, resident_id, status, priority, from_site_id, to_site_id,
       requested_at, accept_by
FROM referrals
WHERE status = 'requested' AND accept_by IS NOT NULL
  AND (from_site_id = ANY(%(sites)s) OR to_site_id = ANY(%(sites)s)
       OR tried_site_ids && %(sites)s::text[])
"""


def network_view(
    conn: psycopg.Connection,
    viewer_site_id: str | None = None,
    *,
    now: datetime,
    site_ids: frozenset[str] | None = None,
) -> NetworkView:
    """Counts by state and the deadlines at risk for the sites `viewer_site_id` may see (its
    alliances' members), or for exactly `site_ids` (the logged-in user's case sites); a site of
    another alliance sees none of them."""
    if site_ids is None:
        if viewer_site_id is None:
            raise TypeError("network_view needs viewer_site_id or site_ids")
        site_ids = sites_visible_to(conn, viewer_site_id)
    sites = sorted(site_ids)
    params = {"sites": sites}
    consults = dict(
        conn.execute(  # type: ignore[arg-type]
            _COUNTS.format(
                table="consults",
                from_col="requesting_site_id",
                to_col="target_site_id",
                also="",
            ),
            params,
        ).fetchall()
    )
    referrals = dict(
        conn.execute(  # type: ignore[arg-type]
            _COUNTS.format(
                table="referrals",
                from_col="from_site_id",
                to_col="to_site_id",
                also=" OR tried_site_ids && %(sites)s::text[]",
            ),
            params,
        ).fetchall()
    )
    at_risk = []
    for kind, item_id, resident, status, priority, src, dst, started, deadline in conn.execute(
        _PENDING, params
    ).fetchall():
        if kind == "referral":  # the window restarts at each escalation
            started = deadline - REFERRAL_ACCEPTANCE_TIME[ReferralPriority(priority)]
        risk = deadline_risk(started_at=started, deadline=deadline, now=now)
        if risk is not DeadlineRisk.OK:
            at_risk.append(
                DeadlineAtRisk(
                    kind=kind,
                    item_id=item_id,
                    resident_id=resident,
                    status=status,
                    priority=priority,
                    from_site_id=src,
                    to_site_id=dst,
                    deadline=deadline,
                    risk=risk,
                )
            )
    at_risk.sort(key=lambda item: (item.deadline, item.kind, item.item_id))
    return NetworkView(
        viewer_site_id=viewer_site_id,
        site_ids=tuple(sites),
        consults_by_status={str(k): int(v) for k, v in consults.items()},
        referrals_by_status={str(k): int(v) for k, v in referrals.items()},
        at_risk=tuple(at_risk),
    )
