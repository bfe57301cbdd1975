"""Shared set-up for the browser tests: the demo care network plus a care home of another
alliance, a simulated ward, staff accounts, and a browser context logged in through the form."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
from playwright.sync_api import Browser, BrowserContext, Page, expect

from consults import add_alliance, add_member, seed_demo_network
from dashboard._access import Role
from dashboard._staff_store import create_staff
from eldercare.registry import register_bedside, register_site
from simulators import Episode, SimulatedBed, demo_ward
from tests.utils.staff import TEST_PASSWORD

HOME = "demo-care-home"
HOSPITAL = "demo-hospital"  # the demo alliance's tertiary hospital: the green channel's target
FOREIGN_HOME = "west-home"  # a care home in another alliance
VIEWPORT = {"width": 1440, "height": 900}


def network(conn: psycopg.Connection, now: datetime) -> None:
    seed_demo_network(conn, now=now)
    register_site(conn, site_id=FOREIGN_HOME, name="Westside care home", tier="care_home")
    add_alliance(
        conn,
        alliance_id="west-alliance",
        name="Westside alliance",
        coordinator_name="Westside coordinator",
        actor="test",
        now=now,
    )
    add_member(conn, alliance_id="west-alliance", site_id=FOREIGN_HOME, actor="test", now=now)


def ward(conn: psycopg.Connection, since: datetime) -> list[SimulatedBed]:
    """Four beds of the demo care home; bed 0 has a tachycardia episode when published."""
    beds = demo_ward(
        site_id=HOME,
        residents=4,
        seed=7,
        episodes={0: (Episode(kind="tachycardia", onset_s=60, duration_s=240),)},
    )
    for bed in beds:
        register_bedside(conn, bed.bedside, since=since)
    return beds


def user(conn: psycopg.Connection, username: str, name: str, role: Role, site_id: str) -> str:
    create_staff(
        conn,
        username=username,
        display_name=name,
        role=role,
        password=TEST_PASSWORD,
        now=datetime.now(UTC),
        site_id=site_id,
    )
    return username


@contextmanager
def logged_in(browser: Browser, base_url: str, username: str) -> Iterator[Page]:
    """A fresh browser context (its own cookie jar) logged in through the form."""
    context: BrowserContext = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(base_url)
        page.get_by_test_id("login-username").fill(username)
        page.get_by_test_id("login-password").fill(TEST_PASSWORD)
        page.get_by_test_id("login-submit").click()
        expect(page.locator("#topbar")).to_be_visible(timeout=15_000)
        yield page
    finally:
        context.close()
