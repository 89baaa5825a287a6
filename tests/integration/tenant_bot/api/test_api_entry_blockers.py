"""A manual open through a real `basis-bot serve` meets the same entry blockers as an automatic one.

Issue 15: the dashboard's open checked only the operator's own blockers (halt, pause, kill switch),
so it opened into a venue outage or a price divergence that had stopped automatic entries.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.tenant_bot.api.conftest import wait_for, wait_job
from tests.support.bot import funded_bot_on_own_devnet

pytestmark = pytest.mark.devnet


def test_a_venue_outage_refuses_a_manual_open_until_it_ends(tmp_path: Path) -> None:
    risk = tmp_path / "risk.yaml"
    risk.write_text("outage:\n  pause_entries_after_seconds: 1\n")
    env = {"BASIS_RISK_FILE": str(risk), "BASIS_TICK_SECONDS": "0.5", "BASIS_IDLE_TICK_SECONDS": "0.5"}
    with funded_bot_on_own_devnet(tmp_path, seed=24, usdc="3000", **env) as served, served.client() as api:
        # Arbitrum is only where deposits come from: an open does not need it, so only the risk
        # engine's outage blocker can refuse this one.
        served.bot.dn.scenario("venue_outage", venue="arbitrum", minutes=None)

        def outage_blocker() -> str | None:
            blockers = api.get("/api/v1/status").json()["entry_blockers"]
            return next((b for b in blockers if "arbitrum has not answered" in b), None)

        blocker = wait_for(outage_blocker, timeout=30)
        r = api.post("/api/v1/positions/open", json={"capital_usd": "1000", "asset": "SOL"})
        assert r.status_code == 409, r.text
        detail = r.json()["detail"]
        assert detail.startswith(
            "the risk engine blocks new entries (pause_entries: arbitrum has not answered"
        )
        preview = api.post("/api/v1/positions/preview", json={"capital_usd": "1000"}).json()
        assert preview["long"] and preview["blocked"].startswith("the risk engine blocks new entries")
        assert blocker.startswith("pause_entries: arbitrum")
        assert api.get("/api/v1/positions").json()["positions"] == []

        # The outage ends: the blocker clears on the next tick and the same open goes through.
        served.bot.dn.scenario("calm")
        wait_for(lambda: outage_blocker() is None, timeout=30)
        r = api.post("/api/v1/positions/open", json={"capital_usd": "1000", "asset": "SOL"})
        assert r.status_code == 202, r.text
        assert wait_job(api, r.json()["id"])["state"] == "done"
