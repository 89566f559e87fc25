"""Reports built from run folders alone, and their figures."""
