"""Money as the operator reads it: one figure per thing, computed once in EUR and rounded once, for display.

Every amount is kept in EUR to the cent (the catalog's prices, USD converted at ``usd_to_eur``); only the moment
it is shown does it become the operator's currency (``Settings.currency``, USD by default), rounded to whole
units from 100 up and to cents below.  Everything a person reads — the Ledger's summary, the numbered findings,
a plan card, "what did that save us?", the briefing — goes through :class:`Money`, so the same saving is the same
number everywhere.  A text that rounded first and converted afterwards (``€601`` → ``$653`` beside ``$654``) was
how two replies came to disagree.

Totals that sit beside their parts are the sum of the parts *as shown* (:meth:`Money.total`), so a reader who
adds the lines up gets the total printed under them (to the cent when a part below 100 has cents).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["CURRENCIES", "Money"]

CURRENCIES = ("USD", "EUR")
_SYMBOLS = {"USD": "$", "EUR": "€"}
WHOLE_FROM = 100.0
"""From this amount up a figure is shown in whole units ("$654"); below it, to the cent ("$22.28")."""


@dataclass(frozen=True, slots=True)
class Money:
    """How EUR amounts are shown: in ``currency`` (USD or EUR), USD at ``usd_to_eur`` EUR per dollar."""

    currency: str = "EUR"
    usd_to_eur: float = 0.92

    @classmethod
    def of(cls, settings: Any) -> Money:
        """The operator's money from the settings (``currency``, ``usd_to_eur``)."""
        return cls.named(str(getattr(settings, "currency", "EUR")), float(getattr(settings, "usd_to_eur", 0.92)))

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> Money:
        """The money a Ledger result was shown in (its ``display``); EUR for a result without one."""
        display = result.get("display") if isinstance(result, dict) else None
        if not isinstance(display, dict):
            return cls()
        return cls.named(str(display.get("currency") or "EUR"), float(display.get("usd_to_eur") or 0.92))

    @classmethod
    def named(cls, currency: str, usd_to_eur: float) -> Money:
        """``currency`` in any case; one we cannot show falls back to EUR, the currency amounts are kept in."""
        code = (currency or "EUR").upper()
        return cls(code if code in CURRENCIES else "EUR", usd_to_eur)

    @property
    def symbol(self) -> str:
        return _SYMBOLS.get(self.currency, "€")

    def amount(self, eur: float) -> float:
        """``eur`` in the display currency, not rounded (for sums of many tiny figures)."""
        if self.currency == "USD" and self.usd_to_eur:
            return eur / self.usd_to_eur
        return eur

    def shown(self, eur: float) -> float:
        """The figure as it is shown: converted, then rounded once (whole units from 100 up, cents below)."""
        value = self.amount(float(eur))
        cents = round(value, 2)
        return float(round(value)) if abs(cents) >= WHOLE_FROM else cents + 0.0

    def text(self, eur: float, *, sign: bool = False) -> str:
        """``$654``, ``$22.28``, ``€1,205``; ``sign=True`` writes ``+$12`` / ``-$1,340`` for a change."""
        return self.format(self.shown(eur), sign=sign)

    def format(self, shown: float, *, sign: bool = False) -> str:
        """A figure already in the display currency and rounded (e.g. a :meth:`total`) as text: whole units from
        100 up unless it has cents (a total of "$251" and "$81.90" is "$332.90", exactly what they add up to)."""
        whole = abs(shown) >= WHOLE_FROM and abs(shown - round(shown)) < 0.005
        body = f"{abs(shown):,.0f}" if whole else f"{abs(shown):,.2f}"
        prefix = "-" if shown < 0 else ("+" if sign and shown > 0 else "")
        return f"{prefix}{self.symbol}{body}"

    def total(self, eurs: Iterable[float]) -> float:
        """The sum of the parts as shown (what a reader adding the lines up gets)."""
        return round(sum(self.shown(x) for x in eurs), 2) + 0.0

    def total_text(self, eurs: Iterable[float]) -> str:
        return self.format(self.total(eurs))

    def words(self, eur: float) -> str:
        """A spoken amount in whole units ("654 dollars", "less than 1 euro"): cents are noise in a voice note."""
        value = self.amount(float(eur))
        whole = round(value)
        unit = "dollar" if self.currency == "USD" else "euro"
        if whole == 0 and value > 0:
            return f"less than 1 {unit}"
        return f"{whole} {unit}" if whole == 1 else f"{whole} {unit}s"

    def display(self) -> dict[str, Any]:
        """What a result says about how it is shown (its ``display`` key)."""
        return {"currency": self.currency, "usd_to_eur": self.usd_to_eur}
