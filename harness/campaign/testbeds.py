"""A campaign's testbeds: each brought up once and kept for every trial that runs on it.

A testbed runs from an inventory the campaign writes into its folder (``testbeds/NAME/``): the
source inventory with the testbed's emulated profiles as each capped host's ``vdlt_limits`` and
``hardware_profile``, only the execution nodes it keeps, and the cell's policy as the control
node's ``vdlt_policy_file``. A local inventory (every node a process here) gets free ports and
node folders of its own, so several testbeds of one campaign can be up side by side and a trial
switches between them at no cost (their machine's facts are gathered once). Testbeds on the same
remote machines cannot: before one comes up, the other is taken down.

A policy change rewrites the policy file and runs ``up`` again, which restarts only the control
node (the agents see their policy changed); the nodes' facts are gathered once per testbed.

A chain testbed (a network file) has no inventory: with ``ganache`` the campaign starts one on a
free loopback port (its log in ``testbeds/NAME/``), funds the network's deployer there and
points the network's ``url`` at it, and stops it at the end; without, the url serves already.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import yaml

from harness.campaign.config import PolicySpec, TestbedSpec
from harness.connectors.ethereum.network import EthereumNetwork
from harness.provision.ganache import Ganache
from harness.provision import testbed as testbed_actions
from harness.provision.inventory import Inventory, load_inventory
from harness.provision.local_copy import scratch_local_inventory
from harness.run.runner import gather_facts, gather_hardware
from harness.store.folder import write_atomic

POLICY_FILE = "campaign-policy.yaml"
# What a campaign's ganache gives the network's deployer, who funds the workers' senders.
DEPLOYER_WEI = 10**24


class ChainTestbed:
    """A chain a network file describes; ``ready`` starts its ganache where the campaign runs one."""

    def __init__(self, spec: TestbedSpec, directory: Path) -> None:
        self.spec = spec
        self.directory = directory
        self.network: EthereumNetwork = spec.network  # type: ignore[assignment]
        self.inventory: Inventory | None = None
        self.hardware: list[dict[str, Any]] | None = None
        self.facts: dict[str, dict[str, Any]] | None = None
        self.ganache: Ganache | None = None

    @property
    def up(self) -> bool:
        return self.ganache is not None

    def ready(self, policy: PolicySpec, on_action: Callable[[str], None],
              facts: dict[str, dict[str, Any]] | None = None) -> None:
        chain = self.spec.chain
        if chain is None or self.ganache is not None:
            return
        on_action(f"{self.spec.name}: starting ganache")
        self.directory.mkdir(parents=True, exist_ok=True)
        ganache = Ganache(self.directory, block_time_s=chain.block_time_s, block_gas_limit=chain.block_gas_limit,
                          accounts=[(self.network.deployer_key, DEPLOYER_WEI)])  # type: ignore[list-item]
        ganache.start()
        self.ganache = ganache
        self.network = dataclasses.replace(self.network, url=ganache.ws_url)

    def down(self, timeout_s: float | None = None, cancel: Callable[[], bool] | None = None) -> None:
        if self.ganache is not None:
            self.ganache.stop()
            self.ganache = None


class CampaignTestbed:
    def __init__(self, spec: TestbedSpec, directory: Path) -> None:
        self.spec = spec
        self.directory = directory
        self.policy: str | None = None
        self.up = False
        self.hardware: list[dict[str, Any]] | None = None
        self.facts: dict[str, dict[str, Any]] | None = None
        self.network: EthereumNetwork | None = None
        if not (directory / "hosts.yml").exists():
            self._write_inventory()
        self.inventory: Inventory = load_inventory(directory)

    def _write_inventory(self) -> None:
        """Once per campaign folder, made whole under a temporary name and renamed into place: a
        resumed campaign finds its nodes where it left them, capped as they were."""
        source = self.spec.inventory.hosts_file.parent
        staging = self.directory.with_name(f".{self.directory.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        # Its group_vars/ and host_vars/ come along; node files and TLS material are the testbed's own.
        shutil.copytree(source, staging, ignore=shutil.ignore_patterns(".nodes", "nodes", "tls", ".*.partial"))
        if self.spec.local:
            scratch_local_inventory(staging, staging)
        hosts_file = staging / "hosts.yml"
        data = yaml.safe_load(hosts_file.read_text())
        if self.spec.local:
            data["all"]["vars"]["vdlt_node_root"] = str(self.directory / "nodes")  # where it will be, not staging
        data["all"].setdefault("vars", {}).update(self.spec.variables)
        children = data["all"].setdefault("children", {})
        execution = children.get("execution") or {}
        kept = set(self.spec.kept_execution_nodes)
        for name in [n for n in (execution.get("hosts") or {}) if n not in kept]:
            del execution["hosts"][name]
        for group, profile in self.spec.profiles.items():
            for host_vars in ((children.get(group) or {}).get("hosts") or {}).values():
                host_vars["vdlt_limits"] = profile.to_limits()
                host_vars["hardware_profile"] = profile.name
        if self.spec.cost_per_hour is not None:
            for host_vars in (execution.get("hosts") or {}).values():
                host_vars["cost_per_hour"] = self.spec.cost_per_hour
        hosts_file.write_text(yaml.safe_dump(data, sort_keys=False))
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, self.directory)

    def _write_policy(self, policy: PolicySpec) -> None:
        """The cell's policy as the control host's own ``vdlt_policy_file`` (a host variable, so
        no group or host_vars file of the inventory overrides it); the inventory's own policy
        (``overrides`` None) leaves the inventory as it is."""
        if policy.overrides is None and self.policy is None:
            return
        hosts_file = self.directory / "hosts.yml"
        data = yaml.safe_load(hosts_file.read_text())
        for host_vars in data["all"]["children"]["control"]["hosts"].values():
            if policy.overrides is None:
                original = self.spec.inventory.by_role("control")[0].variables.get("vdlt_policy_file")
                if original is None:
                    host_vars.pop("vdlt_policy_file", None)
                else:
                    host_vars["vdlt_policy_file"] = str(self.spec.inventory.hosts_file.parent / str(original))
            else:
                host_vars["vdlt_policy_file"] = POLICY_FILE
        if policy.overrides is not None:
            write_atomic(self.directory / POLICY_FILE, yaml.safe_dump(policy.overrides, sort_keys=False))
        write_atomic(hosts_file, yaml.safe_dump(data, sort_keys=False))
        self.inventory = load_inventory(self.directory)

    def ready(self, policy: PolicySpec, on_action: Callable[[str], None],
              facts: dict[str, dict[str, Any]] | None = None) -> None:
        """Up, under ``policy``, its control node hearing from its execution nodes; ``facts``
        are its machines' when another testbed gathered them already."""
        if self.up and self.policy == policy.name:
            return
        if self.policy != policy.name:
            self._write_policy(policy)
        on_action(f"{self.spec.name}: up" + (f" (policy {policy.name})" if self.up else ""))
        testbed_actions.up(self.inventory)
        testbed_actions.wait_for_selection(self.inventory)
        self.up, self.policy = True, policy.name
        if self.hardware is None:
            if facts is None:
                on_action(f"{self.spec.name}: gathering hardware facts")
                facts = gather_facts(self.inventory)
            self.facts = facts
            self.hardware = gather_hardware(self.inventory, facts=facts)

    def down(self, timeout_s: float | None = None, cancel: Callable[[], bool] | None = None) -> None:
        if self.up:
            testbed_actions.down(self.inventory, timeout_s=timeout_s, cancel=cancel)
            self.up = False


class Testbeds:
    """The campaign's testbeds, each made on first use; at most one of those sharing machines up."""

    def __init__(self, specs: dict[str, TestbedSpec], directory_of: Callable[[str], Path]) -> None:
        self.specs = specs
        self.directory_of = directory_of
        self.made: dict[str, CampaignTestbed | ChainTestbed] = {}

    def ready(self, name: str, policy: PolicySpec, on_action: Callable[[str], None]
              ) -> CampaignTestbed | ChainTestbed:
        spec = self.specs[name]
        if spec.network is not None:
            chain = self.made.get(name) or ChainTestbed(spec, self.directory_of(name))
            self.made[name] = chain
            chain.ready(policy, on_action)
            return chain
        if not spec.local:
            for other in self.made.values():
                if other.spec.name != name and other.up and other.spec.source_key == spec.source_key:
                    on_action(f"{other.spec.name}: down (its machines are {name}'s)")
                    other.down()
        bed = self.made.get(name) or CampaignTestbed(spec, self.directory_of(name))
        self.made[name] = bed
        # Local testbeds of one inventory are processes of this machine under the same names:
        # its facts are gathered once and each testbed's records take its own labels and caps.
        shared = next((b.facts for b in self.made.values() if b.facts is not None and b.spec.local and spec.local
                       and b.spec.source_key == spec.source_key), None)
        bed.ready(policy, on_action, shared)
        return bed

    def adopt_existing(self) -> None:
        """Every testbed a campaign folder already has, as possibly up (a resumed campaign's)."""
        for name, spec in self.specs.items():
            # A ganache a killed campaign started died with it (its parent-death signal): only inventories.
            if name not in self.made and spec.network is None and (self.directory_of(name) / "hosts.yml").is_file():
                bed = CampaignTestbed(spec, self.directory_of(name))
                bed.up = True  # unknown: taking down a testbed that is not up changes nothing
                bed.policy = None
                self.made[name] = bed

    def down_all(self, timeout_s: float | None = None, cancel: Callable[[], bool] | None = None) -> None:
        """Every testbed that is up, taken down side by side (each an Ansible run of its own)."""
        beds = [bed for bed in self.made.values() if bed.up]
        with ThreadPoolExecutor(max_workers=max(len(beds), 1)) as pool:
            for future in [pool.submit(bed.down, timeout_s, cancel) for bed in beds]:
                future.result()
