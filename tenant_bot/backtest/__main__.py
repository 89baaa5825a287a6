"""`python -m tenant_bot.backtest --data DIR ...`: see `tenant_bot.backtest.cli`."""

from tenant_bot.backtest.cli import main

main()
