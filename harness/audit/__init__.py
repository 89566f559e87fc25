"""The audit: what a run's clients were told, checked against what the ledger's nodes hold
(ARCHITECTURE.md, "Safety of the ledger"). A pure check (`check.py`), the connectors' ways of
reading their chains (`vdlt.py`), and the run-level call that writes `audit.json` (`run.py`)."""
