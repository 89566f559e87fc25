"""The agent deployed to every testbed node: state reports, health, and the node's vdlt role."""
