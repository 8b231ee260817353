"""The sandbox page in a real browser, used as a person would: what they click, what they see.

One story per engine: a sample MQL is accepted, a second one rejected through the modal (an
empty submit first), marketing is told, a lookup shows the card, a BANT form makes the lead
SQL, and App Home opens where it can be seen. Any console error or uncaught exception fails it.
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import SandboxProcess, Troubles

expect.set_options(timeout=10_000)  # the page polls every second; the bot answers in less


def alert(page: Page, n: int) -> Locator:
    return page.locator("#messages > .msg").nth(n)


def command(page: Page, text: str) -> None:
    page.locator("#command-text").fill(text)
    page.locator("#command-text").press("Enter")


def modal(page: Page) -> Locator:
    return page.locator("#overlay #modal")


def test_a_person_works_two_leads_in_the_browser(
    db_url: str, sandbox_process: SandboxProcess, page: tuple[Page, Troubles]
):
    tab, troubles = page
    tab.goto(sandbox_process.page_url)
    expect(tab).to_have_title("leadbot sandbox")
    expect(tab.locator("#user")).to_have_value("U0REP1")
    expect(tab.locator("#channel-title")).to_have_text("#leads-emea")
    expect(tab.locator("#messages")).to_contain_text("No messages yet")

    # A sample MQL arrives; accepting it turns the buttons into who accepted it.
    tab.get_by_role("button", name="Send a sample MQL").click()
    first = alert(tab, 0)
    expect(first).to_contain_text("New MQL")
    expect(first).to_contain_text("Ada Lovelace, VP Engineering at Acme")
    first.get_by_role("button", name="Accept").click()
    expect(first).to_contain_text("Accepted by @u0rep1")
    expect(first.get_by_role("button")).to_have_count(0)

    # A second one is rejected through the modal; an empty submit shows what is missing.
    tab.get_by_role("button", name="Send a sample MQL").click()
    second = alert(tab, 1)
    expect(second).to_contain_text("Grace Hopper")
    second.get_by_role("button", name="Reject").click()
    expect(modal(tab).locator("h3")).to_have_text("Reject lead")
    expect(modal(tab).get_by_text("Comment for marketing (optional)")).to_be_visible()
    modal(tab).get_by_role("button", name="Reject").click()
    expect(modal(tab).locator("#field-reason .error")).to_have_text(
        "Please complete this required field."
    )
    expect(tab.locator("#status")).to_have_text("not saved: the form has errors (marked in red)")
    modal(tab).get_by_label("Reason").select_option(label="Not ready yet")
    modal(tab).get_by_label("Comment for marketing").fill("Call again in spring")
    modal(tab).get_by_role("button", name="Reject").click()
    expect(tab.locator("#overlay")).to_be_hidden()
    expect(tab.locator("#status")).to_have_text("sent")
    expect(second).to_contain_text("Sent to nurture by @u0rep1")
    expect(second).to_contain_text("Not ready yet: Call again in spring")

    # Marketing hears about both.
    tab.locator("nav").get_by_role("button", name="#marketing").click()
    expect(tab.locator("#channel-title")).to_have_text("#marketing")
    notes = tab.locator("#messages > .msg")
    expect(notes).to_have_count(2)
    expect(notes.nth(0)).to_contain_text("Ada Lovelace")
    expect(notes.nth(0)).to_contain_text("was accepted by @u0rep1")
    expect(notes.nth(1)).to_contain_text("@u0rep1 rejected Grace Hopper")
    expect(notes.nth(1)).to_contain_text("Reason: Not ready yet → now nurture")
    expect(notes.nth(1)).to_contain_text("Comment: Call again in spring")

    # A lookup answers privately with the lead's card.
    tab.locator("nav").get_by_role("button", name="#leads-emea").click()
    command(tab, "/lead lookup ada@acme.de")
    card = tab.locator("#ephemerals > .card").first
    expect(card).to_contain_text("in #leads-emea")
    expect(card).to_contain_text("ada@acme.de")
    expect(card).to_contain_text("SAL")
    expect(card.get_by_role("button", name="Qualify")).to_be_visible()

    # The BANT form, from the card's button: its optional inputs say so once.
    card.get_by_role("button", name="Qualify").click()
    form = modal(tab)
    expect(form.locator("h3")).to_have_text("Qualify lead")
    labels = form.locator("label")
    expect(labels).to_have_text(
        [
            "Budget",
            "Budget amount (optional)",
            "Authority",
            "Need",
            "What do they need? (optional)",
            "Timeline",
            "Notes (optional)",
        ]
    )
    form.get_by_label("Budget", exact=True).select_option(label="Approved")
    form.get_by_label("Budget amount").fill("25000")
    form.get_by_label("Authority").select_option(label="Decision maker")
    form.get_by_label("Need", exact=True).select_option(label="Critical")
    form.get_by_label("Timeline").select_option(label="Under 1 month")
    form.get_by_role("button", name="Save").click()
    expect(form.locator("h3")).to_have_text("Qualification saved")
    expect(form).to_contain_text("The lead is now SQL. Met: Budget, Authority, Need, Timeline.")
    form.get_by_role("button", name="Done").click()
    expect(tab.locator("#overlay")).to_be_hidden()
    expect(first).to_contain_text("Qualified (SQL) by @u0rep1")

    # App Home opens in the main pane, in sight however many private replies there are.
    for _ in range(3):
        command(tab, "/lead lookup ada@acme.de")
    expect(tab.locator("#ephemerals > .card")).to_have_count(4)
    expect(tab.locator("#ephemerals > .card").first).to_contain_text(
        "budget Approved (25000.00) · authority Decision maker · need Critical"
    )
    tab.locator("nav").get_by_role("button", name="leadbot (App Home)").click()
    expect(tab.locator("#channel-title")).to_have_text("leadbot: App Home")
    home = tab.locator("#home")
    expect(home).to_contain_text("Waiting for you")
    expect(home).to_contain_text("#1 Ada Lovelace (Acme)")
    expect(home.get_by_text("Waiting for you")).to_be_in_viewport()
    expect(home.get_by_role("button", name="Opportunity")).to_be_in_viewport()
    expect(tab.locator("#messages")).to_be_hidden()

    assert troubles.seen == []
    if db_url.startswith("sqlite"):  # the sandbox's own default database, in its directory
        assert (sandbox_process.directory / "leadbot-sandbox.db").is_file()


HELD_STATE = """
    // The page's polls, held on demand: window.hold() keeps every answer back until release().
    window.stateAnswers = 0;
    window.held = [];
    window.holding = false;
    window.hold = () => { window.holding = true; };
    window.release = () => { window.holding = false; window.held.splice(0).forEach((go) => go()); };
    const fetchNow = window.fetch;
    window.fetch = async (url, options) => {
        const answer = await fetchNow(url, options);
        if (String(url).startsWith("/sandbox/state")) {
            if (window.holding) await new Promise((go) => window.held.push(go));
            window.stateAnswers += 1;
        }
        return answer;
    };
"""


EMPTY = {
    "#marketing": "No messages yet. Marketing is told here when sales accepts or rejects a lead.",
    "#leads-na": "No messages yet. Send a sample MQL (or paste the curl the command printed): "
    "its alert appears here.",
}


def after_another_poll(tab: Page) -> None:
    answers = tab.evaluate("window.stateAnswers")
    tab.wait_for_function(f"window.stateAnswers >= {answers + 1}")


def test_a_late_refresh_never_takes_a_person_back(
    sqlite_sandbox: SandboxProcess, page: tuple[Page, Troubles]
):
    """A poll that left before the click answers for the old channel (or user): the page must
    stay where the person went."""
    tab, troubles = page
    tab.add_init_script(HELD_STATE)
    tab.goto(sqlite_sandbox.page_url)
    expect(tab.locator("#channel-title")).to_have_text("#leads-emea")
    for name in ("#marketing", "#leads-na"):
        tab.evaluate("window.hold()")
        tab.wait_for_function("window.held.length > 0")  # a poll for the old channel is out
        tab.locator("nav").get_by_role("button", name=name).click()
        tab.evaluate("window.release()")
        expect(tab.locator("#channel-title")).to_have_text(name)
        after_another_poll(tab)
        expect(tab.locator("#channel-title")).to_have_text(name)
        expect(tab.locator("nav button.active")).to_have_text(re.compile(f"^{name}"))
        expect(tab.locator("#messages")).to_have_text(EMPTY[name])

    tab.evaluate("window.hold()")
    tab.wait_for_function("window.held.length > 0")
    tab.locator("#user").select_option("U0MKT1")
    tab.evaluate("window.release()")
    after_another_poll(tab)
    expect(tab.locator("#user")).to_have_value("U0MKT1")
    assert troubles.seen == []
