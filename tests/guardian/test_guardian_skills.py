"""Guardian's skills quote the code: thresholds and heal steps come from engine.guardian, never from prose.

The test fails when a skill writes one of Guardian's numbers by hand (it would drift), when a skill stops
quoting a value it must explain, or when the loaded skill text does not carry the code's current values.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.agents import code_values, load_skills, render
from engine.guardian import LADDER, skill_values, thresholds_markdown
from engine.guardian import _thresholds as T
from engine.guardian._heal import ladder_markdown

ROOT = Path(__file__).resolve().parents[2]
REQUIRED: dict[str, set[str]] = {
    "auto-heal": {
        "guardian_heal_ladder",
        "guardian_sweep_interval",
        "guardian_healthy_min",
        "guardian_degraded_min",
        "guardian_recovery_min",
        "guardian_failed_after_missed_sweeps",
        "guardian_flap_max_recoveries",
        "guardian_flap_window",
        "guardian_instance_max_heal_actions",
        "guardian_escalation_quiet",
        "guardian_max_reboots_per_region_per_hour",
        "guardian_max_failovers_per_region_per_hour",
        "guardian_max_incident_failovers_per_region_per_hour",
        "guardian_region_failure_min_instances",
        "guardian_gateway_flapping_restarts",
        "guardian_disk_critical_percent",
    },
    "failover": {
        "guardian_healthy_min",
        "guardian_heal_concurrency",
        "guardian_region_silence",
        "guardian_region_silence_minutes",
        "guardian_max_incident_failovers_per_region_per_hour",
    },
    "incident-response": {
        "guardian_region_failure_min_instances",
        "guardian_region_failure_share_percent",
        "guardian_region_silence",
        "guardian_region_silence_minutes",
    },
    "provider-health": {"guardian_healthy_min", "guardian_degraded_min"},
}
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_CODE_SPAN = re.compile(r"`[^`]*`")
# A number followed by a unit Guardian's limits use, or a score written out: these must be placeholders.
_HAND_WRITTEN = re.compile(
    r"\b\d+(?:\.\d+)?\s*(?:%|percent|s|sec|seconds?|min|minutes?|h|hours?|sweeps?|restarts?|failovers?|reboots?|"
    r"actions?|times|attempts?|instances|points)\b|\bscore (?:of |at |below |above )?\d+",
    re.I,
)
_EXAMPLES = ("## Report shape",)
"""Sections that show an example report (its numbers are an illustration, not a limit)."""


def _raw(skill: str) -> str:
    return (ROOT / "skills" / skill / "SKILL.md").read_text(encoding="utf-8")


def _prose(text: str) -> str:
    """The skill's own words: no front matter, no example sections, no code spans, no placeholders."""
    body = text.split("---", 2)[2]
    for marker in _EXAMPLES:
        body = body.split(marker)[0]
    return _PLACEHOLDER.sub("X", _CODE_SPAN.sub("", body))


@pytest.mark.parametrize("skill", sorted(REQUIRED))
def test_skills_quote_guardians_values_instead_of_writing_them(skill: str) -> None:
    text = _raw(skill)
    used = set(_PLACEHOLDER.findall(text))
    assert REQUIRED[skill] <= used, f"{skill} no longer quotes {sorted(REQUIRED[skill] - used)}"
    guardian = {u for u in used if u.startswith("guardian_")}
    assert guardian <= set(skill_values()), f"{skill} quotes unknown values {sorted(guardian - set(skill_values()))}"
    hand_written = _HAND_WRITTEN.findall(_prose(text))
    assert not hand_written, f"{skill} writes Guardian numbers by hand (use {{{{guardian_*}}}}): {hand_written}"


@pytest.mark.parametrize("skill", sorted(REQUIRED))
def test_loaded_skills_carry_the_codes_current_numbers(skill: str) -> None:
    body = load_skills(ROOT / "skills")[skill].body
    values = skill_values()
    for name in REQUIRED[skill]:
        assert values[name] in body
    assert "{{" not in body


def test_the_auto_heal_skill_holds_the_ladder_from_code_step_by_step() -> None:
    body = load_skills(ROOT / "skills")["auto-heal"].body
    assert ladder_markdown().rstrip("\n") in body
    assert [f"| {s.number} | {s.what} | {s.tool} |" in body for s in LADDER] == [True] * len(LADDER)
    assert len(LADDER) == 6 and [s.number for s in LADDER] == [1, 2, 3, 4, 5, 6]


def test_changing_a_threshold_in_code_changes_the_skill_text() -> None:
    """The values really flow from code: a different number in code is a different prompt."""
    text = _raw("failover")
    values = code_values()
    now = render(text, values, "failover")
    assert f"score of {T.HEALTHY_MIN} or more" in now
    changed = render(text, {**values, "guardian_healthy_min": "77"}, "failover")
    assert "score of 77 or more" in changed and f"score of {T.HEALTHY_MIN} or more" not in changed


def test_code_values_include_every_guardian_value() -> None:
    values = code_values()
    assert {k: v for k, v in values.items() if k.startswith("guardian_")} == skill_values()
    assert values["guardian_thresholds_table"] == thresholds_markdown().rstrip("\n")


def test_the_hand_written_number_check_catches_a_drift() -> None:
    """Guard the guard: the prose check flags a number written by hand."""
    drifted = "---\nname: x\n---\nA standby needs a score of 80 to be promoted; silence for 60 minutes.\n"
    assert len(_HAND_WRITTEN.findall(_prose(drifted))) == 2
    quoted = "---\nname: x\n---\nA standby needs a score of {{guardian_healthy_min}}; see `minutes=60`.\n"
    assert not _HAND_WRITTEN.findall(_prose(quoted))
