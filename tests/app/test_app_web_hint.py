"""The web chat's sign-in page tells a newcomer how to get a key (no dead end at the first screen)."""

from __future__ import annotations

from app.web import LOGIN_PAGE


def test_the_sign_in_page_says_how_to_get_a_key() -> None:
    page = LOGIN_PAGE.format(error="")
    assert "clawops operator key" in page and "owner.key" in page and "--role operator --key" in page
