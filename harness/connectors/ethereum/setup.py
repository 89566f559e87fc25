"""A chain readied for a run, once, on the controller (Caliper's init and install).

Before the first round: every contract of the network file without an ``address`` is deployed
from its contract definition by ``contractDeployerAddress`` (signed here with its private key, or
by the node for an unlocked deployer), and each worker's senders derived from
``fromAddressSeed`` (one per class of service of the widest mix, :mod:`keys`) that hold no ether
are given some by the deployer, so they can pay for gas. What the workers need (the contracts'
addresses, the chain id and the base gas price) goes to every worker's connector; the manifest
records the deployments.
"""
from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, Callable

from harness.connectors.ethereum.keys import TRANSFER_GAS, Signer, class_key, parse_key
from harness.connectors.ethereum.network import EthereumNetwork
from harness.connectors.ethereum.rpc import ConnectionLost, JsonRpc, RpcError, accepted
from protocol.errors import HarnessError

RECEIPT_WAIT_S = 120.0
# A node that stopped answering fails the set-up, rather than holding the run before it starts.
ANSWER_S = 60.0
RECEIPT_POLL_S = 0.1
# A sender with less than this is given FUND_WEI: enough for tens of thousands of transactions
# at a few gwei, and nothing on a chain whose gas is free (gas price 0).
MIN_BALANCE_WEI = 10**19
FUND_WEI = 10**20


class SetupError(HarnessError):
    """The chain could not be readied: nothing was measured."""


def prepare_chain(network: EthereumNetwork, mixes: list[list[int]], workers: int,
                  note: Callable[[str], None]) -> dict[str, Any]:
    try:
        return asyncio.run(_prepare(network, mixes, workers, note))
    except ConnectionLost as error:
        raise SetupError(f"{network.path}: ethereum.url {network.url}: {error}") from error


async def _prepare(network: EthereumNetwork, mixes: list[list[int]], workers: int,
                   note: Callable[[str], None]) -> dict[str, Any]:
    rpc = JsonRpc(network.url, ANSWER_S)
    try:
        await rpc.connect()
    except ConnectionLost as error:
        raise SetupError(f"{network.path}: ethereum.url: cannot reach the node: {error}") from error
    try:
        chain_id = network.chain_id or int(await rpc.call("eth_chainId"), 16)
        gas_price = network.gas_price if network.gas_price is not None else int(await rpc.call("eth_gasPrice"), 16)
        deployer = _Deployer(rpc, network, chain_id, gas_price)
        contracts = dict(network.contracts)
        deployed: dict[str, dict[str, Any]] = {}
        for name, spec in network.contracts.items():
            if spec.address is not None:
                continue
            receipt = await deployer.send(None, 0, "0x" + spec.bytecode.removeprefix("0x"), spec.deploy_gas,  # type: ignore[union-attr]
                                          f"deploying contract {name!r}")
            contracts[name] = dataclasses.replace(spec, address=receipt["contractAddress"])
            deployed[name] = {"address": receipt["contractAddress"], "block": int(receipt["blockNumber"], 16),
                              "gas_used": int(receipt["gasUsed"], 16), "transaction": receipt["transactionHash"]}
            note(f"deployed {name} at {receipt['contractAddress']} (block {deployed[name]['block']}, "
                 f"{deployed[name]['gas_used']:,} gas)")
        funded = await _fund_senders(rpc, network, deployer, chain_id, mixes, workers, gas_price, note)
        ready = dataclasses.replace(network, contracts=contracts)
        return {"network": ready.to_json(), "chain_id": chain_id, "gas_price": gas_price,
                "record": {"url": network.url, "chain_id": chain_id, "gas_price": gas_price, "deployed": deployed,
                           "contracts": {n: c.address for n, c in contracts.items()}, "funded": funded}}
    except RpcError as error:
        raise SetupError(f"{network.path}: the node at {network.url} refused: {error}") from error
    finally:
        await rpc.close()


class _Deployer:
    """Sends the set-up's transactions as ``contractDeployerAddress`` and waits for their receipts."""

    def __init__(self, rpc: JsonRpc, network: EthereumNetwork, chain_id: int, gas_price: int) -> None:
        self.rpc, self.network, self.gas_price = rpc, network, gas_price
        self.signer = Signer(parse_key(network.deployer_key), chain_id) if network.deployer_key else None
        self.nonce: int | None = None

    async def send(self, to: str | None, value: int, data: str, gas: int | None, what: str) -> dict[str, Any]:
        network = self.network
        if network.deployer_address is None:
            raise SetupError(f"{network.path}: ethereum.contractDeployerAddress is needed for {what}")
        call: dict[str, Any] = {"from": network.deployer_address, "value": hex(value), "data": data}
        if to is not None:
            call["to"] = to
        if gas is None:
            gas = int(await self.rpc.call("eth_estimateGas", [call]), 16)
        if self.signer is None:
            if network.deployer_password:
                await self.rpc.call("personal_unlockAccount", [network.deployer_address, network.deployer_password, 1000])
            tx_hash = await self.rpc.call("eth_sendTransaction", [{**call, "gas": hex(gas), "gasPrice": hex(self.gas_price)}])
        else:
            if self.nonce is None:
                self.nonce = int(await self.rpc.call("eth_getTransactionCount", [self.signer.address, "pending"]), 16)
            raw, _ = self.signer.sign(self.nonce, self.gas_price, gas, bytes.fromhex(to[2:]) if to else b"", value,
                                      bytes.fromhex(data[2:]))
            self.nonce += 1
            tx_hash = await self.rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()])
        receipt = await _receipt(self.rpc, tx_hash, what)
        if not accepted(receipt):
            raise SetupError(f"{network.path}: {what} failed: the transaction {tx_hash} was reverted "
                             f"(gas used {int(receipt['gasUsed'], 16):,} of {gas:,})")
        return receipt


async def _receipt(rpc: JsonRpc, tx_hash: str, what: str) -> dict[str, Any]:
    waited = 0.0
    while waited < RECEIPT_WAIT_S:
        receipt = await rpc.call("eth_getTransactionReceipt", [tx_hash])
        if receipt and receipt.get("blockHash"):
            return receipt  # type: ignore[no-any-return]
        await asyncio.sleep(RECEIPT_POLL_S)
        waited += RECEIPT_POLL_S
    raise SetupError(f"{what}: transaction {tx_hash} was not in a block after {RECEIPT_WAIT_S:g} s")


async def _fund_senders(rpc: JsonRpc, network: EthereumNetwork, deployer: _Deployer, chain_id: int,
                        mixes: list[list[int]], workers: int, gas_price: int, note: Callable[[str], None]
                        ) -> list[str]:
    """The seed's senders that cannot pay for their gas get ether from the deployer."""
    if network.from_seed is None or gas_price == 0:
        return []
    classes = max((len(mix) for mix in mixes), default=1)
    senders = [Signer(class_key(network.from_seed, w, k), chain_id).address
               for w in range(workers) for k in range(classes)]
    balances = await rpc.batch([("eth_getBalance", [address, "latest"]) for address in senders])
    poor = [a for a, b in zip(senders, balances) if not isinstance(b, BaseException) and int(b, 16) < MIN_BALANCE_WEI]
    for address in poor:
        await deployer.send(address, FUND_WEI, "0x", TRANSFER_GAS, f"funding sender {address}")
    if poor:
        note(f"gave {len(poor)} sender account(s) {FUND_WEI / 10**18:g} ether each for gas")
    return poor
