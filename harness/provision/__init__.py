"""Testbeds: inventories, Ansible through ansible-runner, the node bundle, TLS material, SSH."""
