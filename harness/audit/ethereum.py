"""How an audit reads an Ethereum chain: its canonical blocks since the run began, over JSON-RPC.

The chain is one history (there are no replicas to compare): every block from the height marked
when the run began to the head, in order, with each transaction's receipt status. Its
transactions are named by hash, which the run's records keep beside the run's ids (the ``ref``
column), so the audit finds every transaction a worker was told about; a confirmed one must be in
a block of the canonical chain at the height its receipt named, with status 1, and one reported
failed must not be there as accepted. A confirmed transaction needs one chain: quorum 1.
"""
from __future__ import annotations

import asyncio
from typing import Any

from harness.audit.check import ChainCommit, NodeChain
from harness.connectors.ethereum.rpc import ConnectionLost, JsonRpc, RpcError, accepted

CHAIN = "chain"
BATCH = 200
# A node that stopped answering makes the chain unreadable, not the audit endless.
ANSWER_S = 60.0


class EthereumChain:
    names_by_ref = True

    def __init__(self, url: str) -> None:
        self.url = url

    def quorum(self, class_given: str) -> int:
        return 1

    def marks(self) -> dict[str, int]:
        try:
            return {CHAIN: asyncio.run(self._call("eth_blockNumber"))}
        except (ConnectionLost, RpcError, OSError):
            return {}

    def read(self, after: int) -> list[NodeChain]:
        try:
            return [asyncio.run(self._read(after))]
        except (ConnectionLost, RpcError, OSError) as error:
            return [NodeChain(CHAIN, after, error=f"{self.url}: {error}")]

    async def _call(self, method: str) -> int:
        rpc = JsonRpc(self.url, ANSWER_S)
        await rpc.connect()
        try:
            return int(await rpc.call(method), 16)
        finally:
            await rpc.close()

    async def _read(self, after: int) -> NodeChain:
        """Blocks after+1 .. head: each transaction as a commit numbered in chain order."""
        rpc = JsonRpc(self.url, ANSWER_S)
        await rpc.connect()
        try:
            head = int(await rpc.call("eth_blockNumber"), 16)
            held: list[tuple[int, str]] = []
            for start in range(after + 1, head + 1, BATCH):
                numbers = range(start, min(start + BATCH, head + 1))
                blocks = await rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
                for number, block in zip(numbers, blocks):
                    if isinstance(block, BaseException):
                        raise block
                    if block is None:  # a chain read in part would make its transactions look lost
                        raise RpcError(-32000, f"block {number} is below the head ({head}) yet not there")
                    held += [(number, tx_hash) for tx_hash in block.get("transactions", [])]
            receipts: list[Any] = []
            for start in range(0, len(held), BATCH):
                receipts += await rpc.batch([("eth_getTransactionReceipt", [h]) for _, h in held[start:start + BATCH]])
            for (_, tx_hash), receipt in zip(held, receipts):
                if isinstance(receipt, BaseException):
                    raise receipt
                if not receipt:  # nor would a refusal that is only a receipt we could not read
                    raise RpcError(-32000, f"no receipt for {tx_hash}, which a block holds")
            # Numbered in chain order from 1: the commits of the run's span, whatever the blocks' heights.
            commits = [ChainCommit(i + 1, tx_hash, accepted(receipt), "", number)
                       for i, ((number, tx_hash), receipt) in enumerate(zip(held, receipts))]
            return NodeChain(CHAIN, 0, commits)
        finally:
            await rpc.close()
