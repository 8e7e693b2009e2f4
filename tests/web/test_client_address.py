"""Who the client is: the connection's address, or behind trusted proxies the forwarded one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from digest.period import Period
from digest.web.demo import Demo
from digest.web.security import forwarded_client, limit_key, proxy_networks
from tests.web.conftest import Site, make_site

PROXIES = proxy_networks(["10.0.0.0/24", "fd00::/8"])


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert forwarded_client("127.0.0.1", ["198.51.100.9"], ()) == "127.0.0.1"


def test_a_peer_that_is_not_a_proxy_cannot_name_another_client() -> None:
    assert forwarded_client("203.0.113.7", ["198.51.100.9"], PROXIES) == "203.0.113.7"


def test_behind_a_proxy_the_address_it_saw_is_the_client() -> None:
    assert forwarded_client("10.0.0.2", ["198.51.100.9"], PROXIES) == "198.51.100.9"


def test_entries_the_client_wrote_itself_are_not_believed() -> None:
    forged = ["1.1.1.1, 2.2.2.2", "198.51.100.9"]  # the proxy appended the last one
    assert forwarded_client("10.0.0.2", forged, PROXIES) == "198.51.100.9"


def test_a_chain_of_trusted_proxies_is_walked_through() -> None:
    chain = ["198.51.100.9, 10.0.0.7", "[fd00::3]:443"]
    assert forwarded_client("10.0.0.2", chain, PROXIES) == "198.51.100.9"


def test_a_malformed_entry_stops_at_the_last_trusted_hop() -> None:
    assert forwarded_client("10.0.0.2", ["198.51.100.9, unknown"], PROXIES) == "10.0.0.2"


def test_an_ipv4_mapped_peer_is_recognised_as_the_proxy() -> None:
    assert forwarded_client("::ffff:10.0.0.2", ["198.51.100.9"], PROXIES) == "198.51.100.9"


def test_an_ipv4_mapped_client_counts_as_its_ipv4_address() -> None:
    assert limit_key("::ffff:198.51.100.7") == limit_key("198.51.100.7") == "198.51.100.7"


def sign_up_from(site: Site, peer: str, forwarded_for: str, n: int) -> int:
    client = site.client_for(peer)
    page = client.get("/subscribe").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token
    answer = client.post(
        "/subscribe",
        data={"csrf": token.group(1), "email": f"r{n}@example.com"},
        headers={"x-forwarded-for": forwarded_for},
    )
    return answer.status_code


def test_a_local_client_cannot_escape_the_sign_up_limit_by_forging_the_header(
    site: Site,
) -> None:
    limit = site.settings.web.subscribe_per_ip_per_hour
    codes = [sign_up_from(site, "127.0.0.1", f"198.51.100.{n}", n) for n in range(limit + 1)]
    assert codes == [200] * limit + [429]


def test_one_ipv6_network_cannot_escape_the_sign_up_limit_by_rotating_addresses(
    site: Site,
) -> None:
    """Anyone given an IPv6 /64 holds 2^64 addresses: the limit counts the /64."""
    limit = site.settings.web.subscribe_per_ip_per_hour
    codes = [sign_up_from(site, f"2001:db8:1:2::{n + 1:x}", "", n) for n in range(limit + 1)]
    assert codes == [200] * limit + [429]


def test_each_ipv6_network_has_its_own_sign_up_limit(site: Site) -> None:
    limit = site.settings.web.subscribe_per_ip_per_hour
    for n in range(limit):
        sign_up_from(site, f"2001:db8:1:2::{n + 1:x}", "", n)
    assert sign_up_from(site, "2001:db8:1:3::1", "", 99) == 200


@pytest.fixture
def proxied(tmp_path: Path, template_root: tuple[Path, Period]) -> Iterator[Site]:
    yield from make_site(tmp_path, template_root, trusted_proxies=["10.0.0.2"])


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(proxied: Site) -> None:
    limit = proxied.settings.web.subscribe_per_ip_per_hour
    for n in range(limit):
        sign_up_from(proxied, "10.0.0.2", "198.51.100.1", n)
    assert sign_up_from(proxied, "10.0.0.2", "198.51.100.1", 99) == 429
    assert sign_up_from(proxied, "10.0.0.2", "198.51.100.2", 100) == 200


def test_the_served_app_ignores_forwarded_headers_from_localhost(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The attack re-run against uvicorn itself, configured as `digest serve` runs it."""
    with Demo(tmp_path_factory.mktemp("forwarded")) as demo, httpx.Client() as http:
        limit = demo.settings.web.subscribe_per_ip_per_hour
        codes = []
        for n in range(limit + 1):
            page = http.get(f"{demo.url}/subscribe").text
            token = re.search(r'name="csrf" value="([^"]+)"', page)
            assert token
            answer = http.post(
                f"{demo.url}/subscribe",
                data={"csrf": token.group(1), "email": f"r{n}@example.com"},
                headers={"x-forwarded-for": f"198.51.100.{n}"},
            )
            codes.append(answer.status_code)
    assert codes == [200] * limit + [429]
