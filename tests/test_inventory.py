"""Inventory values as every consumer reads them: templates rendered once, paths absolute."""
from __future__ import annotations

import sys
from pathlib import Path

from harness.provision.inventory import load_inventory


def test_templates_render_as_a_play_renders_them_and_paths_are_absolute(tmp_path: Path, monkeypatch) -> None:
    lab = tmp_path / "my-lab"
    (lab / "group_vars").mkdir(parents=True)
    (lab / "hosts.yml").write_text(
        "all:\n  children:\n    control:\n      hosts:\n        c0: {ansible_host: 192.0.2.1, agent_port: 50051}\n"
        "    execution:\n      hosts:\n        e0: {ansible_host: 192.0.2.2, agent_port: \"{{ base_port + 1 }}\"}\n")
    (lab / "group_vars" / "all.yml").write_text(
        'base_port: 50060\n'
        'vdlt_known_hosts: "{{ inventory_dir }}/known_hosts"\n'
        'vdlt_node_root: "{{ vdlt_home }}/nodes/{{ inventory_hostname }}"\n'
        'vdlt_home: /opt/vdlt\n'
        'vdlt_python: "{{ harness_python }}"\n'
        'roles_here: "{{ group_names | join(\',\') }}"\n'
        'secret: "{{ lookup(\'env\', \'HOME\') }}"\n')
    monkeypatch.chdir(tmp_path)
    inventory = load_inventory("my-lab")  # relative, as a user types it
    assert inventory.hosts_file == lab / "hosts.yml" and inventory.directory.is_absolute()
    e0 = next(n for n in inventory.nodes if n.name == "e0")
    assert e0.variables["vdlt_known_hosts"] == f"{lab}/known_hosts"
    assert e0.variables["vdlt_node_root"] == "/opt/vdlt/nodes/e0"
    assert e0.variables["vdlt_python"] == sys.executable
    assert e0.variables["roles_here"] == "execution"
    assert e0.port == 50061  # a template that renders a number is one
    # What only Ansible can render (a lookup) is left for Ansible, as written.
    assert e0.variables["secret"] == "{{ lookup('env', 'HOME') }}"
