"""What the control plane, the bots and the devnet all import: settings, logging, domain types, retry."""
