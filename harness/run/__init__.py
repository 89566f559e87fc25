"""One benchmark run: the run as a library call (runner.py) and the node state it records while
it goes on (node_state.py)."""
