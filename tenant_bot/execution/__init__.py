"""Crash-safe two-leg execution: a journaled state machine per open or close, and recovery."""
