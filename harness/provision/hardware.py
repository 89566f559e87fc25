"""Hardware profile records: what Ansible's facts say a node is, stored with every run."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node_agent.cgroups import cpu_count
from node_agent.limits import Limits

# Boards without DMI (many ARM single-board computers) report these instead of a value.
_MISSING = {"NA", "N/A", "", "To Be Filled By O.E.M.", "Default string", "None"}


def _value(facts: dict[str, Any], key: str) -> Any:
    value = facts.get(key)
    return None if isinstance(value, str) and value.strip() in _MISSING else value


def profile_record(node: str, label: str, facts: dict[str, Any], limits: Limits | None = None) -> dict[str, Any]:
    """What the facts say the node is; with ``limits`` (its `vdlt_limits`), also what it is capped to look like."""
    processor = facts.get("ansible_processor") or []
    # ansible_processor alternates index, vendor, model (x86) or lists model names (ARM).
    models = [p for p in processor if isinstance(p, str) and not p.isdigit() and p not in ("GenuineIntel", "AuthenticAMD")]
    disks = {
        name: {"size": device.get("size"), "rotational": device.get("rotational") == "1",
               "model": _value(device, "model")}
        for name, device in (facts.get("ansible_devices") or {}).items()
        if not name.startswith(("loop", "ram", "dm-", "sr", "zram"))
    }
    interfaces = {}
    for name in facts.get("ansible_interfaces") or []:
        details = facts.get(f"ansible_{name.replace('-', '_')}") or {}
        if name == "lo" or not isinstance(details, dict):
            continue
        interfaces[name] = {"speed_mbps": details.get("speed"), "mtu": details.get("mtu"),
                            "ipv4": (details.get("ipv4") or {}).get("address")}
    record = {
        "node": node,
        "hardware_profile": label,
        "architecture": _value(facts, "ansible_architecture"),
        "cpu_model": models[0] if models else None,
        "cpu_cores": _value(facts, "ansible_processor_cores"),
        "cpu_sockets": _value(facts, "ansible_processor_count"),
        "cpu_threads": _value(facts, "ansible_processor_vcpus") or _value(facts, "ansible_processor_nproc"),
        "memory_mb": _value(facts, "ansible_memtotal_mb"),
        "disks": disks,
        "interfaces": interfaces,
        "system_vendor": _value(facts, "ansible_system_vendor"),
        "product_name": _value(facts, "ansible_product_name"),
        "virtualization": _value(facts, "ansible_virtualization_type"),
        "os": " ".join(str(v) for v in (_value(facts, "ansible_distribution"),
                                        _value(facts, "ansible_distribution_version")) if v) or None,
        "kernel": _value(facts, "ansible_kernel"),
    }
    if limits is not None and limits.capped:
        record.update(_emulated(limits, record))
    return record


def _emulated(limits: Limits, record: dict[str, Any]) -> dict[str, Any]:
    """An emulated smaller machine: its caps as configured, and the CPU and memory it is left
    with (the tighter of a cap and what the machine has; None where nothing caps it)."""
    threads = record["cpu_threads"]
    cores = [float(limit) for limit in (limits.cpu_cores, cpu_count(limits.cpuset) if limits.cpuset else None,
                                        threads if limits.cpu_cores or limits.cpuset else None) if limit]
    memory = [limit for limit in (limits.memory_mb, record["memory_mb"] if limits.memory_mb else None) if limit]
    return {"emulated": True, "limits": limits.to_mapping(),
            "cpu_limit_cores": min(cores) if cores else None, "memory_limit_mb": min(memory) if memory else None}


def hardware_records(facts: dict[str, dict[str, Any]], labels: dict[str, str],
                     limits: Mapping[str, Limits] | None = None) -> list[dict[str, Any]]:
    """A record per host of the facts a `facts` playbook gathered, with its inventory label and,
    for a capped node, its limits (``{node.name: node.limits}`` of the inventory)."""
    limits = limits or {}
    return [profile_record(host, labels.get(host, "unknown"), host_facts, limits.get(host))
            for host, host_facts in sorted(facts.items())]
