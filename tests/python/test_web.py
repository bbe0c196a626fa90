"""The rider's page and the staff console in a real headless Chromium.

A rider opens the QR link on an emulated phone with an emulated position,
a photo file and Chromium's fake microphone, and submits a report with
photo and voice note. With the network cut, a second report waits in the
page's outbox; when the network returns it is sent, exactly once. The
staff console shows both, its voice note's URL serves audio, and closing
one there closes it in the node; the console shows the task list and
approves an applicant. A screenshot of each page goes to
$CARGO_TARGET_DIR/web-screenshots/ (else target/web-screenshots/).

Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM); Playwright from
PyPI drives it. `playwright install` is never needed.
"""

import json
import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from conftest import ROOT, community_with_rider, serving, yizhan

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
WAIT_MS = 30_000
# An emulated position in Xinyazhou, Guandu district, Kunming.
HERE = {"latitude": 24.9712, "longitude": 102.7401, "accuracy": 12}


def screenshots() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    out = target / "web-screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def true_within(page, expression: str, timeout_ms: int = WAIT_MS) -> None:
    """Polls `expression` in `page` until it is true, or fails at the deadline.

    Not `page.wait_for_function`: after its first try, Playwright re-runs a
    string predicate with `eval` inside the page, which the pages' strict
    Content-Security-Policy (no 'unsafe-eval') refuses, so it failed
    whenever the first try came too early. `page.evaluate` runs through the
    DevTools protocol, which that policy does not cover.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_ms} ms: {expression}")
        page.wait_for_timeout(50)


def reports(data: Path) -> list:
    return json.loads(yizhan(data, "--json", "report", "list"))


@pytest.fixture
def node(tmp_path):
    rider = community_with_rider(tmp_path / "community")
    staff = json.loads(
        yizhan(rider["data"], "--json", "staff", "code", "--name", "王敏", "--url", "http://127.0.0.1")
    )
    applicant = json.loads(
        yizhan(
            rider["data"], "--json", "roster", "add",
            "--display-name", "新骑手小赵", "--name", "赵六", "--phone", "13800000008",
        )
    )["id"]
    yizhan(rider["data"], "task", "post", "--title", "夜间巡查菜市场", "--points", "5")
    with serving(rider["data"], tmp_path / "node.out") as root:
        yield dict(
            rider, root=root, staff=staff["code"], staff_link=staff["link"], applicant=applicant
        )


@pytest.fixture
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (scripts/test.sh does)")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
        )
        try:
            yield b
        finally:
            b.close()


def test_a_rider_reports_online_and_offline_and_staff_close_a_case(node, browser, tmp_path):
    data, root, shots = node["data"], node["root"], screenshots()
    photo = tmp_path / "box.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40)

    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
        device_scale_factor=2, locale="zh-CN", geolocation=HERE,
        permissions=["geolocation", "microphone"],
    )
    page = phone.new_page()
    # The QR link, as `yizhan roster code` printed it (its host made ours).
    page.goto(f"{root}/#code={node['code']}")
    expect(page.locator("#app")).to_be_visible(timeout=WAIT_MS)
    assert "code=" not in page.url, "the code stays out of the address bar"
    page.wait_for_function("navigator.serviceWorker.ready.then(() => true)", timeout=WAIT_MS)

    # First report, online: category, position, photo, a voice note.
    page.click("button[data-code=electrical_fire]")
    expect(page.locator("#location")).to_have_attribute("data-ready", "1", timeout=WAIT_MS)
    expect(page.locator("#location")).to_contain_text("误差约 12 米")
    page.set_input_files("#photo", str(photo))
    page.click("#record")
    expect(page.locator("#record-time")).to_contain_text("2 / 60", timeout=WAIT_MS)
    page.click("#record")
    expect(page.locator("#record")).to_have_attribute("data-recorded", "1", timeout=WAIT_MS)
    page.fill("#description", "配电箱冒烟")
    page.click("#submit")
    expect(page.locator("#result")).to_have_text("已提交，谢谢！", timeout=WAIT_MS)
    first = reports(data)
    assert len(first) == 1
    kinds = sorted(a["kind"] for a in first[0]["attachments"])
    assert kinds == ["photo", "voice"], first[0]["attachments"]
    voice = next(a for a in first[0]["attachments"] if a["kind"] == "voice")
    assert voice["mime"] == "audio/webm" and voice["size"] > 1000
    assert first[0]["reporter"] == node["member"]

    # Second report, offline: it waits in the outbox, the node has nothing.
    phone.set_offline(True)
    expect(page.locator("#net")).to_have_text("离线", timeout=WAIT_MS)
    page.click("button[data-code=sanitation]")
    page.fill("#description", "垃圾堆放在消防通道")
    page.click("#submit")
    expect(page.locator("#result")).to_contain_text("已保存", timeout=WAIT_MS)
    expect(page.locator("#outbox")).to_have_attribute("data-waiting", "1", timeout=WAIT_MS)
    assert len(reports(data)) == 1

    # The page itself loads offline, from the service worker's cache.
    other = phone.new_page()
    answer = other.goto(root + "/")
    assert answer is not None and answer.from_service_worker
    expect(other.locator("#app")).to_be_visible(timeout=WAIT_MS)
    other.close()
    page.screenshot(path=str(shots / "rider-offline.png"), full_page=True)

    # Back online: the outbox empties, and the report is recorded once.
    phone.set_offline(False)
    expect(page.locator("#outbox")).to_have_attribute("data-waiting", "0", timeout=WAIT_MS)
    # A second "online" flushes again: there is nothing left to send.
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#mine li.card")).to_have_count(2, timeout=WAIT_MS)
    both = reports(data)
    assert len(both) == 2, both
    texts = sorted(r["text"] for r in both)
    assert texts == sorted(["配电箱冒烟", "垃圾堆放在消防通道"])
    page.screenshot(path=str(shots / "rider.png"), full_page=True)
    phone.close()

    # The staff console: both cases, the voice note served as audio, a close.
    assert node["staff_link"].endswith(f"/console#code={node['staff']}")
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    console = desk.new_page()
    console.goto(f"{root}/console#code={node['staff']}")
    rows = console.locator("#cases tbody tr")
    expect(rows).to_have_count(2, timeout=WAIT_MS)
    fire = next(r for r in both if r["category"] == "electrical_fire")
    console.click(f"#cases tbody tr[data-id='{fire['id']}']")
    audio = console.locator("#case-media audio")
    expect(audio).to_have_count(1, timeout=WAIT_MS)
    src = audio.get_attribute("src")
    served = desk.request.get(root + src)
    assert served.status == 200
    assert served.headers["content-type"] == "audio/webm"
    assert len(served.body()) == voice["size"]
    true_within(console, "document.querySelector('#case-media audio').readyState >= 1")
    expect(console.locator("#case-media img")).to_have_count(1)
    console.select_option("#a-close-reason", "no_further_action")
    console.fill("#a-note", "已联系供电所")
    console.click("button[data-verb=close]")
    expect(console.locator("#action-result")).to_contain_text("已办结", timeout=WAIT_MS)
    expect(console.locator("#case-history")).to_contain_text("已联系供电所")
    # The office: the task list, and an applicant approved from the page.
    expect(console.locator("#tasks")).to_contain_text("夜间巡查菜市场", timeout=WAIT_MS)
    expect(console.locator("#applications")).to_contain_text("新骑手小赵", timeout=WAIT_MS)
    console.screenshot(path=str(shots / "console.png"), full_page=True)
    console.click(f"button[data-member='{node['applicant']}']")
    expect(console.locator("#applications")).to_contain_text("没有待批准的申请", timeout=WAIT_MS)
    member = json.loads(yizhan(data, "--json", "roster", "show", node["applicant"]))
    assert member["status"] == "active"
    desk.close()

    shown = json.loads(yizhan(data, "--json", "report", "show", fire["id"]))
    assert shown["status"] == "closed"
    assert len(reports(data)) == 2
