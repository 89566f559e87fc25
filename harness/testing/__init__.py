"""Real parts for tests and benchmarks on one machine: SSH hosts in network namespaces, a
stand-in control node, results databases from Debian's packages, local testbeds of their own."""
