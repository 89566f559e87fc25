"""What the parts of the testbed say to each other: the gRPC messages of the ledger (control and
execution planes) and of the node agents, TLS for their channels, and the one follower of a node
agent's state stream. vdlt, node_agent and harness all build on it; it imports none of them."""
