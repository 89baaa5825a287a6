"""API wallets ("agents"): keys a user approves to sign L1 actions (orders, cancels, leverage) for it.

As on the venue: an account has one unnamed agent and up to three named ones; approving a name
again replaces its agent, approving the zero address removes it, and an address once used as an
agent cannot be approved again. A name may end in " valid_until <ms>" (at most 180 days ahead;
default 90 days). Agents cannot sign user-signed actions (withdrawals, transfers, approvals):
those are always attributed to their signer's own account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devnet.hyperliquid import errors

ZERO_ADDRESS = "0x" + "0" * 40
MAX_NAMED = 3
DEFAULT_VALID_MS = 90 * 24 * 3600 * 1000
MAX_VALID_MS = 180 * 24 * 3600 * 1000
VALID_UNTIL = " valid_until "


@dataclass(frozen=True)
class Agent:
    address: str
    master: str
    name: str
    valid_until: int


class AgentBook:
    def __init__(self) -> None:
        self._agents: dict[str, Agent] = {}
        self._by_master: dict[str, dict[str, str]] = {}  # master → name ("" unnamed) → agent
        self._used: set[str] = set()

    def approve(self, master: str, agent: str, name: str, now_ms: int) -> None:
        """Register, replace or (agent = 0x0) remove an agent; raises ActionError when refused."""
        agent = agent.lower()
        valid_until = now_ms + DEFAULT_VALID_MS
        if VALID_UNTIL in name:
            name, _, until = name.partition(VALID_UNTIL)
            if not until.isdigit() or not now_ms < int(until) <= now_ms + MAX_VALID_MS:
                raise errors.ActionError("Agent valid_until already expired.")
            valid_until = int(until)
        slots = self._by_master.setdefault(master, {})
        if agent != ZERO_ADDRESS and (agent in self._used or agent == master):
            raise errors.ActionError(errors.AGENT_USED)
        previous = slots.pop(name, None)
        if previous is not None:
            self._agents.pop(previous, None)
        if agent == ZERO_ADDRESS:
            return
        if name and sum(1 for n in slots if n) >= MAX_NAMED:
            raise errors.ActionError(errors.TOO_MANY_AGENTS)
        slots[name] = agent
        self._agents[agent] = Agent(agent, master, name, valid_until)
        self._used.add(agent)

    def master_of(self, signer: str, now_ms: int) -> str | None:
        agent = self._agents.get(signer)
        if agent is None or agent.valid_until <= now_ms:
            return None
        return agent.master

    def named(self, master: str) -> list[Agent]:
        """What extraAgents lists: the named agents (unnamed ones are not shown, as on the venue)."""
        return [
            self._agents[a] for n, a in self._by_master.get(master, {}).items() if n and a in self._agents
        ]

    def unnamed(self, master: str) -> Agent | None:
        """The master's unnamed agent (the one webData2 shows as `agentAddress`), if any."""
        address = self._by_master.get(master, {}).get("")
        return self._agents.get(address) if address is not None else None

    def snapshot(self) -> dict[str, Any]:
        return {
            a.address: {"master": a.master, "name": a.name, "valid_until": a.valid_until}
            for a in self._agents.values()
        }
