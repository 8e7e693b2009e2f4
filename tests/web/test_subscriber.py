"""Subscriber pages in-process: unsubscribe (incl. RFC 8058), preferences, double opt-in."""

from __future__ import annotations

import re
from hashlib import sha256

from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select

from digest.audience.tokens import Purpose, email_tag, tag_key
from digest.delivery.providers.outbox import OutboxProvider
from digest.issues.build import build
from digest.storage.schema import events, subscribers, suppressions
from digest.web.app import create_app
from tests.web.conftest import Client, Site

ONE_CLICK = {
    "content": b"List-Unsubscribe=One-Click",
    "headers": {"content-type": "application/x-www-form-urlencoded"},
}


def suppressed_count(site: Site) -> int:
    with site.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(suppressions)).scalar_one())


def test_unsubscribe_page_says_who_and_offers_a_button(site: Site, reader: str) -> None:
    page = site.client.get(f"/u/{site.token(Purpose.UNSUBSCRIBE, reader)}").text
    assert reader in page and 'id="unsubscribe"' in page


def test_one_click_post_unsubscribes_with_200(site: Site, reader: str) -> None:
    answer = site.client.post(f"/u/{site.token(Purpose.UNSUBSCRIBE, reader)}", **ONE_CLICK)
    assert answer.status_code == 200
    assert site.subscriber(reader).status == "unsubscribed"


def legacy_token(site: Site, purpose: Purpose, email: str) -> str:
    """A link as the code before issue 11 signed it: itsdangerous, `[id, HMAC tag]`."""
    key = site.settings.security.secret_keys[0].get_secret_value()
    serializer = URLSafeSerializer(
        [key], salt=f"digest.link.{purpose.value}", signer_kwargs={"digest_method": sha256}
    )
    sid = site.subscriber(email).id
    return str(serializer.dumps([sid, email_tag(tag_key(key), email)]))


def test_a_one_click_link_already_in_an_inbox_keeps_working(site: Site, reader: str) -> None:
    answer = site.client.post(f"/u/{legacy_token(site, Purpose.UNSUBSCRIBE, reader)}", **ONE_CLICK)
    assert answer.status_code == 200
    assert site.subscriber(reader).status == "unsubscribed"


def test_a_preferences_link_already_in_an_inbox_keeps_working(site: Site, reader: str) -> None:
    page = site.client.get(f"/p/{legacy_token(site, Purpose.PREFERENCES, reader)}")
    assert page.status_code == 200 and reader in page.text


def test_one_click_as_multipart_form_data_works_too(site: Site, reader: str) -> None:
    url = f"/u/{site.token(Purpose.UNSUBSCRIBE, reader)}"
    answer = site.client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert answer.status_code == 200
    assert site.subscriber(reader).status == "unsubscribed"


def test_one_click_suppresses_the_address(site: Site, reader: str) -> None:
    before = suppressed_count(site)
    site.client.post(f"/u/{site.token(Purpose.UNSUBSCRIBE, reader)}", **ONE_CLICK)
    assert suppressed_count(site) == before + 1


def test_one_click_twice_is_harmless(site: Site, reader: str) -> None:
    url = f"/u/{site.token(Purpose.UNSUBSCRIBE, reader)}"
    site.client.post(url, **ONE_CLICK)
    first = site.subscriber(reader)
    again = site.client.post(url, **ONE_CLICK)
    assert again.status_code == 200
    assert site.subscriber(reader).status_changed_at == first.status_changed_at


def test_a_forged_token_is_404_and_changes_nothing(site: Site, reader: str) -> None:
    token = site.token(Purpose.UNSUBSCRIBE, reader)
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert site.client.post(f"/u/{forged}", **ONE_CLICK).status_code == 404
    assert site.subscriber(reader).status == "active"


def test_a_preferences_token_cannot_unsubscribe(site: Site, reader: str) -> None:
    token = site.token(Purpose.PREFERENCES, reader)
    assert site.client.post(f"/u/{token}", **ONE_CLICK).status_code == 404
    assert site.subscriber(reader).status == "active"


def test_a_plain_form_post_without_csrf_is_refused(site: Site, reader: str) -> None:
    answer = site.client.post(f"/u/{site.token(Purpose.UNSUBSCRIBE, reader)}", data={"x": "1"})
    assert answer.status_code == 403
    assert site.subscriber(reader).status == "active"


def test_the_page_button_unsubscribes(site: Site, reader: str) -> None:
    url = f"/u/{site.token(Purpose.UNSUBSCRIBE, reader)}"
    answer = site.client.submit(url, url)
    assert "You are unsubscribed" in answer.text
    assert site.subscriber(reader).status == "unsubscribed"


def test_preferences_page_shows_language_and_interests(site: Site, reader: str) -> None:
    page = site.client.get(f"/p/{site.token(Purpose.PREFERENCES, reader)}").text
    assert 'name="locale" value="zh"' in page
    assert 'name="interests" value="Policy Track"' in page


def test_saving_preferences_stores_language_and_interests(site: Site, reader: str) -> None:
    url = f"/p/{site.token(Purpose.PREFERENCES, reader)}"
    answer = site.client.submit(
        url, url, {"locale": "zh", "interests": ["Supply Chain", "Policy Track"], "action": "save"}
    )
    assert 'id="saved"' in answer.text
    row = site.subscriber(reader)
    assert (row.locale, row.interests) == ("zh", "Policy Track;Supply Chain")


def test_the_next_build_honours_new_interests(site: Site, reader: str) -> None:
    url = f"/p/{site.token(Purpose.PREFERENCES, reader)}"
    site.client.submit(url, url, {"locale": "en", "interests": ["Supply Chain"], "action": "save"})
    result = build(site.settings, site.period, engine=site.engine, force=True)
    assert {e.interests_key for e in result.editions} >= {"", "Supply Chain"}


def test_unsubscribing_from_the_preferences_page(site: Site, reader: str) -> None:
    url = f"/p/{site.token(Purpose.PREFERENCES, reader)}"
    site.client.submit(url, url, {"action": "unsubscribe"})
    assert site.subscriber(reader).status == "unsubscribed"


def test_forged_preferences_token_is_404(site: Site) -> None:
    assert site.client.get("/p/WzEsImFAYi5jIl0.forged").status_code == 404


def test_preview_links_show_inert_pages(site: Site) -> None:
    for url in ("/unsubscribe?preview=1", "/preferences?preview=1"):
        page = site.client.get(url).text
        assert "This is a preview" in page and " disabled>" in page


# --- sign-up ----------------------------------------------------------------------------------


def confirmation_link(site: Site) -> str:
    message, _ = site.provider.sent[-1]
    found = re.search(r"https?://\S+/c/\S+", message.text)
    assert found, message.text
    return found.group(0).removeprefix("http://127.0.0.1:8000")


def sign_up(site: Site, email: str) -> str:
    return site.client.submit("/subscribe", "/subscribe", {"email": email, "locale": "zh"}).text


def test_sign_up_emails_a_confirmation_link_and_stores_nobody(site: Site) -> None:
    sign_up(site, "new.reader@example.com")
    assert confirmation_link(site).startswith("/c/")
    assert site.subscriber("new.reader@example.com") is None


def test_opening_the_confirmation_link_alone_subscribes_nobody(site: Site) -> None:
    sign_up(site, "new.reader@example.com")
    site.client.get(confirmation_link(site))
    assert site.subscriber("new.reader@example.com") is None


def test_confirming_subscribes_with_consent_recorded(site: Site) -> None:
    sign_up(site, "new.reader@example.com")
    link = confirmation_link(site)
    site.client.submit(link, link, {"locale": "zh"})
    row = site.subscriber("new.reader@example.com")
    assert (row.status, row.tier, row.locale) == ("active", "open", "zh")
    assert row.consent_source == "web double opt-in"


def test_sign_up_never_reveals_a_known_address(site: Site, reader: str) -> None:
    known = sign_up(site, reader).replace(reader, "ADDRESS")
    unknown = sign_up(site, "nobody@example.com").replace("nobody@example.com", "ADDRESS")
    strip = re.compile(r'value="[^"]+"')
    assert strip.sub("", known) == strip.sub("", unknown)


def test_confirming_lifts_an_earlier_opt_out_and_records_it(site: Site, reader: str) -> None:
    site.client.post(f"/u/{site.token(Purpose.UNSUBSCRIBE, reader)}", **ONE_CLICK)
    sign_up(site, reader)
    link = confirmation_link(site)
    site.client.submit(link, link, {"locale": "en"})
    assert site.subscriber(reader).status == "active"
    with site.engine.connect() as conn:
        lifted = conn.execute(select(events).where(events.c.event == "suppression_lifted")).all()
    assert len(lifted) == 1


def test_a_forged_confirmation_link_is_404(site: Site) -> None:
    assert site.client.get("/c/WzAsImFAYi5jIl0.forged").status_code == 404


def test_sign_ups_are_rate_limited_per_client_address(site: Site) -> None:
    limit = site.settings.web.subscribe_per_ip_per_hour
    answers = [
        site.client.submit("/subscribe", "/subscribe", {"email": f"r{i}@example.com"})
        for i in range(limit + 1)
    ]
    assert [a.status_code for a in answers] == [200] * limit + [429]


def test_the_client_limit_resets_after_an_hour(site: Site) -> None:
    for i in range(site.settings.web.subscribe_per_ip_per_hour):
        site.client.submit("/subscribe", "/subscribe", {"email": f"r{i}@example.com"})
    site.clock.step(3600)
    answer = site.client.submit("/subscribe", "/subscribe", {"email": "later@example.com"})
    assert answer.status_code == 200


def test_confirmations_to_one_address_are_capped_silently(site: Site) -> None:
    limit = site.settings.web.subscribe_per_address_per_day
    pages = [sign_up(site, "target@example.com") for _ in range(limit + 1)]
    assert len(site.provider.sent) == limit
    assert pages[-1] == pages[0] or 'id="check-inbox"' in pages[-1]


def test_another_web_process_shares_the_mailbox_cap(site: Site) -> None:
    """Several `digest serve` processes (deploy/ allows any number) or a restart: one count."""
    limit = site.settings.web.subscribe_per_address_per_day
    for _ in range(limit):
        sign_up(site, "target@example.com")
    other = Client(create_app(site.settings, site.engine, provider=site.provider))
    other.submit("/subscribe", "/subscribe", {"email": "target@example.com"})
    assert len(site.provider.sent) == limit


def test_another_web_process_shares_the_client_limit(site: Site) -> None:
    for i in range(site.settings.web.subscribe_per_ip_per_hour):
        sign_up(site, f"r{i}@example.com")
    other = Client(create_app(site.settings, site.engine, provider=site.provider))
    answer = other.submit("/subscribe", "/subscribe", {"email": "late@example.com"})
    assert answer.status_code == 429


def test_the_mailbox_cap_resets_after_a_day(site: Site) -> None:
    limit = site.settings.web.subscribe_per_address_per_day
    for _ in range(limit):
        sign_up(site, "target@example.com")
    site.clock.step(86400)
    sign_up(site, "target@example.com")
    assert len(site.provider.sent) == limit + 1


def test_an_invalid_address_is_said_to_be_one(site: Site) -> None:
    answer = site.client.submit("/subscribe", "/subscribe", {"email": "not-an-address"})
    assert answer.status_code == 400 and site.provider.sent == []


def test_join_pages_invite_to_each_paid_tier(site: Site) -> None:
    assert "Strategy Circle" in site.client.get("/join/strategy_circle").text
    assert "Leadership Alliance" in site.client.get("/join/leadership_alliance").text
    assert site.client.get("/join/open").status_code == 404


def test_subscribers_table_is_untouched_by_a_404(site: Site) -> None:
    with site.engine.connect() as conn:
        before = conn.execute(select(subscribers)).all()
    site.client.post("/u/garbage", **ONE_CLICK)
    with site.engine.connect() as conn:
        assert conn.execute(select(subscribers)).all() == before


def test_the_unsubscribe_page_says_when_it_is_done_already(site: Site, reader: str) -> None:
    url = f"/u/{site.token(Purpose.UNSUBSCRIBE, reader)}"
    site.client.post(url, **ONE_CLICK)
    assert 'id="already"' in site.client.get(url).text


def test_tagged_variants_of_one_mailbox_share_its_cap(site: Site) -> None:
    limit = site.settings.web.subscribe_per_address_per_day
    for n in range(limit + 2):
        sign_up(site, f"victim+{n}@example.com")
    assert len(site.provider.sent) == limit


def test_gmail_dots_and_domains_share_one_mailbox_cap(site: Site) -> None:
    limit = site.settings.web.subscribe_per_address_per_day
    variants = [
        "victim@gmail.com",
        "v.ictim@gmail.com",
        "vi.c.tim@googlemail.com",
        "vic.tim@gmail.com",
    ]
    for email in variants[: limit + 1]:
        sign_up(site, email)
    assert len(site.provider.sent) == limit


def test_the_confirmation_email_offers_no_one_click_unsubscribe(site: Site) -> None:
    """It is transactional (asked for, from no list): see `headers.list_headers`."""
    outbox = site.root / "confirmations"
    client = Client(create_app(site.settings, site.engine, provider=OutboxProvider(outbox)))
    client.submit("/subscribe", "/subscribe", {"email": "new.reader@example.com"})
    (eml,) = outbox.glob("*/*.eml")
    head = eml.read_bytes().split(b"\r\n\r\n", 1)[0]
    assert b"/c/" in eml.read_bytes() and b"List-Unsubscribe" not in head


def test_a_used_confirmation_link_cannot_undo_a_later_one_click_unsubscribe(site: Site) -> None:
    """The review's attack: confirm, one-click unsubscribe, then POST the same link again."""
    sign_up(site, "new.reader@example.com")
    link = confirmation_link(site)
    site.client.submit(link, link, {"locale": "en"})
    token = site.token(Purpose.UNSUBSCRIBE, "new.reader@example.com")
    site.client.post(f"/u/{token}", **ONE_CLICK)
    csrf = site.client.csrf("/subscribe")  # any page's token serves this browser's forms
    again = site.client.post(link, data={"csrf": csrf, "locale": "en"})
    assert again.status_code == 410 and 'id="spent"' in again.text
    assert site.subscriber("new.reader@example.com").status == "unsubscribed"
    assert suppressed_count(site) == 1


def test_a_confirmation_link_works_once(site: Site) -> None:
    sign_up(site, "new.reader@example.com")
    link = confirmation_link(site)
    token = site.client.csrf(link)
    first = site.client.post(link, data={"csrf": token, "locale": "en"})
    second = site.client.post(link, data={"csrf": token, "locale": "en"})
    assert (first.status_code, second.status_code) == (200, 410)


def test_an_unsubscribe_made_after_the_link_was_sent_stands(site: Site, reader: str) -> None:
    sign_up(site, reader)
    link = confirmation_link(site)
    site.client.post(f"/u/{site.token(Purpose.UNSUBSCRIBE, reader)}", **ONE_CLICK)
    assert site.client.get(link).status_code == 410  # the page says so before any button
    csrf = site.client.csrf("/subscribe")
    assert site.client.post(link, data={"csrf": csrf, "locale": "en"}).status_code == 410
    assert site.subscriber(reader).status == "unsubscribed"


# --- the reader's language (issue #14) ----------------------------------------------------------


def html_lang(page: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', page)
    assert found
    return found.group(1)


def chinese_reader(site: Site) -> str:
    with site.engine.connect() as conn:
        email = conn.execute(
            select(subscribers.c.email)
            .where(subscribers.c.status == "active", subscribers.c.locale == "zh")
            .order_by(subscribers.c.id)
            .limit(1)
        ).scalar_one()
    return str(email)


def test_a_chinese_readers_unsubscribe_page_is_in_chinese(site: Site) -> None:
    page = site.client.get(f"/u/{site.token(Purpose.UNSUBSCRIBE, chinese_reader(site))}").text
    assert html_lang(page) == "zh-Hans" and "<h1>退订</h1>" in page


def test_a_chinese_readers_preferences_page_is_in_chinese(site: Site) -> None:
    page = site.client.get(f"/p/{site.token(Purpose.PREFERENCES, chinese_reader(site))}").text
    assert html_lang(page) == "zh-Hans" and "保存偏好" in page


def test_a_chinese_readers_preferences_name_the_classes_in_chinese(site: Site) -> None:
    page = site.client.get(f"/p/{site.token(Purpose.PREFERENCES, chinese_reader(site))}").text
    assert 'value="Supply Chain"' in page  # the form still posts the class itself
    assert "> 供应链</label>" in page and "> Supply Chain</label>" not in page


def test_the_token_page_follows_the_reader_not_the_browser(site: Site, reader: str) -> None:
    page = site.client.get(
        f"/u/{site.token(Purpose.UNSUBSCRIBE, reader)}", headers={"accept-language": "zh-CN"}
    ).text
    assert html_lang(page) == "en"


def test_lang_in_a_token_link_gives_an_english_reader_chinese(site: Site, reader: str) -> None:
    for purpose, path in ((Purpose.UNSUBSCRIBE, "u"), (Purpose.PREFERENCES, "p")):
        page = site.client.get(f"/{path}/{site.token(purpose, reader)}?lang=zh").text
        assert html_lang(page) == "zh-Hans", path


def test_saving_chinese_answers_in_chinese(site: Site, reader: str) -> None:
    link = f"/p/{site.token(Purpose.PREFERENCES, reader)}"
    page = site.client.submit(link, link, {"locale": "zh", "action": "save"}).text
    assert html_lang(page) == "zh-Hans" and "已保存" in page


def test_the_sign_up_page_follows_accept_language(site: Site) -> None:
    page = site.client.get("/subscribe", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    assert html_lang(page) == "zh-Hans" and 'value="zh" checked' in page


def test_lang_in_the_address_outranks_accept_language(site: Site) -> None:
    page = site.client.get("/subscribe?lang=en", headers={"accept-language": "zh-CN"}).text
    assert html_lang(page) == "en"


def test_the_sign_up_page_is_english_for_other_browsers(site: Site) -> None:
    assert html_lang(site.client.get("/subscribe", headers={"accept-language": "fr"}).text) == "en"


def test_the_confirmation_email_is_in_the_language_chosen(site: Site) -> None:
    sign_up(site, "new.reader@example.com")  # chooses 中文
    message, _ = site.provider.sent[-1]
    assert message.subject == "确认订阅《Signal Weekly》"
    assert 'lang="zh-Hans"' in message.html and "如需确认" in message.text


def test_the_confirm_page_speaks_the_language_of_its_link(site: Site) -> None:
    sign_up(site, "new.reader@example.com")
    page = site.client.get(confirmation_link(site)).text
    assert html_lang(page) == "zh-Hans" and "是的，为我订阅" in page


def test_a_broken_link_answers_in_the_browsers_language(site: Site) -> None:
    page = site.client.get("/u/forged", headers={"accept-language": "zh-CN"})
    assert page.status_code == 404 and html_lang(page.text) == "zh-Hans"
