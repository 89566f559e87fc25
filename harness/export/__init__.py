"""Results to InfluxDB-compatible servers: the run folder stays the source of truth."""
