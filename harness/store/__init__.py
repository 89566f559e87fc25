"""The run folder, the local store every run writes first and every report reads: its layout,
summary, per-transaction records, node samples and manifest."""
