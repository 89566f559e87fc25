"""What users write: benchmark files (Caliper's shape plus CoS mixes), read with their lines."""
