"""`basis`: the operator CLI."""

from __future__ import annotations

import typer

from devnet.cli import app as devnet_app

app = typer.Typer(help="Basis operator CLI.", no_args_is_help=True)
app.add_typer(devnet_app, name="devnet")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
