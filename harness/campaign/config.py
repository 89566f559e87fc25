"""Campaign files: a matrix of benchmarks × testbeds × policies, repeated, checked strictly.

    campaign:
      name: profiles-quickstart
      repetitions: 3
      order: random            # or sequential (the default); the seed is recorded
      seed: 7                  # optional, for order: random
      matrix:
        benchmarks: {search: ../benchmarks/saturation-quickstart.yaml}
        testbeds:
          third-core: {inventory: ../../inventories/local, execution_nodes: 2,
                       profiles: {execution: third-core}, cost_per_hour: 0.02}
          uncapped:   {inventory: ../../inventories/local, execution_nodes: 2}
          # or a chain (Caliper's Ethereum network file), with a ganache the campaign starts:
          # chain: {network: ganache-network.json, ganache: {blockTime: 1, blockGasLimit: 3000000}}
        policies: {cbwfq: {scheduler: cbwfq}}          # optional: the inventory's own policy
      placement:
        targets: {fast-confirmation: 150, best-effort: 400}   # tx/s each class must be served
        max_nodes: 6
    profiles:                  # emulated profiles beyond the shipped pi4-like, minipc-like, server
      third-core: {cpu_cores: 0.333, source: a third of one of this machine's cores}

A cell is one benchmark on one testbed under one policy; each cell runs ``repetitions`` times
(trials). Paths are relative to the campaign file. Everything is checked before anything starts,
the benchmarks, the inventories, the inline policies and whether this machine can emulate the
profiles (its cgroup controllers); a mistake names the file, the line and the field.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config.benchmark import Benchmark, load_benchmark
from harness.connectors.ethereum.network import EthereumNetwork, load_network
from harness.provision import profiles as profile_catalog
from harness.provision.inventory import ROLES, Inventory, Node, check_policy_file, load_inventory
from harness.provision.profiles import EmulatedProfile
from protocol.documents import Document, FieldPath, load_yaml
from protocol.errors import ConfigError, did_you_mean
from vdlt.cos import CLASS_SLUGS
from vdlt.policy import Policy, load_policy, policy_from_document

TOP_KEYS = ("campaign", "profiles")
CAMPAIGN_KEYS = ("name", "description", "repetitions", "order", "seed", "matrix", "placement")
AXES = ("benchmarks", "testbeds", "policies")
TESTBED_KEYS = ("inventory", "profiles", "execution_nodes", "cost_per_hour", "vars", "network", "ganache")
CHAIN_KEYS = ("network", "ganache", "cost_per_hour")
GANACHE_KEYS = ("blockTime", "blockGasLimit")
PLACEMENT_KEYS = ("targets", "max_nodes")
ORDERS = ("sequential", "random")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class LocalChain:
    """A ganache the campaign starts on this machine for a chain testbed (its network file's
    ``url`` is then where it listens)."""
    block_time_s: float = 0.0
    """0: a block per transaction, mined before its hash returns."""
    block_gas_limit: int | None = None


@dataclass(frozen=True)
class TestbedSpec:
    name: str
    inventory: Inventory | None
    """The testbed's machines; None for a chain a network file describes (``network``)."""
    profiles: dict[str, EmulatedProfile]
    """Node group (control, execution, client) → the emulated profile its nodes are capped to."""
    execution_nodes: int | None
    """Keep only the first N execution nodes of the inventory (None: all)."""
    cost_per_hour: float | None
    """What one execution node costs per hour (None: the inventory's ``cost_per_hour``)."""
    variables: dict[str, Any] = field(default_factory=dict)
    """Inventory variables for every node of the testbed (e.g. ``vdlt_fsync``), over the inventory's own."""
    network: EthereumNetwork | None = None
    """The chain a chain testbed drives (Caliper's Ethereum network file)."""
    chain: LocalChain | None = None
    """Started by the campaign on this machine (``ganache``); None: the network's url serves already."""

    @property
    def source_key(self) -> str:
        """Testbeds with the same key run on the same machines and are never up at once."""
        return str(self.network.path if self.network is not None else self.inventory.hosts_file)  # type: ignore[union-attr]

    @property
    def local(self) -> bool:
        """Every node a process on this machine: the campaign runs a private copy of its own."""
        if self.inventory is None:
            return self.chain is not None
        return all(node.on_controller for node in self.inventory.nodes)

    @property
    def kept_execution_nodes(self) -> list[str]:
        """The execution nodes the testbed keeps: the first ``execution_nodes`` by name."""
        if self.inventory is None:
            return []
        names = sorted(n.name for n in self.inventory.by_role("execution"))
        return names[:self.execution_nodes] if self.execution_nodes else names

    def _kept(self) -> list[Node]:
        kept = set(self.kept_execution_nodes)
        return [n for n in self.inventory.by_role("execution") if n.name in kept] if self.inventory else []

    @property
    def execution_profile(self) -> str:
        """What the report calls the testbed's execution nodes: their emulated profile, or their
        label; a chain's, what runs it."""
        if self.network is not None:
            if self.chain is None:
                return "ethereum"
            blocks = f"{self.chain.block_time_s:g} s blocks" if self.chain.block_time_s else "instant mining"
            return f"ganache ({blocks})"
        if "execution" in self.profiles:
            return self.profiles["execution"].name
        return "+".join(sorted({n.hardware_profile for n in self._kept()}))

    def execution_count(self) -> int:
        return 1 if self.network is not None else len(self.kept_execution_nodes)

    def node_cost(self) -> float:
        """What one execution node costs per hour (the mean over the kept ones)."""
        if self.cost_per_hour is not None:
            return self.cost_per_hour
        if self.network is not None:
            return 0.0
        nodes = self._kept()
        return sum(n.cost_per_hour for n in nodes) / max(len(nodes), 1)


@dataclass(frozen=True)
class PolicySpec:
    name: str
    overrides: dict[str, Any] | None
    """What the policy file of the testbed's control node holds (None: the inventory's own)."""
    replicas: dict[str, int] = field(default_factory=dict)
    """Per class, how many execution nodes answer each transaction (a placement needs that many)."""


@dataclass(frozen=True)
class Cell:
    benchmark: str
    testbed: str
    policy: str

    @property
    def id(self) -> str:
        return f"{self.benchmark}.{self.testbed}.{self.policy}"


@dataclass(frozen=True)
class Placement:
    targets: dict[str, float]
    max_nodes: int


@dataclass(frozen=True)
class Campaign:
    path: Path
    name: str
    description: str
    repetitions: int
    order: str
    seed: int | None
    benchmarks: dict[str, Benchmark]
    testbeds: dict[str, TestbedSpec]
    policies: dict[str, PolicySpec]
    placement: Placement | None
    document: Document = field(repr=False, compare=False)

    @property
    def cells(self) -> list[Cell]:
        return [Cell(b, t, p) for b in self.benchmarks for t in self.testbeds for p in self.policies]


def load_campaign(path: Path | str, base_dir: Path | None = None) -> Campaign:
    """The campaign a file describes; relative paths in it are relative to ``base_dir`` (default
    the file's folder: a campaign folder's copy is read against the original's)."""
    doc = load_yaml(path, "campaign file")
    base = (base_dir or doc.path.parent).resolve()
    root = doc.mapping((), doc.data, TOP_KEYS)
    known = dict(profile_catalog.SHIPPED)
    custom = doc.mapping(("profiles",), root.get("profiles") or {}, tuple(root.get("profiles") or {}))
    for name, body in custom.items():
        _name(doc, ("profiles", name), name)
        known[name] = profile_catalog.profile_from_mapping(doc, ("profiles", name), name, body)
    body = doc.mapping(("campaign",), doc.need((), root, "campaign"), CAMPAIGN_KEYS)
    where: FieldPath = ("campaign",)
    name = _name(doc, (*where, "name"), body.get("name") or doc.path.stem)
    repetitions = doc.integer((*where, "repetitions"), body.get("repetitions", 1), minimum=1, maximum=100)
    order = doc.choice((*where, "order"), body.get("order", "sequential"), ORDERS)
    seed = body.get("seed")
    if seed is not None:
        seed = doc.integer((*where, "seed"), seed, minimum=0)
    matrix = doc.mapping((*where, "matrix"), doc.need(where, body, "matrix"), AXES)
    benchmarks = _benchmarks(doc, base, (*where, "matrix", "benchmarks"),
                             doc.need((*where, "matrix"), matrix, "benchmarks"))
    testbeds = _testbeds(doc, base, (*where, "matrix", "testbeds"), doc.need((*where, "matrix"), matrix, "testbeds"),
                         known)
    policies = _policies(doc, (*where, "matrix", "policies"), matrix.get("policies"), next(iter(testbeds.values())))
    _check_chains(doc, (*where, "matrix"), matrix, benchmarks, testbeds)
    placement = _placement(doc, (*where, "placement"), body.get("placement"), benchmarks)
    return Campaign(doc.path, name, str(body.get("description") or ""), repetitions, order, seed, benchmarks,
                    testbeds, policies, placement, doc)


def _name(doc: Document, where: FieldPath, value: Any) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise doc.error(where, f"must be a name of letters, digits, '-' and '_', got {value!r}")
    return value


def _axis(doc: Document, where: FieldPath, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise doc.error(where, "must map names to entries (at least one)")
    for key in value:
        _name(doc, (*where, key), key)
    return value


def _relative(doc: Document, base: Path, value: Any, where: FieldPath) -> Path:
    if not isinstance(value, str) or not value:
        raise doc.error(where, f"must be a path, got {value!r}")
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path)


def _benchmarks(doc: Document, base: Path, where: FieldPath, raw: Any) -> dict[str, Benchmark]:
    result = {}
    for name, value in _axis(doc, where, raw).items():
        path = _relative(doc, base, value, (*where, name))
        if not path.is_file():
            raise doc.error((*where, name), f"no benchmark file at {path}")
        result[name] = load_benchmark(path)  # its own mistakes name its own file
    return result


def _testbeds(doc: Document, base: Path, where: FieldPath, raw: Any, known: dict[str, EmulatedProfile]
              ) -> dict[str, TestbedSpec]:
    result = {}
    for name, value in _axis(doc, where, raw).items():
        at = (*where, name)
        body = doc.mapping(at, value, TESTBED_KEYS)
        if "network" in body:
            result[name] = _chain_testbed(doc, base, at, name, body)
            continue
        if "ganache" in body:
            raise doc.error((*at, "ganache"), "a ganache is started for a chain testbed: give its 'network' file")
        inventory_path = _relative(doc, base, doc.need(at, body, "inventory"), (*at, "inventory"))
        if not inventory_path.exists():
            raise doc.error((*at, "inventory"), f"no inventory at {inventory_path}")
        inventory = load_inventory(inventory_path)
        groups = doc.mapping((*at, "profiles"), body.get("profiles") or {}, ROLES)
        profiles = {}
        for group, profile_name in groups.items():
            if not isinstance(profile_name, str) or profile_name not in known:
                raise doc.error((*at, "profiles", group), f"unknown profile {profile_name!r}"
                                f"{did_you_mean(str(profile_name), known)}; known: {', '.join(sorted(known))} "
                                f"(define more under the file's top-level 'profiles')")
            profile = known[profile_name]
            nodes = inventory.by_role(group)
            remote = [n.name for n in nodes if not n.on_controller]
            missing = profile_catalog.missing_controllers(profile.controllers_needed()) if not remote else []
            if missing:
                raise doc.error((*at, "profiles", group), f"profile {profile_name} needs the cgroup v1 "
                                f"controller(s) {', '.join(missing)}, which this machine does not have writable: "
                                f"its nodes would run uncapped")
            profiles[group] = profile
        count = body.get("execution_nodes")
        if count is not None:
            available = len(inventory.by_role("execution"))
            count = doc.integer((*at, "execution_nodes"), count, minimum=1, maximum=available)
        cost = body.get("cost_per_hour")
        if cost is not None:
            cost = doc.number((*at, "cost_per_hour"), cost, minimum=0)
        variables = body.get("vars") or {}
        if not isinstance(variables, dict) or not all(isinstance(k, str) for k in variables):
            raise doc.error((*at, "vars"), "must map inventory variable names to values (e.g. {vdlt_fsync: never})")
        for key in ("vdlt_limits", "hardware_profile", "cost_per_hour", "agent_port", "vdlt_node_root"):
            if key in variables:
                raise doc.error((*at, "vars", key), f"{key} is the campaign's to set (profiles, cost_per_hour, or the "
                                                    f"testbed's own copy), not a variable of the testbed")
        result[name] = TestbedSpec(name, inventory, profiles, count, cost, dict(variables))
    return result


def _check_chains(doc: Document, where: FieldPath, matrix: dict[str, Any], benchmarks: dict[str, Benchmark],
                  testbeds: dict[str, TestbedSpec]) -> None:
    """A chain testbed runs Ethereum benchmarks under no policy of ours."""
    chains = [name for name, bed in testbeds.items() if bed.network is not None]
    if not chains:
        return
    others = [name for name, bed in testbeds.items() if bed.network is None]
    if others:
        raise doc.error((*where, "testbeds", others[0]), f"testbed {chains[0]} is a chain and {others[0]} a vdlt "
                                                         f"testbed: one benchmark cannot drive both (put chains in a "
                                                         f"campaign of their own)")
    if matrix.get("policies") is not None:
        raise doc.error((*where, "policies"), f"testbed {chains[0]} is a chain: the policies of vdlt's control "
                                              f"nodes do not apply to it (put chains in a campaign of their own)")
    for name, benchmark in benchmarks.items():
        named = (benchmark.document.data.get("test") or {}).get("connector")
        if named not in (None, "ethereum"):
            raise doc.error((*where, "benchmarks", name), f"its connector is {named!r}, but testbed {chains[0]} is "
                                                          f"an Ethereum chain")


def _chain_testbed(doc: Document, base: Path, at: FieldPath, name: str, body: dict[str, Any]) -> TestbedSpec:
    """A chain testbed: ``{network: FILE, ganache: {blockTime, blockGasLimit}, cost_per_hour}``."""
    for key in body:
        if key not in CHAIN_KEYS:
            raise doc.error((*at, key), f"a testbed with a network (a chain) takes only {', '.join(CHAIN_KEYS)}: "
                                        f"there are no nodes of ours to cap or count")
    path = _relative(doc, base, body["network"], (*at, "network"))
    if not path.is_file():
        raise doc.error((*at, "network"), f"no network file at {path}")
    network = load_network(path)  # its own mistakes name its own file
    chain = None
    if "ganache" in body:
        raw = doc.mapping((*at, "ganache"), body["ganache"] or {}, GANACHE_KEYS)
        gas_limit = raw.get("blockGasLimit")
        chain = LocalChain(doc.number((*at, "ganache", "blockTime"), raw.get("blockTime", 0), minimum=0),
                           None if gas_limit is None else doc.integer((*at, "ganache", "blockGasLimit"), gas_limit,
                                                                      minimum=100_000))
        if network.deployer_key is None:
            raise doc.error((*at, "ganache"), f"{path}: a ganache the campaign starts funds the deployer from "
                                              f"its private key: the network file needs "
                                              f"contractDeployerAddressPrivateKey")
    cost = body.get("cost_per_hour")
    if cost is not None:
        cost = doc.number((*at, "cost_per_hour"), cost, minimum=0)
    return TestbedSpec(name, None, {}, None, cost, network=network, chain=chain)


def _replicas(policy: Policy) -> dict[str, int]:
    return {service_class.slug: entry.replicas for service_class, entry in policy.classes.items()}


def _policies(doc: Document, where: FieldPath, raw: Any, first: TestbedSpec) -> dict[str, PolicySpec]:
    if raw is None:
        if first.inventory is None:
            return {"default": PolicySpec("default", None, {})}  # a chain has no control node of ours
        # The inventory's own: what its control node's policy file says (the shipped default without one).
        control = first.inventory.by_role("control")[0]
        own = control.variables.get("vdlt_policy_file")
        policy = check_policy_file(first.inventory.hosts_file.parent, own) if own else load_policy()
        return {"default": PolicySpec("default", None, _replicas(policy))}
    result = {}
    for name, value in _axis(doc, where, raw).items():
        if not isinstance(value, dict):
            raise doc.error((*where, name), "must be a policy, as a policy file holds it (e.g. {scheduler: fifo})")
        result[name] = PolicySpec(name, value, _replicas(policy_from_document(doc.part((*where, name)))))
    return result


def _placement(doc: Document, where: FieldPath, raw: Any, benchmarks: dict[str, Benchmark]) -> Placement | None:
    if raw is None:
        return None
    body = doc.mapping(where, raw, PLACEMENT_KEYS)
    targets_raw = doc.mapping((*where, "targets"), doc.need(where, body, "targets"), CLASS_SLUGS)
    if not targets_raw:
        raise doc.error((*where, "targets"), "name at least one class and the rate (tx/s) it must be served at")
    searched = {share.slug for b in benchmarks.values() for spec in b.rounds if spec.saturation
                for share in spec.cos_mix}
    targets = {}
    for slug, rate in targets_raw.items():
        if slug not in searched:
            raise doc.error((*where, "targets", slug), f"no saturation search of the campaign measures class {slug} "
                                                       f"(searched: {', '.join(sorted(searched)) or 'none'})")
        targets[slug] = doc.number((*where, "targets", slug), rate, above=0)
    max_nodes = doc.integer((*where, "max_nodes"), body.get("max_nodes", 8), minimum=1, maximum=64)
    return Placement(targets, max_nodes)


def check_campaign_folder(path: Path) -> Path:
    """A campaign folder (``campaign run --resume``, ``status``, ``report``): its manifest must be there."""
    if not (path / "campaign.json").is_file():
        raise ConfigError(path, "", "not a campaign folder (no campaign.json): give the folder `harness campaign "
                                    "run` printed")
    return path
