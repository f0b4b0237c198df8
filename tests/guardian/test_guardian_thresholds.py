"""The thresholds table lives in one place, renders for skills, and stays consistent with itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.guardian import LADDER, THRESHOLDS, skill_values, thresholds_markdown
from engine.guardian import _thresholds as T

ROOT = Path(__file__).resolve().parents[2]
GUARDIAN_SKILLS = ("auto-heal", "failover", "incident-response", "provider-health")


def test_bands_are_ordered() -> None:
    assert 0 < T.DEGRADED_MIN < T.HEALTHY_MIN <= T.RECOVERY_MIN <= 100
    assert T.UNREACHABLE_CAP < T.DEGRADED_MIN  # a silent node is never merely "degraded"
    assert T.PENALTY_GATEWAY_DOWN > 100 - T.DEGRADED_MIN  # a dead gateway alone is critical
    assert T.DISK_WARN_PERCENT < T.DISK_CRITICAL_PERCENT <= 100
    assert T.MEM_WARN_PERCENT < T.MEM_CRITICAL_PERCENT <= 100
    assert T.LATENCY_WARN_MS < T.LATENCY_CRITICAL_MS
    assert T.MAX_FAILOVERS_PER_REGION_PER_HOUR <= T.MAX_INCIDENT_FAILOVERS_PER_REGION_PER_HOUR
    assert T.REPORT_STALE_S < T.SWEEP_INTERVAL_S


def test_the_markdown_table_has_every_threshold_with_its_value() -> None:
    md = thresholds_markdown()
    lines = md.strip().splitlines()
    assert lines[0] == "| threshold | value | unit | meaning |"
    assert len(lines) == len(THRESHOLDS) + 2
    assert len({t.name for t in THRESHOLDS}) == len(THRESHOLDS)
    assert f"| healthy | {T.HEALTHY_MIN} | score |" in md
    assert f"| degraded | {T.DEGRADED_MIN} | score |" in md
    assert f"| failed_after_missed_sweeps | {T.FAILED_AFTER_MISSED_SWEEPS} | sweeps |" in md
    assert "| region_failure_share | 0.3 | share |" in md


def test_skill_values_are_placeholder_safe_and_quote_the_code() -> None:
    values = skill_values()
    assert all(re.fullmatch(r"[a-z_]+", k) for k in values)
    assert values["guardian_healthy_min"] == str(T.HEALTHY_MIN)
    assert values["guardian_failed_after_missed_sweeps"] == str(T.FAILED_AFTER_MISSED_SWEEPS)
    assert values["guardian_sweep_interval"] == "5 min"
    assert values["guardian_thresholds_table"] == thresholds_markdown().rstrip("\n")
    assert all(f"| {s.number} | {s.what} |" in values["guardian_heal_ladder"] for s in LADDER)


@pytest.mark.parametrize("skill", GUARDIAN_SKILLS)
def test_guardian_placeholders_in_skills_exist_in_code(skill: str) -> None:
    """Skills quote Guardian's numbers through ``{{guardian_*}}`` placeholders; each must name a real value."""
    path = ROOT / "skills" / skill / "SKILL.md"
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    used = set(re.findall(r"\{\{\s*(guardian_[a-z_]+)\s*\}\}", path.read_text(encoding="utf-8")))
    assert used <= set(skill_values()), f"{skill} quotes unknown Guardian values: {sorted(used - set(skill_values()))}"
