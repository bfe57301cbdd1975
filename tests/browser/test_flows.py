"""The care-network flows in the browser (issue #7, issue #10 point 3): the hospital accepts a
referral up and refers the resident back down with a rehabilitation plan; the care home sees the
back-referral addressed to it and takes the resident back; the charge nurse raises the resident's
risk tier for 14 days and completes an overdue follow-up from the ward page. Screenshots of the
new states go to docs/screenshots/<page>-<lang>.png."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
from playwright.sync_api import Browser, Page, expect

from consults import (
    FOLLOW_UP_INTERVAL,
    ReferralPriority,
    RiskTier,
    ensure_follow_ups,
    request_referral,
)
from dashboard._access import Role
from tests.browser.conftest import screenshot
from tests.browser.helpers import HOME, HOSPITAL, logged_in, network, user, ward

THRESHOLD = "heart_rate_sustained.high_bpm"  # a detector parameter the plan overrides
PLAN_BPM = 110
TIER_DAYS = 14


def _toast_ok(page: Page) -> None:
    expect(page.locator(".toast").last).to_have_class(re.compile(r"\bok\b"))


def _switch_language(page: Page, to: str) -> None:
    page.get_by_test_id("lang-switch").click()
    expect(page.locator("html")).to_have_attribute("lang", to)


def test_back_referral_risk_tier_and_follow_up(
    conn: psycopg.Connection, browser: Browser, base_url: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    network(conn, now)
    beds = ward(conn, since=now - timedelta(days=1))
    resident = beds[0].bedside.resident_id
    up = request_referral(
        conn,
        resident_id=resident,
        priority=ReferralPriority.URGENT,
        reason="Recurrent tachycardia, cardiology review",
        requested_by="test",
        now=now,
        to_site_id=HOSPITAL,
    )
    # Every resident's follow-up was due a day ago, whatever their tier.
    ensure_follow_ups(
        conn, now=now - max(FOLLOW_UP_INTERVAL.values()) - timedelta(days=1), actor="test"
    )
    specialist = user(conn, "dr-liu", "刘医生", Role.SPECIALIST, HOSPITAL)
    charge_nurse = user(conn, "sun-charge", "孙护士长", Role.CHARGE_NURSE, HOME)
    home_doctor = user(conn, "dr-zhou", "周医生", Role.DOCTOR, HOME)

    # (1) The hospital's specialist accepts the referral up and refers the resident back down.
    with logged_in(browser, base_url, specialist) as page:
        row = page.get_by_test_id("board-received").locator(
            f'[data-testid=referral-row][data-referral="{up.referral_id}"]'
        )
        expect(row).to_have_attribute("data-direction", "up")
        expect(row.get_by_test_id("referral-direction")).to_have_text("↑ 上转")
        expect(row.get_by_test_id("referral-back")).to_have_count(0)  # not before accepting
        row.get_by_test_id("referral-accept").click()
        expect(row.get_by_test_id("referral-status")).to_have_text("已接收")
        row.get_by_test_id("referral-back").click()
        dialog = page.get_by_test_id("back-referral-dialog")
        dialog.get_by_test_id("input-summary").fill("房颤复律后心率平稳，转回养老机构康复")
        dialog.get_by_test_id("input-goals").fill("静息心率 < 100 次/分\n每日步行 2 次")
        dialog.get_by_test_id("input-instructions").fill("每日复查心率，胸闷即联系")
        dialog.get_by_test_id("input-thresholds").fill(f"{THRESHOLD} = {PLAN_BPM}")
        screenshot(page, "board-back-referral-dialog", "zh-CN")
        dialog.get_by_test_id("dialog-submit").click()
        expect(dialog).to_have_count(0)
        _toast_ok(page)
        expect(row.get_by_test_id("referral-status")).to_have_text("已完成")
        down = page.get_by_test_id("board-sent").locator(
            '[data-testid=referral-row][data-direction="down"]'
        )
        expect(down).to_have_count(1)
        expect(down.get_by_test_id("rehab-plan")).to_contain_text("每日步行 2 次")
        screenshot(page, "board-hospital-back-referral", "zh-CN")
    down_id, to_site, requested_by = conn.execute(
        "SELECT referral_id, to_site_id, requested_by FROM referrals"
        " WHERE parent_referral_id = %s AND direction = 'down'",
        (up.referral_id,),
    ).fetchone()
    assert (to_site, requested_by) == (HOME, specialist)

    with logged_in(browser, base_url, charge_nurse) as page:
        # (2) The care home sees the back-referral addressed to it. Taking the resident back is
        # an ANSWER_CASES move the server keeps for the home's doctor: no button for the nurse.
        page.get_by_test_id("nav-board").click()
        received = page.get_by_test_id("board-received").locator(
            f'[data-testid=referral-row][data-referral="{down_id}"]'
        )
        expect(received).to_have_attribute("data-direction", "down")
        expect(received.get_by_test_id("referral-direction")).to_have_text("↓ 下转")
        expect(received.get_by_test_id("rehab-plan")).to_contain_text(f"{THRESHOLD} = {PLAN_BPM}")
        expect(received.get_by_test_id("needs-answerer")).to_be_visible()
        expect(received.get_by_test_id("referral-accept")).to_have_count(0)
        screenshot(page, "board-home-back-referral", "zh-CN")

        with logged_in(browser, base_url, home_doctor) as doctor_page:
            doctor_page.get_by_test_id("nav-board").click()
            taken = doctor_page.get_by_test_id("board-received").locator(
                f'[data-testid=referral-row][data-referral="{down_id}"]'
            )
            for action, shown in (
                ("referral-accept", "已接收"),
                ("referral-start", "处理中"),
                ("referral-complete", "已完成"),
            ):
                taken.get_by_test_id(action).click()
                expect(taken.get_by_test_id("referral-status")).to_have_text(shown)
            expect(taken.get_by_test_id("referral-back")).to_have_count(0)  # a down referral
        page.reload()
        expect(received.get_by_test_id("referral-status")).to_have_text("已完成")

        # (3) Risk tier to high for 14 days, seen on the resident page with the thresholds the
        # back-referral set.
        page.goto(f"{base_url}/#/resident/{resident}")
        expect(page.get_by_test_id("resident-page")).to_be_visible()
        page.get_by_test_id("resident-risk").click()
        dialog = page.get_by_test_id("risk-dialog")
        dialog.get_by_test_id("select-tier").select_option("high")
        dialog.get_by_test_id("input-days").fill(str(TIER_DAYS))
        dialog.get_by_test_id("input-reason").fill("下转后康复期")
        dialog.get_by_test_id("dialog-submit").click()
        expect(dialog).to_have_count(0)
        tier = page.get_by_test_id("risk-tier")
        expect(tier).to_have_attribute("data-tier", "high")
        expect(tier).to_contain_text("高风险")
        until = datetime.fromisoformat(tier.get_attribute("data-until") or "")
        assert abs(until - (now + timedelta(days=TIER_DAYS))) < timedelta(minutes=10), until
        page.get_by_test_id("thresholds").locator("summary").click()
        expect(
            page.get_by_test_id("thresholds-table").locator(f'tr[data-parameter="{THRESHOLD}"]')
        ).to_contain_text(str(PLAN_BPM))
        screenshot(page, "resident-risk", "zh-CN")
        _switch_language(page, "en")
        expect(page.get_by_test_id("risk-tier")).to_contain_text("High risk")
        page.get_by_test_id("thresholds").locator("summary").click()
        expect(page.get_by_test_id("thresholds-table")).to_be_visible()
        screenshot(page, "resident-risk", "en")
        assert conn.execute(
            "SELECT risk_tier FROM residents WHERE resident_id = %s", (resident,)
        ).fetchone() == (RiskTier.HIGH,)

        # (4) The overdue follow-ups on the ward page; one click completes the resident's.
        page.get_by_test_id("nav-ward").click()
        rows = page.get_by_test_id("follow-up-row")
        expect(rows).to_have_count(len(beds))
        expect(page.locator('[data-testid=follow-up-row][data-overdue="true"]')).to_have_count(
            len(beds)
        )
        screenshot(page, "ward-follow-ups", "en")
        mine = page.locator(f'[data-testid=follow-up-row][data-resident="{resident}"]')
        task_id = int(mine.get_attribute("data-task") or "")
        mine.get_by_test_id("follow-up-note").fill("HR 78, walked twice")
        mine.get_by_test_id("follow-up-done").click()
        expect(mine).to_have_count(0)  # the next one (daily, high tier) is not due this shift
        expect(rows).to_have_count(len(beds) - 1)
        expect(page.get_by_test_id("follow-up-count")).to_have_text(str(len(beds) - 1))
        _switch_language(page, "zh-CN")
        expect(page.get_by_test_id("follow-ups")).to_contain_text("已逾期")
        expect(page.get_by_test_id("alert-badge")).to_contain_text("未处理警报")
        screenshot(page, "ward-follow-ups", "zh-CN")
    assert conn.execute(
        "SELECT status, completed_by, note FROM follow_up_tasks WHERE task_id = %s", (task_id,)
    ).fetchone() == ("completed", charge_nurse, "HR 78, walked twice")
