"""Platform adapters: one folder per platform, each with its client, mapping and sandbox."""
