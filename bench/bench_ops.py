"""Operations benchmarks (issue 4): the crash drill, and a config push with one bad batch.

Run:  .venv/bin/python bench/bench_ops.py [--pairs 200] [--kills 20]
Prints a table: metric | target | measured.

Crash drill: two vendor emulators run as their own processes (so provider
state survives the engine's death, as a real cloud would); an engine
provisions N pairs through the real drivers and is killed with SIGKILL at
random moments, then restarted to resume, again and again.  At the end every
emulator is listed and compared with the store: orphan servers (bought but
not tracked), duplicate purchases (two servers for one instance) and pairs
ACTIVE.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESUME = """
import asyncio
from engine.runtime import Engine
engine = Engine.open()
engine.ops.step_lease_seconds = 0.0  # the bench knows the previous engine is dead
asyncio.run(engine.ops.resume_unfinished())
engine.close()
"""


def start_emulator(provider: str, scale: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "emulate", provider, "--time-scale", str(scale)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def job_state(db: Path) -> tuple[str | None, int, int]:
    if not db.exists():
        return None, 0, 0
    con = sqlite3.connect(db, timeout=10)
    try:
        row = con.execute("SELECT id, status FROM jobs ORDER BY created_at LIMIT 1").fetchone()
        if row is None:
            return None, 0, 0
        done = con.execute("SELECT count(*) FROM job_steps WHERE job_id = ? AND status = 'done'", (row[0],)).fetchone()[
            0
        ]
        total = con.execute("SELECT count(*) FROM job_steps WHERE job_id = ?", (row[0],)).fetchone()[0]
        return str(row[1]), int(done), int(total)
    except sqlite3.OperationalError:
        return None, 0, 0
    finally:
        con.close()


def crash_drill(pairs: int, kills: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    home = Path(tempfile.mkdtemp(prefix="clawops-drill-"))
    emus = {p: start_emulator(p, 300.0) for p in ("hetzner", "vultr")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWOPS_")}
    # Real drivers against the emulators; the nodes are simulated (no VPS boots behind an emulator).
    env.update(
        {
            "CLAWOPS_HOME": str(home),
            "CLAWOPS_DEMO": "false",
            "CLAWOPS_PROVIDER_TIME_SCALE": "300",
            "CLAWOPS_NODE_COMMANDS": "simulated",
        }
    )
    for provider, (_, url) in emus.items():
        env[f"CLAWOPS_{provider.upper()}_TOKEN"] = "drill-token"
        env[f"CLAWOPS_{provider.upper()}_BASE_URL"] = url
    db = home / "clawops.db"
    started = time.perf_counter()
    try:
        first = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "ask",
                "--yes",
                f"provision {pairs} pairs in the EU, hetzner primary, vultr standby",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while job_state(db)[0] is None and first.poll() is None:
            time.sleep(0.05)
        killed = 0
        proc: subprocess.Popen[bytes] = first
        while killed < kills:
            time.sleep(rng.uniform(0.1, 1.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
            status, done, total = job_state(db)
            if status != "running" and done == total:
                break
            proc = subprocess.Popen(
                [sys.executable, "-c", RESUME], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        proc.wait()
        final = subprocess.run([sys.executable, "-c", RESUME], env=env, cwd=ROOT, capture_output=True, text=True)
        if final.returncode != 0:
            print(final.stderr[-2000:], file=sys.stderr)
        elapsed = time.perf_counter() - started
        return {"kills": killed, "elapsed": elapsed, **asyncio.run(audit_world(env, db))}
    finally:
        for proc_, _ in emus.values():
            proc_.terminate()


async def audit_world(env: dict[str, str], db: Path) -> dict[str, float]:
    import httpx

    from engine.providers.registry import driver_from_env

    con = sqlite3.connect(db)
    tracked = {
        iid: (prov, sid or "")
        for iid, prov, sid in con.execute(
            "SELECT id, provider, provider_server_id FROM instances WHERE state != 'DELETED'"
        )
    }
    active_pairs = con.execute(
        "SELECT count(*) FROM (SELECT account_id FROM instances WHERE state = 'ACTIVE' "
        "GROUP BY account_id HAVING count(*) = 2)"
    ).fetchone()[0]
    con.close()
    servers_per_instance: Counter[str] = Counter()
    untracked = 0
    async with httpx.AsyncClient() as client:
        for provider in ("hetzner", "vultr"):
            driver = driver_from_env(provider, client, env=env, time_scale=300.0)
            for server in await driver.list_servers():
                if server.instance_id is None:
                    continue
                servers_per_instance[server.instance_id] += 1
                if server.instance_id not in tracked or tracked[server.instance_id][1] != server.server_id:
                    untracked += 1
    duplicates = sum(n - 1 for n in servers_per_instance.values() if n > 1)
    return {"orphans": untracked - duplicates, "duplicates": duplicates, "active_pairs": active_pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    drill = crash_drill(args.pairs, args.kills, args.seed)
    rows = [
        ("crash drill: engine SIGKILLs during provisioning", f"{args.kills}", f"{drill['kills']:.0f}"),
        ("crash drill: orphan servers", "0", f"{drill['orphans']:.0f}"),
        ("crash drill: duplicate purchases", "0", f"{drill['duplicates']:.0f}"),
        (f"crash drill: pairs ACTIVE at the end (of {args.pairs})", f"{args.pairs}", f"{drill['active_pairs']:.0f}"),
        ("crash drill: wall time incl. restarts", "-", f"{drill['elapsed']:.1f} s"),
    ]
    from bench._table import print_table

    print_table(rows)


if __name__ == "__main__":
    main()
