"""Hyperledger Caliper's Ethereum network file, read as Caliper 0.6 reads it, checked strictly.

A Caliper user points the harness at the same file (``harness run BENCH --network FILE``):

    {"caliper": {"blockchain": "ethereum"},
     "ethereum": {
       "url": "ws://127.0.0.1:8545",
       "contractDeployerAddress": "0xD1cf...", "contractDeployerAddressPrivateKey": "0x797c...",
       "fromAddressSeed": "0x3f84...",
       "transactionConfirmationBlocks": 2,
       "contracts": {"broker": {"path": "workloads/contracts/resource-broker.json",
                                "gas": {"reserve": 150000}}}}}

Every key Caliper's connector reads is taken (``caliper.command``, ``info`` and ``monitors``
are Caliper's own business and are ignored); anything else is refused with the file, the line
and the field. Unlike Caliper: ``url`` may be ``http(s)://`` too; ``transactionConfirmationBlocks``
is honoured (Caliper sets it where web3 never reads it); and ``gasPriceFactors`` prices each
class of service (:mod:`harness.connectors.ethereum.pricing`). A contract's ``path`` is looked up
relative to the network file, then to the working directory (Caliper's workspace).

Who sends: ``fromAddressSeed`` derives an account per worker as Caliper does
(``m/44'/60'/<worker>'/0/0``), and one more per class of service after the first (``.../0/<k>``);
``fromAddressPrivateKey`` is one account for every worker (one worker only: they would share its
nonces); ``fromAddress`` alone (with or without ``fromAddressPassword``) lets the node sign with
an unlocked account (``eth_sendTransaction``), as Caliper does.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.documents import Document, FieldPath, is_int, load_yaml
from protocol.errors import ConfigError
from vdlt.cos import CLASS_SLUGS

TOP_KEYS = ("caliper", "ethereum", "info", "monitors")
CALIPER_KEYS = ("blockchain", "command", "sutOptions")
ETHEREUM_KEYS = ("url", "contractDeployerAddress", "contractDeployerAddressPrivateKey",
                 "contractDeployerAddressPassword", "fromAddress", "fromAddressSeed", "fromAddressPrivateKey",
                 "fromAddressPassword", "transactionConfirmationBlocks", "gasPrice", "chainId", "contracts",
                 "gasPriceFactors")
CONTRACT_KEYS = ("path", "abi", "address", "gas", "estimateGas", "private")
ARTIFACT_KEYS = ("name", "abi", "bytecode", "gas")
URL_SCHEMES = ("ws://", "wss://", "http://", "https://")


@dataclass(frozen=True)
class ContractSpec:
    """One contract of the network file: its ABI and, to deploy it, its creation code."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str | None = None
    deploy_gas: int | None = None
    address: str | None = None
    """Where it is deployed already (Caliper's ``--caliper-flow-skip-install``); None: deploy it."""
    gas: dict[str, int] = field(default_factory=dict)
    """Gas limit per function; a function without one is estimated (``eth_estimateGas``) whatever
    ``estimateGas`` says (without it Caliper sends nothing at all)."""


@dataclass(frozen=True)
class EthereumNetwork:
    path: Path
    url: str
    contracts: dict[str, ContractSpec]
    deployer_address: str | None = None
    deployer_key: str | None = None
    from_address: str | None = None
    from_seed: str | None = None
    from_key: str | None = None
    from_password: str | None = None
    deployer_password: str | None = None
    confirmation_blocks: int = 1
    gas_price: int | None = None
    """Wei; None: the node's ``eth_gasPrice``."""
    chain_id: int | None = None
    """None: the node's ``eth_chainId``."""
    gas_price_factors: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """What a worker process needs, as plain data (it crosses the process boundary)."""
        return {"path": str(self.path), "url": self.url, "from_address": self.from_address,
                "from_seed": self.from_seed, "from_key": self.from_key, "from_password": self.from_password,
                "confirmation_blocks": self.confirmation_blocks, "gas_price": self.gas_price,
                "chain_id": self.chain_id, "gas_price_factors": dict(self.gas_price_factors),
                "contracts": {name: {"abi": c.abi, "address": c.address, "gas": dict(c.gas)}
                              for name, c in self.contracts.items()}}


def load_network(path: Path | str) -> EthereumNetwork:
    doc = load_yaml(path, "network file")  # JSON is YAML: Caliper's .json files keep their lines
    root = doc.mapping((), doc.data, TOP_KEYS)
    caliper = doc.mapping(("caliper",), doc.need((), root, "caliper"), CALIPER_KEYS)
    if doc.need(("caliper",), caliper, "blockchain") != "ethereum":
        raise doc.error(("caliper", "blockchain"), f"must be 'ethereum' for this connector, got "
                                                   f"{caliper['blockchain']!r}")
    where: FieldPath = ("ethereum",)
    eth = doc.mapping(where, doc.need((), root, "ethereum"), ETHEREUM_KEYS)
    url = doc.text((*where, "url"), doc.need(where, eth, "url"))
    if not url.lower().startswith(URL_SCHEMES):
        raise doc.error((*where, "url"), f"must start with {', '.join(URL_SCHEMES)}, got {url!r}")
    texts = {key: _optional_text(doc, (*where, key), eth.get(key)) for key in ETHEREUM_KEYS if key in (
        "contractDeployerAddress", "contractDeployerAddressPrivateKey", "contractDeployerAddressPassword",
        "fromAddress", "fromAddressSeed", "fromAddressPrivateKey", "fromAddressPassword")}
    for key in ("contractDeployerAddress", "fromAddress"):
        if texts[key] is not None:
            _address(doc, (*where, key), texts[key])
    for key in ("contractDeployerAddressPrivateKey", "fromAddressPrivateKey"):
        if texts[key] is not None:
            _private_key(doc, (*where, key), texts[key])
    if texts["fromAddressSeed"] is None and texts["fromAddressPrivateKey"] is None and texts["fromAddress"] is None:
        raise doc.error(where, "who sends the transactions? Give fromAddressSeed (an account per worker), "
                               "fromAddressPrivateKey with fromAddress, or an unlocked fromAddress")
    if texts["fromAddressPrivateKey"] is not None and texts["fromAddress"] is None:
        raise doc.error((*where, "fromAddressPrivateKey"), "needs fromAddress beside it (Caliper reads both)")
    blocks = doc.integer((*where, "transactionConfirmationBlocks"), eth.get("transactionConfirmationBlocks", 1),
                         minimum=1, maximum=1000)
    gas_price = eth.get("gasPrice")
    if gas_price is not None:
        gas_price = doc.integer((*where, "gasPrice"), gas_price, minimum=0)
    chain_id = eth.get("chainId")
    if chain_id is not None:
        chain_id = doc.integer((*where, "chainId"), chain_id, minimum=1)
    factors = {}
    raw_factors = eth.get("gasPriceFactors") or {}
    for slug in doc.mapping((*where, "gasPriceFactors"), raw_factors, CLASS_SLUGS):
        factors[slug] = doc.number((*where, "gasPriceFactors", slug), raw_factors[slug], above=0)
    contracts_where = (*where, "contracts")
    raw_contracts = doc.need(where, eth, "contracts")
    if not isinstance(raw_contracts, dict) or not raw_contracts:
        raise doc.error(contracts_where, "must map each contract's name to {path, gas, ...}")
    contracts = {str(name): _contract(doc, (*contracts_where, str(name)), str(name), body)
                 for name, body in raw_contracts.items()}
    needs_deploying = [name for name, c in contracts.items() if c.address is None]
    if needs_deploying and texts["contractDeployerAddress"] is None:
        raise doc.error(where, f"contract {needs_deploying[0]!r} has no address, so it is deployed: "
                               f"'contractDeployerAddress' is missing")
    return EthereumNetwork(
        path=doc.path, url=url, contracts=contracts,
        deployer_address=texts["contractDeployerAddress"], deployer_key=texts["contractDeployerAddressPrivateKey"],
        deployer_password=texts["contractDeployerAddressPassword"], from_address=texts["fromAddress"],
        from_seed=texts["fromAddressSeed"], from_key=texts["fromAddressPrivateKey"],
        from_password=texts["fromAddressPassword"], confirmation_blocks=blocks, gas_price=gas_price,
        chain_id=chain_id, gas_price_factors=factors)


def _optional_text(doc: Document, where: FieldPath, value: Any) -> str | None:
    # Caliper treats an empty password as none at all.
    return None if value is None or value == "" else doc.text(where, value)


def _hex(text: str, size: int) -> bool:
    body = text[2:] if text[:2].lower() == "0x" else text
    return len(body) == 2 * size and all(c in "0123456789abcdefABCDEF" for c in body)


def _address(doc: Document, where: FieldPath, text: str) -> None:
    if not _hex(text, 20):
        raise doc.error(where, f"must be an address of 20 bytes in hex (0x and 40 digits), got {text!r}")


def _private_key(doc: Document, where: FieldPath, text: str) -> None:
    if not _hex(text, 32):
        raise doc.error(where, "must be a private key of 32 bytes in hex (0x and 64 digits)")


def _contract(doc: Document, where: FieldPath, name: str, body: Any) -> ContractSpec:
    body = doc.mapping(where, body, CONTRACT_KEYS)
    if body.get("private"):
        raise doc.error((*where, "private"), "private transactions (Besu/EEA privacy groups) are not supported")
    raw_gas = body.get("gas") or {}
    if not isinstance(raw_gas, dict):
        raise doc.error((*where, "gas"), "must map function names to gas limits")
    gas = {str(function): doc.integer((*where, "gas", function), limit, minimum=21_000)
           for function, limit in raw_gas.items()}
    doc.boolean((*where, "estimateGas"), body.get("estimateGas", False))
    address = body.get("address")
    if address is not None:
        _address(doc, (*where, "address"), doc.text((*where, "address"), address))
    abi, bytecode, deploy_gas = body.get("abi"), None, None
    if "path" in body:
        artifact_path = _find(doc.path.parent, doc.text((*where, "path"), body["path"]))
        if artifact_path is None:
            raise doc.error((*where, "path"), f"no such file: {body['path']} (looked beside the network file and in "
                                              f"the working directory)")
        artifact = _artifact(doc, (*where, "path"), artifact_path)
        abi, bytecode, deploy_gas = abi or artifact["abi"], artifact.get("bytecode"), artifact.get("gas")
    if not isinstance(abi, list) or not abi:
        raise doc.error(where, "needs 'path' (a contract definition: name, abi, bytecode, gas) or an 'abi'")
    if address is None and not bytecode:
        raise doc.error(where, "has neither an 'address' nor a contract definition with 'bytecode' to deploy")
    functions = {entry.get("name") for entry in abi if isinstance(entry, dict) and entry.get("type") == "function"}
    for function in gas:
        if function not in functions:
            raise doc.error((*where, "gas", function), f"the contract has no function {function!r}; it has "
                                                       f"{', '.join(sorted(f for f in functions if f))}")
    return ContractSpec(name, abi, bytecode, deploy_gas, address, gas)


def _find(base: Path, relative: str) -> Path | None:
    path = Path(os.path.expanduser(relative))
    candidates = [path] if path.is_absolute() else [base / path, Path.cwd() / path]
    return next((p.resolve() for p in candidates if p.is_file()), None)


def _artifact(doc: Document, where: FieldPath, path: Path) -> dict[str, Any]:
    """Caliper's contract definition: ``{"name", "abi", "bytecode", "gas"}``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(path, "", f"not a contract definition (JSON with name, abi, bytecode, gas): {error}"
                          ) from error
    if not isinstance(data, dict) or not isinstance(data.get("abi"), list):
        raise doc.error(where, f"{path}: a contract definition needs an 'abi' list (keys: {', '.join(ARTIFACT_KEYS)})")
    gas = data.get("gas")
    if gas is not None and not is_int(gas):
        raise ConfigError(path, "gas", f"must be an integer (the deployment's gas limit), got {gas!r}")
    return data
