"""The backtest: the bot's own decision code over recorded market history, on simulated venues."""
