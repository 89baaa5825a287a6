"""Migrations of the control plane's database. Applied by the control plane at start-up."""
