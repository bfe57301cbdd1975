"""The staff web UI in a real browser (Debian chromium) on real PostgreSQL and a real broker: a
simulated tachycardia appears live on the ward, is acknowledged and referred up the green channel
from the UI, reaches the hospital's board, and stays invisible to another alliance's care home.
Each page visited is saved to docs/screenshots/<page>-<lang>.png for review."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
from playwright.sync_api import Browser, expect

from dashboard._access import Role
from eldercare.settings import Settings
from simulators import SimulatedBed, WardPublisher
from tests.browser.conftest import screenshot
from tests.browser.helpers import (
    FOREIGN_HOME,
    HOME,
    HOSPITAL,
    VIEWPORT,
    logged_in,
    network,
    user,
    ward,
)
from tests.utils.pipeline import pipeline, running
from tests.utils.staff import TEST_PASSWORD

SIMULATED_S = 330  # device seconds: onset at 60 s, detection after the 120 s hold
SPEED = 60.0
# The tile must appear this soon after the simulation starts (5.5 s of device time to publish,
# then ingest, detection, alerting and the stream's push).
TILE_WITHIN_S = 30
log = logging.getLogger(__name__)


@contextmanager
def publishing(beds: list[SimulatedBed], settings: Settings, start: datetime) -> Iterator[None]:
    publisher = WardPublisher(beds, settings.mqtt, start=start, speed=SPEED)
    publisher.connect()
    try:
        with running(lambda stop: publisher.run(duration_s=SIMULATED_S, stop=stop)):
            yield
    finally:
        publisher.close()


def test_alert_to_green_channel_referral_across_sites(
    settings: Settings, conn: psycopg.Connection, browser: Browser, base_url: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    network(conn, now)
    # Device time ends about now, so the charts and the ward show the episode as recent.
    start = now - timedelta(seconds=SIMULATED_S)
    beds = ward(conn, since=start - timedelta(days=1))
    resident = beds[0].bedside.resident_id
    nurse = user(conn, "wang-charge", "王护士长", Role.CHARGE_NURSE, HOME)
    specialist = user(conn, "dr-chen", "陈伟医生", Role.SPECIALIST, HOSPITAL)
    outsider = user(conn, "west-nurse", "李护士长", Role.CHARGE_NURSE, FOREIGN_HOME)

    with pipeline(settings), logged_in(browser, base_url, nurse) as page:
        # (1) logged in through the form; the ward page is the nurse's first page.
        expect(page.get_by_test_id("ward-tiles")).to_be_visible()
        expect(page.get_by_test_id("bed-tile")).to_have_count(len(beds))
        tile = page.locator(f'[data-testid=bed-tile][data-resident="{resident}"]')
        expect(tile).to_have_attribute("data-severity", "")

        # (2) the simulated episode raises an alert; the tile changes live (no reload).
        started = time.monotonic()
        with publishing(beds, settings, start):
            expect(tile).to_have_attribute("data-severity", "high", timeout=TILE_WITHIN_S * 1000)
            seen_after = time.monotonic() - started
            expect(tile.get_by_test_id("tile-alert")).to_contain_text("心动过速")
            expect(tile).to_have_class(re.compile(r"\bpulse\b"))
            expect(page.get_by_test_id("alert-count")).to_have_text("1")
            screenshot(page, "ward", "zh-CN")
        log.info("alert tile visible %.1f s after the simulation started", seen_after)

        # (3) one click acknowledges it from the inbox.
        page.get_by_test_id("nav-inbox").click()
        row = page.locator("[data-testid=clinical-alerts] [data-testid=alert-row]")
        expect(row).to_have_count(1)
        expect(row).to_have_attribute("data-state", "open")
        row.get_by_test_id("ack").click()
        expect(row).to_have_attribute("data-state", "acknowledged")
        screenshot(page, "inbox", "zh-CN")
        assert conn.execute(
            "SELECT state, acknowledged_by FROM alerts"
            " WHERE resident_id = %s AND channel = 'clinical'",
            (resident,),
        ).fetchall() == [("acknowledged", nurse)]

        # (4) a green-channel referral from the resident's page.
        page.goto(f"{base_url}/#/resident/{resident}")
        expect(page.get_by_test_id("resident-page")).to_be_visible()
        expect(page.locator(".chart canvas").first).to_be_visible()
        screenshot(page, "resident", "zh-CN")
        page.get_by_test_id("resident-refer").click()
        dialog = page.get_by_test_id("referral-dialog")
        dialog.get_by_test_id("select-priority").select_option("green_channel")
        dialog.get_by_test_id("input-reason").fill("持续心动过速 142 次/分，请求绿色通道转诊")
        dialog.get_by_test_id("dialog-submit").click()
        expect(dialog).to_have_count(0)
        expect(page.locator(".toast")).to_have_class(re.compile(r"\bok\b"))
        page.get_by_test_id("nav-board").click()
        sent = page.get_by_test_id("board-sent").locator("[data-testid=referral-row]")
        expect(sent).to_have_count(1)
        expect(sent).to_have_attribute("data-priority", "green_channel")
        screenshot(page, "board", "zh-CN")
        page.get_by_test_id("nav-devices").click()
        expect(page.get_by_test_id("device-row")).to_have_count(len(beds))
        screenshot(page, "devices", "zh-CN")
        page.get_by_test_id("device-row").first.locator("a").click()
        expect(page.get_by_test_id("device-detail")).to_be_visible()
        screenshot(page, "device", "zh-CN")
    referral = conn.execute(
        "SELECT referral_id, to_site_id, priority, requested_by FROM referrals"
        " WHERE resident_id = %s",
        (resident,),
    ).fetchall()
    assert len(referral) == 1 and referral[0][1:] == (HOSPITAL, "green_channel", nurse), referral
    referral_id = referral[0][0]

    # ... and the hospital's specialist sees it addressed to them, and accepts it.
    with logged_in(browser, base_url, specialist) as page:
        expect(page.get_by_test_id("board")).to_be_visible()
        received = page.get_by_test_id("board-received").locator(
            f'[data-testid=referral-row][data-referral="{referral_id}"]'
        )
        expect(received).to_have_attribute("data-priority", "green_channel")
        expect(received).to_contain_text("绿色通道")
        screenshot(page, "board-hospital", "zh-CN")
        received.get_by_test_id("referral-accept").click()
        expect(received.get_by_test_id("referral-status")).to_have_text("已接收")

    # (5) another alliance's care home sees neither the referral nor the resident.
    with logged_in(browser, base_url, outsider) as page:
        page.get_by_test_id("nav-board").click()
        expect(page.get_by_test_id("board")).to_be_visible()
        expect(page.locator("[data-testid=referral-row]")).to_have_count(0)
        screenshot(page, "board-foreign", "zh-CN")
        page.goto(f"{base_url}/#/resident/{resident}")
        expect(page.get_by_test_id("page-error")).to_contain_text("未找到")
        expect(page.get_by_test_id("resident-page")).to_have_count(0)
        screenshot(page, "resident-foreign", "zh-CN")


def test_language_switch_changes_visible_strings(
    settings: Settings, conn: psycopg.Connection, browser: Browser, base_url: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    network(conn, now)
    beds = ward(conn, since=now - timedelta(days=1))
    nurse = user(conn, "zhao-charge", "赵护士长", Role.CHARGE_NURSE, HOME)
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(base_url)
        submit = page.get_by_test_id("login-submit")
        expect(submit).to_have_text("登录")  # zh-CN by default
        screenshot(page, "login", "zh-CN")
        page.get_by_test_id("login-lang-switch").click()
        expect(page.get_by_test_id("login-submit")).to_have_text("Log in")
        screenshot(page, "login", "en")
        page.get_by_test_id("login-username").fill(nurse)
        page.get_by_test_id("login-password").fill(TEST_PASSWORD)
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("nav-ward")).to_have_text("Ward")
        expect(page.get_by_test_id("bed-tile")).to_have_count(len(beds))
        screenshot(page, "ward", "en")
        resident = beds[0].bedside.resident_id
        for route, name, marker in (
            (f"resident/{resident}", "resident", "resident-page"),
            ("inbox", "inbox", "inbox"),
            ("board", "board", "board"),
            ("devices", "devices", "devices"),
        ):
            page.goto(f"{base_url}/#/{route}")
            expect(page.get_by_test_id(marker)).to_be_visible()
            screenshot(page, name, "en")
        # The choice survives a reload (localStorage), and switching back restores Chinese.
        page.reload()
        expect(page.get_by_test_id("nav-board")).to_have_text("Consults & referrals")
        page.get_by_test_id("lang-switch").click()
        expect(page.get_by_test_id("nav-board")).to_have_text("会诊与转诊")
        expect(page.get_by_test_id("nav-ward")).to_have_text("病区总览")
    finally:
        context.close()
