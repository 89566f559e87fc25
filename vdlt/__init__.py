"""vDLT: the service-oriented ledger the harness exercises (seed 001)."""
