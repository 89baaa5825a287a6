"""`python -m devnet up ...` (the same commands as `basis devnet ...`)."""

from devnet.cli import app

if __name__ == "__main__":
    app()
