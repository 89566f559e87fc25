"""Connector for Ethereum nodes over JSON-RPC: transactions signed ahead, confirmed from receipts.

One connection per worker (WebSocket, or HTTP with polling). What a workload asks is a contract
function with its arguments (:class:`harness.connectors.base.Request`: ``contract`` is a name of
the network file's ``contracts``, ``operation`` the function, ``arguments`` a list in the ABI's
order or a mapping by parameter name):

- a ``view`` or ``pure`` function is asked with ``eth_call`` at the latest block (unless the
  request says ``read_only=False``), and its answer is its outcome (an error, a revert among
  them, is a rejection with the node's message);
- anything else is a transaction: signed here with the worker's account for the request's class
  of service (:mod:`keys`) at the class's gas price (:mod:`pricing`), with a nonce counted here
  from the account's pending count at the start of the round (as Diablo does), and sent raw
  (``eth_sendRawTransaction``); or, when the network file names only an unlocked ``fromAddress``,
  handed to the node to sign (``eth_sendTransaction``, as Caliper does).

Signing happens in :meth:`EthereumConnector.prepare`, which the worker calls before a transaction
is due (``lookahead`` of them ahead), so it is off the hot path. Everything due together leaves
in one JSON-RPC batch. A refused transaction leaves its nonce unused, and the chain would hold
back every later one of its account: a transfer of nothing to itself takes the nonce instead.

Confirmation: the receipts of what a batch sent are asked right after it, in one batch (a chain
that mines at once has them then); for what is not mined yet, each new block (``newHeads``, or
``eth_blockNumber`` polled over HTTP) is read for the transactions it holds
(``eth_getBlockByNumber``), and their receipts are asked in one batch. A transaction is confirmed
once ``transactionConfirmationBlocks`` blocks hold it (its own included) and, asked again then,
its receipt still names the same block; a receipt with status 0 is a rejection ("reverted").
Every outcome carries the transaction's hash where it has one (and its block height), which the
run's records keep for the audit.
"""
from __future__ import annotations

import asyncio
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine

from harness.connectors.base import CONFIRMED, ERROR, REJECTED, UNKNOWN, Connector, Outcome, OutcomeCallback, Request
from harness.connectors.ethereum.abi import ContractAbi
from harness.connectors.ethereum.keys import TRANSFER_GAS, Signer, class_key, parse_key
from harness.connectors.ethereum.network import EthereumNetwork
from harness.connectors.ethereum.pricing import gas_prices
from harness.connectors.ethereum.rpc import ConnectionLost, JsonRpc, RpcError, accepted
from harness.connectors.ethereum.setup import prepare_chain
from protocol.errors import ConfigError
from protocol.tls import TlsFiles
from vdlt.cos import CosByte, ServiceClass

# Enough to cover the gap between two wake-ups of a worker at tens of thousands of tx/s.
LOOKAHEAD = 512
MAX_BATCH = 500
POLL_S = 0.05
# Blocks remembered (number -> hash, and the transactions each held): a send's answer may come
# after the block that holds it was announced.
RECENT_BLOCKS = 256
# A node's refusal that leaves the nonce used (no gap to fill).
NONCE_USED = ("nonce too low", "already known", "known transaction", "nonce has already been used",
              "correct nonce")


@dataclass
class _Account:
    signer: Signer | None
    address: str
    next_nonce: int = 0


@dataclass
class _Prepared:
    """One request, ready to leave: its JSON-RPC call and, for a transaction, who sends it."""

    tx_id: str
    method: str
    params: list[Any]
    account: _Account | None = None
    nonce: int = -1
    """Its nonce when this connector numbers the account's transactions (-1: the node does)."""
    price: int = 0
    tx_hash: str = ""
    """Known from signing, before it leaves: an outcome names it, whatever happened to it."""
    error: str = ""
    """Why it cannot be sent (an unknown function, arguments the ABI refuses): its outcome."""


@dataclass
class _Sent:
    tx_id: str
    raw: str | None
    """The signed transaction (None: the node signed it), to send again if the node sets it aside."""
    account: str
    nonce: int
    head: int
    """The head when it was sent (it is sent again, if it waits, once a block after that)."""
    unmined: bool = False
    """Its receipt was not there right after the send: the blocks are read for it."""


@dataclass
class _Included:
    tx_hash: str
    sent: _Sent
    block: int
    block_hash: str
    accepted: bool


@dataclass
class _State:
    pending: dict[str, _Sent] = field(default_factory=dict)
    """Transaction hash -> what was sent: not yet seen in a block."""
    deep: list[_Included] = field(default_factory=list)
    """In a block, waiting for enough blocks on top of it."""
    blocks: OrderedDict[int, tuple[str, list[str]]] = field(default_factory=OrderedDict)
    """Recent block number -> (its hash, its transactions' hashes)."""
    seen: dict[str, int] = field(default_factory=dict)
    """Transaction hash -> the recent block that holds it."""
    head: int = -1
    unmined: int = 0
    """How many pending transactions wait to be mined (blocks are read while any does)."""
    resent_head: int = -1
    """The head at which each account's oldest waiting transaction was last sent again."""


class EthereumConnector(Connector):
    lookahead = LOOKAHEAD

    def __init__(self, endpoint: str, tls: TlsFiles | None = None, timeout_s: float | None = None,
                 options: dict[str, Any] | None = None) -> None:
        super().__init__(endpoint, tls, timeout_s, options)
        if "network" not in self.options:
            raise ValueError("the ethereum connector needs its network (harness run --network FILE)")
        network = self.options["network"]
        self.confirmations = int(network.get("confirmation_blocks") or 1)
        self.contracts = {name: (ContractAbi(spec["abi"]), bytes.fromhex(spec["address"][2:]), spec.get("gas", {}))
                          for name, spec in network["contracts"].items()}
        self.rpc = JsonRpc(endpoint)
        self._on_outcome: OutcomeCallback | None = None
        self._accounts: dict[int, _Account] = {}
        """Per CoS byte: who sends that class's transactions."""
        self._prices: dict[int, int] = {}
        self._prepared: dict[str, _Prepared] = {}
        self._refs: dict[str, str] = {}
        """tx id -> its hash, from signing until its outcome (:meth:`ref_of` for a timeout)."""
        self._outbox: list[_Prepared] = []
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._state = _State()
        self._fetching = False
        self._closing = False

    # -- set-up -------------------------------------------------------------------------------

    @classmethod
    def prepare_run(cls, endpoints: list[str], config: Any, mixes: list[list[int]], workers: int,
                    note: Callable[[str], None]) -> dict[str, Any]:
        if not isinstance(config, EthereumNetwork):
            raise ConfigError("--network", "", "the ethereum connector needs an Ethereum network file (Caliper's "
                                               "networkconfig.json): harness run BENCH --network FILE")
        if config.from_key is not None and config.from_seed is None and workers > 1:
            raise ConfigError(config.path, "ethereum.fromAddressPrivateKey",
                              f"one account for {workers} workers: they would send with the same nonces; give "
                              f"fromAddressSeed (an account per worker) or run one worker")
        return prepare_chain(config, mixes, workers, note)

    async def start(self, on_outcome: OutcomeCallback) -> None:
        self._on_outcome = on_outcome
        network, options = self.options["network"], self.options
        await self.rpc.connect()
        chain_id = _first(options.get("chain_id"), network.get("chain_id"))
        if chain_id is None:
            chain_id = int(await self.rpc.call("eth_chainId"), 16)
        base_price = _first(options.get("gas_price"), network.get("gas_price"))  # 0 is a price: free gas
        if base_price is None:
            base_price = int(await self.rpc.call("eth_gasPrice"), 16)
        prices = gas_prices(base_price, network.get("gas_price_factors"))
        worker = int(options.get("worker_index", 0))
        accounts: list[_Account] = []
        # The round's mix, in order: its k-th class sends from the worker's k-th account.
        for k, cos in enumerate(options.get("mix") or [CosByte(ServiceClass.BEST_EFFORT, 0).to_int()]):
            if network.get("from_seed"):
                signer = Signer(class_key(network["from_seed"], worker, k), chain_id)
                account = _Account(signer, signer.address)
            elif network.get("from_key"):
                signer = Signer(parse_key(network["from_key"]), chain_id)
                account = accounts[0] if accounts else _Account(signer, signer.address)
            else:
                account = accounts[0] if accounts else _Account(None, network["from_address"])
            if account not in accounts:
                accounts.append(account)
            self._accounts[cos] = account
            self._prices[cos] = prices[CosByte.parse(cos).service_class.slug]
        signing = [a for a in accounts if a.signer is not None]
        counts = await self.rpc.batch([("eth_getTransactionCount", [a.address, "pending"]) for a in signing])
        for account, count in zip(signing, counts):
            if isinstance(count, BaseException):
                raise count
            account.next_nonce = int(count, 16)
        if network.get("from_password") and not signing:
            await self.rpc.call("personal_unlockAccount", [network["from_address"], network["from_password"], 1000])
        self._tasks.append(asyncio.create_task(self._send_loop(), name="eth-send"))
        if self.rpc.websocket:
            await self.rpc.subscribe("newHeads", self._on_head)
        else:
            self._tasks.append(asyncio.create_task(self._poll_heads(), name="eth-poll"))

    # -- sending ------------------------------------------------------------------------------

    def prepare(self, tx_id: str, cos: int, source: str, request: Request) -> None:
        self._prepared[tx_id] = self._build(tx_id, cos, request)

    def submit(self, tx_id: str, cos: int, source: str, request: Request) -> None:
        prepared = self._prepared.pop(tx_id, None) or self._build(tx_id, cos, request)
        self._outbox.append(prepared)
        self._wakeup.set()

    def ref_of(self, tx_id: str) -> str:
        return self._refs.pop(tx_id, "")

    def _build(self, tx_id: str, cos: int, request: Request) -> _Prepared:
        contract = self.contracts.get(request.contract)
        if contract is None:
            return _Prepared(tx_id, "", [], error=f"the network file has no contract {request.contract!r}")
        abi, address, gas_limits = contract
        try:
            function = abi.function(request.operation)
            data = function.call_data(request.arguments)
        except (ValueError, TypeError, OverflowError) as error:
            return _Prepared(tx_id, "", [], error=f"{request.contract}.{request.operation}: {error}")
        account = self._accounts.get(cos) or next(iter(self._accounts.values()))
        call = {"from": account.address, "to": "0x" + address.hex(), "data": "0x" + data.hex()}
        if function.read_only if request.read_only is None else request.read_only:
            return _Prepared(tx_id, "eth_call", [call, "latest"])
        price = self._prices.get(cos) or next(iter(self._prices.values()))
        # Numbered now, in send order, whether its gas is known or estimated when it leaves.
        nonce = -1
        if account.signer is not None:
            nonce, account.next_nonce = account.next_nonce, account.next_nonce + 1
        gas = gas_limits.get(function.name)
        if gas is None:
            # Without a limit in the network file, the node estimates it when the transaction leaves.
            return _Prepared(tx_id, "estimate", [call], account, nonce, price)
        return self._signed(tx_id, account, nonce, price, gas, call)

    def _signed(self, tx_id: str, account: _Account, nonce: int, price: int, gas: int,
                call: dict[str, Any]) -> _Prepared:
        if account.signer is None:
            return _Prepared(tx_id, "eth_sendTransaction", [{**call, "gas": hex(gas), "gasPrice": hex(price)}],
                             account, price=price)
        raw, tx_hash = account.signer.sign(nonce, price, gas, bytes.fromhex(call["to"][2:]), 0,
                                           bytes.fromhex(call["data"][2:]))
        self._refs[tx_id] = "0x" + tx_hash.hex()
        return _Prepared(tx_id, "eth_sendRawTransaction", ["0x" + raw.hex()], account, nonce, price,
                         "0x" + tx_hash.hex())

    async def _send_loop(self) -> None:
        while not self._closing:
            if not self._outbox:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch, self._outbox = self._outbox[:MAX_BATCH], self._outbox[MAX_BATCH:]
            # The answers come back while the next batch leaves: many batches may be in flight.
            self._spawn(self._send(batch))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if self._closing:
            work.close()
            return
        task = asyncio.create_task(work)
        self._in_flight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # What it was doing ends in timeouts; say why, where the round's output shows it.
            print(f"ethereum connector ({self.endpoint}): {type(task.exception()).__name__}: {task.exception()}",
                  file=sys.stderr, flush=True)

    async def _send(self, batch: list[_Prepared]) -> None:
        estimates = [p for p in batch if p.method == "estimate"]
        if estimates:
            await self._estimate(estimates)
        for prepared in batch:
            if prepared.error:
                self._finish(prepared.tx_id, ERROR, prepared.error, tx_hash=prepared.tx_hash)
                if prepared.nonce >= 0 and prepared.account is not None:
                    await self._fill_gap(prepared.account, prepared.nonce, prepared.price)
        batch = [p for p in batch if not p.error]
        if not batch:
            return
        try:
            answers = await self.rpc.batch([(p.method, p.params) for p in batch])
        except ConnectionLost as error:
            answers = [error] * len(batch)
        hashes = []
        for prepared, answer in zip(batch, answers):
            if isinstance(answer, ConnectionLost):
                if answer.sent:  # perhaps received: the chain may hold it (the audit tells, by its hash)
                    self._finish(prepared.tx_id, UNKNOWN, f"the connection broke after it was sent: {answer}",
                                 tx_hash=prepared.tx_hash)
                else:
                    self._finish(prepared.tx_id, ERROR, f"not sent: {answer}", tx_hash=prepared.tx_hash)
                    if prepared.nonce >= 0 and prepared.account is not None:
                        await self._fill_gap(prepared.account, prepared.nonce, prepared.price)
            elif isinstance(answer, RpcError):
                await self._refused(prepared, answer)
            elif prepared.method == "eth_call":
                self._finish(prepared.tx_id, CONFIRMED, "")
            else:
                hashes.append(self._sent(prepared, str(answer)))
        if hashes:
            # As web3 does: a chain that mines at once (ganache's instamine, the stub) has the
            # receipts now, in one more round trip; blocks are read only for what it has not mined.
            await self._receipts(hashes, first=True)

    async def _estimate(self, batch: list[_Prepared]) -> None:
        try:
            answers = await self.rpc.batch([("eth_estimateGas", [p.params[0]]) for p in batch])
        except ConnectionLost as error:
            answers = [error] * len(batch)
        for prepared, answer in zip(batch, answers):
            if isinstance(answer, BaseException):
                prepared.error = f"gas estimate failed: {answer}"
                continue
            assert prepared.account is not None
            signed = self._signed(prepared.tx_id, prepared.account, prepared.nonce, prepared.price,
                                  int(answer, 16), prepared.params[0])
            prepared.method, prepared.params, prepared.tx_hash = signed.method, signed.params, signed.tx_hash

    async def _refused(self, prepared: _Prepared, error: RpcError) -> None:
        if prepared.method == "eth_call":
            self._finish(prepared.tx_id, REJECTED, str(error))
            return
        self._finish(prepared.tx_id, ERROR, f"the node refused it: {error}", tx_hash=prepared.tx_hash)
        if (prepared.account is not None and prepared.nonce >= 0
                and not any(words in error.message.lower() for words in NONCE_USED)):
            await self._fill_gap(prepared.account, prepared.nonce, prepared.price)

    async def _fill_gap(self, account: _Account, nonce: int, price: int) -> None:
        """A transaction that will not be mined left its nonce unused, and the chain would hold
        back every later one of the account forever: a transfer of nothing to itself takes the
        nonce instead."""
        if account.signer is None:
            return
        raw, _ = account.signer.sign(nonce, price, TRANSFER_GAS, bytes.fromhex(account.address[2:]), 0, b"")
        try:
            await self.rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()])
        except (RpcError, ConnectionLost):
            pass  # what follows it times out, and says so

    # -- confirmation -------------------------------------------------------------------------

    def _sent(self, prepared: _Prepared, tx_hash: str) -> str:
        state = self._state
        raw = prepared.params[0] if prepared.method == "eth_sendRawTransaction" else None
        account = prepared.account.address if prepared.account is not None else ""
        state.pending[tx_hash] = _Sent(prepared.tx_id, raw, account, prepared.nonce, state.head)
        self._refs[prepared.tx_id] = tx_hash
        return tx_hash

    def _on_head(self, header: dict[str, Any]) -> None:
        number = int(header["number"], 16)
        state = self._state
        if number > state.head and not self._closing:
            state.head = number
            if state.deep:
                self._spawn(self._confirm_deep())
            # Blocks are read only while something sent is not mined yet (under an instant chain,
            # never: reading them would only queue behind its sends).
            if state.unmined and not self._fetching:
                self._fetching = True
                self._spawn(self._catch_up())

    async def _poll_heads(self) -> None:
        while not self._closing:
            try:
                self._on_head({"number": await self.rpc.call("eth_blockNumber")})
            except (RpcError, ConnectionLost):
                pass
            await asyncio.sleep(POLL_S)

    async def _catch_up(self) -> None:
        """Reads every block up to the head that is not read yet (heads can come faster than this)."""
        state = self._state
        try:
            while state.unmined:
                # From the head when the oldest transaction waiting to be mined was sent (no block
                # before holds it), past what was read already, within the recent blocks.
                done = next(reversed(state.blocks)) if state.blocks else None
                start = min((s.head for s in state.pending.values() if s.unmined), default=state.head)
                start = max(start if done is None else max(start, done + 1), state.head - RECENT_BLOCKS + 1, 0)
                if start > state.head:
                    break
                numbers = list(range(start, state.head + 1))[:MAX_BATCH]
                blocks = await self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
                ours: dict[str, None] = {}
                unread = False
                for number, block in zip(numbers, blocks):
                    if isinstance(block, BaseException) or block is None:
                        unread = True  # not there yet (a lagging node): the next head tries again
                        break
                    hashes = block.get("transactions") or []
                    state.blocks[number] = (block["hash"], hashes)
                    state.seen.update(dict.fromkeys(hashes, number))
                    ours.update((h, None) for h in hashes if h in state.pending)
                # Held by a block read before its first receipt check came back empty.
                ours.update((h, None) for h, s in state.pending.items() if s.unmined and h in state.seen)
                while len(state.blocks) > RECENT_BLOCKS:
                    _, (_, hashes) = state.blocks.popitem(last=False)
                    for tx_hash in hashes:
                        state.seen.pop(tx_hash, None)
                if ours:
                    await self._receipts(list(ours))
                await self._send_stale_again()
                if unread:
                    break
        except ConnectionLost:
            pass
        finally:
            self._fetching = False

    async def _receipts(self, hashes: list[str], first: bool = False) -> None:
        """Their receipts, asked in one batch; ``first``: right after the send, where a missing
        receipt means the transaction waits in the node's pool (the blocks then tell when)."""
        state = self._state
        try:
            receipts = await self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        except ConnectionLost:
            receipts = [None] * len(hashes)
        for tx_hash, receipt in zip(hashes, receipts):
            sent = state.pending.get(tx_hash)
            if sent is None:
                continue
            if isinstance(receipt, BaseException) or not receipt or not receipt.get("blockHash"):
                if first and not sent.unmined:
                    sent.unmined = True
                    state.unmined += 1
                    if not self._fetching and not self._closing:
                        self._fetching = True
                        self._spawn(self._catch_up())
                continue
            del state.pending[tx_hash]
            if sent.unmined:
                sent.unmined = False
                state.unmined -= 1
            block = int(receipt["blockNumber"], 16)
            # A receipt can come before the head that announces its block (polled heads, a slow subscription).
            state.head = max(state.head, block)
            state.deep.append(_Included(tx_hash, sent, block, receipt["blockHash"], accepted(receipt)))
        await self._confirm_deep()

    async def _confirm_deep(self) -> None:
        """Decides what enough blocks now hold. With more than one confirmation block, each
        receipt is asked again first: one whose block was replaced (a reorganisation) waits to
        be mined again."""
        state = self._state
        ready = [i for i in state.deep if state.head - i.block + 1 >= self.confirmations]
        if not ready:
            return
        ready_set = {id(i) for i in ready}
        state.deep = [i for i in state.deep if id(i) not in ready_set]
        if self.confirmations > 1:
            try:
                again = await self.rpc.batch([("eth_getTransactionReceipt", [i.tx_hash]) for i in ready])
            except ConnectionLost:
                state.deep += ready  # the next head asks again
                return
            kept = []
            for included, receipt in zip(ready, again):
                if isinstance(receipt, dict) and receipt.get("blockHash") == included.block_hash:
                    kept.append(included)
                elif isinstance(receipt, BaseException):
                    state.deep.append(included)
                else:  # its block was replaced: it waits to be mined again, and is sent again
                    included.sent.unmined, included.sent.head = True, state.head
                    state.pending[included.tx_hash] = included.sent
                    state.unmined += 1
            ready = kept
        for included in ready:
            if included.accepted:
                self._finish(included.sent.tx_id, CONFIRMED, "", included.block, included.tx_hash)
            else:
                self._finish(included.sent.tx_id, REJECTED, f"reverted (status 0) in block {included.block}",
                             included.block, included.tx_hash)

    async def _send_stale_again(self) -> None:
        """Once a block: sends each account's oldest waiting transaction again, as signed, if a
        block came since it was sent. A node may set a transaction aside that it took and then
        hold every later nonce of the account behind it: ganache 7.9.2 with interval mining files
        one that arrives while its sender's previous transactions are being mined as a future
        nonce, and promotes it only when a transaction with the account's next nonce comes (seen
        here: the class that pays most, whose transactions all fit in each block, stalled). A node
        that has it answers "already known", which costs it little."""
        state = self._state
        if state.head <= state.resent_head:
            return
        state.resent_head = state.head
        oldest: dict[str, _Sent] = {}
        for sent in state.pending.values():
            if sent.raw is not None and sent.head < state.head:
                first = oldest.get(sent.account)
                if first is None or sent.nonce < first.nonce:
                    oldest[sent.account] = sent
        if oldest:
            await self.rpc.batch([("eth_sendRawTransaction", [sent.raw]) for sent in oldest.values()])

    def _finish(self, tx_id: str, status: str, reason: str, block: int = 0, tx_hash: str = "") -> None:
        assert self._on_outcome is not None
        self._refs.pop(tx_id, None)
        self._on_outcome(Outcome(tx_id=tx_id, status=status, reason=reason, block_height=block, ref=tx_hash))

    async def stop(self) -> None:
        self._closing = True
        self._wakeup.set()
        tasks = [*self._tasks, *self._in_flight]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.rpc.close()


def _first(*values: Any) -> Any:
    """The first value that is not None (0 counts: free gas is a price)."""
    return next((value for value in values if value is not None), None)
