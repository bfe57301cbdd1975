"""The demo network `eldercare up --demo` seeds, and the worker's CLI entry."""

from __future__ import annotations

import psycopg
from typer.testing import CliRunner

from consults import network_overview, seed_demo_network, sites_visible_to
from eldercare.cli import app
from tests.consults.support import T0


def test_demo_network_has_every_tier_and_is_seeded_once(conn: psycopg.Connection) -> None:
    assert seed_demo_network(conn, now=T0) is True
    assert seed_demo_network(conn, now=T0) is False
    overview = network_overview(conn)
    tiers = {s["site_id"]: s["tier"] for s in overview["sites"]}
    assert tiers["demo-care-home"] == "care_home"
    assert sorted(tiers.values()) == [
        "care_home",
        "care_home",
        "community_health_centre",
        "home_bed",
        "home_bed",
        "tertiary_hospital",
    ]
    (alliance,) = overview["alliances"]
    assert len(alliance["members"]) == 6
    assert {d["site_id"] for d in overview["departments"]} == {
        "demo-hospital",
        "demo-community-centre",
    }
    assert any(s["on_call"] for s in overview["specialists"])
    assert {"from_site_id": "demo-care-home", "to_site_id": "demo-community-centre"} in overview[
        "routes"
    ]
    assert "demo-home-beds-2" in sites_visible_to(conn, "demo-hospital")


def test_consults_command_is_listed() -> None:
    result = CliRunner().invoke(app, ["consults", "--help"])
    assert result.exit_code == 0
    assert "green channel" in result.output
