"""The engine's voice settings and the fleet's own words, handed to the ``voice`` package.

``voice_config(settings, store)`` turns ``voice_stt_model``, ``voice_tts_model`` and ``voice_speaking_rate``
(engine/config.py) into a ``voice.VoiceConfig`` whose vocabulary prompt names what this fleet actually has:
its providers, the cities of its regions and the team's agents, so Whisper writes "Hetzner in Nuremberg",
not "Hetsner in your Hamburg".  The prompt stays bounded (``voice._stt.MAX_PROMPT_WORDS``); account ids are
not in it — spoken ids are turned into ``acct-NNN`` after transcription (``voice.normalize_transcript``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from engine.briefer._speech import PROVIDER_NAMES
from engine.config import Settings
from engine.domain import parse_region
from engine.errors import ClawOpsError
from engine.store import Instance, Store

if TYPE_CHECKING:
    import voice as voice_pkg

__all__ = ["fleet_vocabulary", "voice_config"]

log = logging.getLogger("clawops.briefer")

AGENT_WORDS = "Commander, Guardian, Forge, Ledger, Triage, Briefer"
OPS_WORDS = (
    "degraded, fail over to the standby, primary, provision, tear down, restart, resize, provider health, rollout"
)


def fleet_vocabulary(store: Store | None) -> str:
    """ "ClawOps fleet on Hetzner, Vultr … in Nuremberg, Falkenstein …: degraded, failover … Guardian, Ledger …"."""
    providers: list[str] = []
    cities: list[str] = []
    if store is not None:
        try:
            with store.session() as s:
                rows = s.exec(select(Instance.region).distinct()).all()
            regions = sorted({str(r) for r in rows})
        except Exception:  # a store that cannot be read still gets the generic words
            log.debug("fleet vocabulary: store not readable", exc_info=True)
            regions = []
        for region in regions:
            try:
                parsed = parse_region(region)
            except ClawOpsError:
                continue
            providers.append(PROVIDER_NAMES.get(parsed.provider.value, parsed.provider.value.capitalize()))
            cities.append(parsed.city)
    if not providers:
        providers = ["Hetzner", "Vultr", "Contabo", "Hostinger", "DigitalOcean"]
    providers = [p.replace("Digital Ocean", "DigitalOcean") for p in dict.fromkeys(providers) if p != "the simulator"]
    where = f" Regions in {', '.join(dict.fromkeys(cities))}." if cities else ""
    return f"ClawOps fleet on {', '.join(providers)}: {OPS_WORDS}, {AGENT_WORDS}.{where}"


def voice_config(settings: Settings, store: Store | None = None) -> voice_pkg.VoiceConfig:
    """The voice settings of this engine (environment knobs like ``CLAWOPS_VOICE_VAD`` still apply)."""
    import voice

    base = voice.VoiceConfig.from_env()
    changes: dict[str, Any] = {"vocabulary": fleet_vocabulary(store)}
    if settings.voice_stt_model:
        changes["stt_model"] = settings.voice_stt_model
    if settings.voice_tts_model:
        changes["tts_model"] = settings.voice_tts_model
    if settings.voice_speaking_rate != 1.0:
        changes["tts_length_scale"] = round(1.0 / settings.voice_speaking_rate, 3)
    return base.with_(**changes)
