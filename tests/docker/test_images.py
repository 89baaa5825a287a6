"""What the bot image carries: the bot and its libraries, never the control plane, the devnet or their
libraries (the Docker SDK, PostgreSQL's driver, Privy's tokens, QR codes)."""

from __future__ import annotations

from typing import Any

# What only the control plane's and the devnet's extras bring, and their code.
ABSENT = ("orchestrator", "devnet", "docker", "psycopg", "jwt", "segno", "migrations.control_plane")
PRESENT = ("tenant_bot.main", "tenant_bot.api.app", "shared.launch", "migrations.tenant")


def test_the_bot_image_ships_the_bot_and_nothing_of_the_control_plane_or_the_devnet(
    docker_client: Any, bot_image: str
) -> None:
    probe = (
        "import importlib.util as u, sys\n"
        "def has(name):\n"
        "    try:\n"
        "        return u.find_spec(name) is not None\n"
        "    except ModuleNotFoundError:\n"
        "        return False\n"
        f"print(' '.join(n for n in {ABSENT!r} if has(n)) or '-')\n"
        f"print(' '.join(n for n in {PRESENT!r} if not has(n)) or '-')\n"
    )
    out = docker_client.containers.run(
        bot_image, ["-c", probe], entrypoint=["python3"], network_mode="none", remove=True
    )
    present_absent, missing = out.decode().split("\n")[:2]
    assert present_absent == "-", f"the bot image ships {present_absent}"
    assert missing == "-", f"the bot image lacks {missing}"
