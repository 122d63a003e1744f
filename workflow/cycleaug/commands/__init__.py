"""Subcommands of the `cycleaug` CLI; see `cycleaug.cli` for the contract each module follows."""
