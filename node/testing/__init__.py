"""Test support for suites that use lpsim: the `lp_*` pytest fixtures (node.testing.plugin,
registered as the `lpsim` pytest11 plugin) and what they are built from, usable without pytest:

- `chains`: a chain per backend name and test-friendly protocol parameters;
- `moves`: the common protocol moves (bond, reward, next round, fund, sign and redeem a ticket);
- `devchain`: `lpnode devchain` as a process, read from its ready file;
- `devnet`: a whole paid network (devchain, orchestrators, gateway) in a background thread.

Nothing here is imported at plugin load: each fixture imports what it needs when it runs.
"""
