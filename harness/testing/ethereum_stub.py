"""An instant Ethereum JSON-RPC server: a stand-in chain that costs almost nothing, so that a load
generator's own ceiling (ours, or Caliper 0.6 with web3 1.3) can be measured against it.

    python -m harness.testing.ethereum_stub --host 127.0.0.1 --port 8545 [--chain-id 1337] [--idle-block-s 1]

One port serves JSON-RPC over HTTP POST and over WebSocket (a single request or a batch array per
body or text frame; the reply goes in the frame type of the request), like ganache. Nothing is
executed: a transaction is "mined" by the time its hash is returned (ganache's eager instamine),
so a client's first ``eth_getTransactionReceipt`` finds it, with status 0x1 and no logs. web3 1.3
(Caliper's) needs: text frames with the request's id and a ``result`` key always; receipts with
hex quantities and a ``blockHash``; a creation's ``contractAddress`` and its code from
``eth_getCode`` (or the deployment never ends); ``eth_call`` answers that decode as ABI data;
and new heads now and then, since it re-checks a pending receipt only on a new head.

Cheap on purpose: a raw transaction is hashed and decoded only as far as its ``to`` (its
signature is not checked); its sender is recovered only when someone asks a count
(``eth_getTransactionCount``), a transaction object, or when it creates a contract, so a receipt's
``from`` is null until then. Results are written as JSON text directly.
Hashing is pycryptodome's keccak-256 through the connector's ``harness.connectors.ethereum.keys``,
as is the RLP that sender recovery and contract addresses hash: one implementation for client and
stub (a keccak on pycryptodome's internals saved 2.5 us a transaction, not worth its upkeep).
Reading a raw transaction's fields is here: keys.py only writes RLP.
Receipts and blocks of the last ``--keep-transactions`` transactions are kept (about 0.6 KB each,
raw bytes included, for a 240-byte transaction).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import coincurve
from aiohttp import WSCloseCode, WSMsgType, web

from harness.connectors.ethereum.keys import _rlp_int, contract_address, keccak256, rlp_list
from harness.provision.ganache import rpc
from harness.provision.local_copy import free_port, stop_process
from protocol.errors import HarnessError

ROOT = Path(__file__).resolve().parents[2]

DEFAULT_CHAIN_ID = 1337
GAS_PRICE = 2_000_000_000                 # what ganache asks by default (2 gwei)
BLOCK_GAS_LIMIT = 30_000_000
GAS_USED = 21_000                         # every transaction's, as nothing runs
DEFAULT_TRANSACTION_GAS = 90_000          # ganache's, for eth_sendTransaction without a gas
BALANCE = 10**24                          # every account's: enough for any benchmark
MINER = "0x" + "00" * 20
ZERO_HASH = "0x" + "00" * 32
ZERO_BLOOM = "0x" + "00" * 256
EMPTY_TRIE_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
EMPTY_UNCLES_HASH = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
CLIENT_VERSION = "vdlt-ethereum-stub/0.1"

# What every eth_call returns: eight zero words. A static output decodes as 0 (false, the zero
# address) and a dynamic one (string, bytes, T[]) as empty, because its offset word (0) points at
# a length word that is 0 too; this holds for up to eight outputs. "0x" would make web3 throw
# ("Returned values aren't valid"), and 0x20 followed by 0 would decode a uint as 32.
CALL_RESULT = '"0x' + "00" * 32 * 8 + '"'

# Written with % rather than json.dumps: a receipt is asked for every transaction, and most of
# its text (the 256-byte bloom) never changes.
RECEIPT = ('{"transactionHash":"%s","transactionIndex":"0x%x","blockNumber":"0x%x","blockHash":"%s",'
           '"from":%s,"to":%s,"cumulativeGasUsed":"0x%x","gasUsed":"0x%x","contractAddress":%s,'
           '"logs":[],"logsBloom":"' + ZERO_BLOOM + '","status":"0x1","effectiveGasPrice":"0x%x","type":"0x%x"}')
NOTIFICATION = '{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"%s","result":%s}}'

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000

# A raw transaction's fields, by EIP-2718 type (0: legacy, EIP-155 or not).
FIELDS = {
    0: ("nonce", "gasPrice", "gas", "to", "value", "input", "v", "r", "s"),
    1: ("chainId", "nonce", "gasPrice", "gas", "to", "value", "input", "accessList", "v", "r", "s"),
    2: ("chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas", "to", "value", "input",
        "accessList", "v", "r", "s"),
}
TO_FIELD = {kind: names.index("to") for kind, names in FIELDS.items()}


class StubFailed(HarnessError):
    pass


class RpcError(Exception):
    """A JSON-RPC error answer for one request."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------------------
# RLP: reading a raw transaction's fields in place (keys.py writes what sender recovery hashes).

def _rlp_payload(data: bytes, position: int) -> tuple[int, int]:
    """Where the payload of the RLP item at ``position`` starts and ends."""
    prefix = data[position]
    if prefix < 0x80:
        return position, position + 1
    if prefix < 0xB8:
        return position + 1, position + 1 + prefix - 0x80
    if prefix < 0xC0:
        start = position + 1 + prefix - 0xB7
        return start, start + int.from_bytes(data[position + 1:start], "big")
    if prefix < 0xF8:
        return position + 1, position + 1 + prefix - 0xC0
    start = position + 1 + prefix - 0xF7
    return start, start + int.from_bytes(data[position + 1:start], "big")


def _transaction_fields(raw: bytes, count: int = -1) -> tuple[int, list[tuple[int, int]]]:
    """Where a raw transaction's RLP list starts (after its header), and where the payloads of
    its first ``count`` fields (all with -1) start and end."""
    body, end = _rlp_payload(raw, 0 if raw[0] >= 0xC0 else 1)
    if end != len(raw):
        raise ValueError("the transaction's length does not match its RLP header")
    fields = []
    position = body
    while position < end and len(fields) != count:
        start, position = _rlp_payload(raw, position)
        fields.append((start, position))
    if position > end or len(fields) < (count if count >= 0 else len(FIELDS[_kind(raw)])):
        raise ValueError("the transaction has too few fields")
    return body, fields


def _kind(raw: bytes) -> int:
    kind = raw[0] if raw[0] < 0xC0 else 0
    if kind not in FIELDS:
        raise RpcError(SERVER_ERROR, f"transaction type {kind} is not supported (0, 1 and 2 are)")
    return kind


def decode_transaction(raw: bytes) -> dict[str, bytes]:
    """Every field of a raw transaction by name (``FIELDS``), as the bytes of its payload."""
    _, fields = _transaction_fields(raw)
    return {name: raw[start:end] for name, (start, end) in zip(FIELDS[_kind(raw)], fields)}


def recover_sender(raw: bytes) -> str:
    """The address that signed a raw transaction (lower-case hex): ecrecover of the hash of what
    was signed, which is the transaction without its signature (plus, under EIP-155, the chain
    id and two empty fields)."""
    kind = _kind(raw)
    body, fields = _transaction_fields(raw)
    v = int.from_bytes(raw[fields[-3][0]:fields[-3][1]], "big")
    unsigned = raw[body:fields[-4][1]]
    if kind:
        signed, recovery_id = raw[:1] + rlp_list([unsigned]), v
    elif v in (27, 28):
        signed, recovery_id = rlp_list([unsigned]), v - 27
    else:
        signed, recovery_id = rlp_list([unsigned, _rlp_int((v - 35) // 2), b"\x80\x80"]), (v - 35) % 2
    r, s = (raw[start:end].rjust(32, b"\0") for start, end in fields[-2:])
    if recovery_id not in (0, 1):
        raise ValueError("the signature's v is not valid")
    public = coincurve.PublicKey.from_signature_and_message(r + s + bytes([recovery_id]), keccak256(signed),
                                                            hasher=None)
    return "0x" + keccak256(public.format(compressed=False)[1:])[12:].hex()


def _unhex(text: str) -> bytes:
    if not text.startswith(("0x", "0X")):
        raise ValueError(f"not 0x-prefixed hex: {text[:20]!r}")
    return bytes.fromhex(text[2:])


def _address(text: str) -> str:
    if len(text) != 42 or not text.startswith(("0x", "0X")):
        raise ValueError(f"not an address: {text!r}")
    return text.lower()


def _json_address(address: str | None) -> str:
    return "null" if address is None else '"' + address + '"'


# ---------------------------------------------------------------------------------------------
# The chain: blocks and transactions, and the methods that read and write them.

class Block:
    __slots__ = ("number", "hash", "parent_hash", "timestamp", "transactions")

    def __init__(self, number: int, block_hash: str, parent_hash: str, timestamp: int) -> None:
        self.number = number
        self.hash = block_hash
        self.parent_hash = parent_hash
        self.timestamp = timestamp
        self.transactions: list[str] = []   # hashes, in order


class Transaction:
    """What a receipt needs, and the transaction itself: a raw transaction's bytes, or for
    eth_sendTransaction its fields. ``sender`` is None until it is recovered."""

    __slots__ = ("block", "index", "to", "sender", "contract", "source", "price", "kind")

    def __init__(self, block: int, index: int, to: str | None, sender: str | None, contract: str | None,
                 source: bytes | dict[str, Any], price: int, kind: int) -> None:
        self.block = block
        self.index = index
        self.to = to
        self.sender = sender
        self.contract = contract
        self.source = source
        self.price = price
        self.kind = kind


class Chain:
    """The chain's state and its JSON-RPC methods, each taking the request's ``params`` and
    returning the result as JSON text. Runs in an asyncio loop: the transactions accepted in one
    turn of the loop go into one block, which is announced (``on_block``) at the next turn."""

    def __init__(self, chain_id: int = DEFAULT_CHAIN_ID, keep_transactions: int = 1_000_000,
                 accounts: list[str] | None = None) -> None:
        self.chain_id = chain_id
        self.keep_transactions = keep_transactions
        self.accounts = [_address(account) for account in accounts or []]
        self.on_block: Callable[[Block], None] = lambda block: None
        genesis = Block(0, "0x" + keccak256(b"vdlt-ethereum-stub genesis").hex(), ZERO_HASH, int(time.time()))
        self._blocks: dict[int, Block] = {0: genesis}      # genesis stays; blocks 1.. are evicted oldest first
        self._block_numbers: dict[str, int] = {genesis.hash: 0}
        self._head = genesis
        self._open: Block | None = None                    # the block this loop turn's transactions go into
        self._oldest = 1
        self._kept = 0                                     # transactions in sealed blocks still kept
        self._last_block_at = time.monotonic()
        self._transactions: dict[str, Transaction] = {}
        self._unrecovered: collections.deque[Transaction] = collections.deque()
        self._counts: dict[str, int] = {}                  # sender -> transactions accepted
        self._code: dict[str, str] = {}                    # contract address -> its code (the init data)
        self._interned: dict[str, str] = {}                # one string per `to` address: most share a few
        # The JSON-RPC methods are this class's methods of the same names (eth_subscribe and
        # eth_unsubscribe belong to a connection: the server answers them).
        self.methods: dict[str, Callable[[Any], str]] = {
            name: getattr(self, name) for name in dir(self) if name.startswith(("eth_", "net_", "web3_", "personal_"))}

    # Blocks -------------------------------------------------------------------------------------

    def _open_block(self) -> Block:
        parent = self._head
        number = parent.number + 1
        block_hash = "0x" + keccak256(bytes.fromhex(parent.hash[2:]) + number.to_bytes(8, "big")).hex()
        block = Block(number, block_hash, parent.hash, int(time.time()))
        self._blocks[number] = block
        self._block_numbers[block_hash] = number
        self._head = self._open = block
        self._last_block_at = time.monotonic()
        asyncio.get_running_loop().call_soon(self._seal)
        return block

    def _seal(self) -> None:
        block, self._open = self._open, None
        assert block is not None
        self._kept += len(block.transactions)
        self._evict()
        self.on_block(block)

    def _evict(self) -> None:
        """Forgets the oldest blocks and their transactions beyond ``keep_transactions`` (of either).
        A sender not recovered yet is recovered first, so that counts stay right."""
        while ((self._kept > self.keep_transactions or len(self._blocks) > self.keep_transactions)
               and self._oldest < self._head.number):
            block = self._blocks.pop(self._oldest)
            self._oldest += 1
            del self._block_numbers[block.hash]
            while self._unrecovered and self._unrecovered[0].block <= block.number:
                self._recover(self._unrecovered.popleft())
            for tx_hash in block.transactions:
                del self._transactions[tx_hash]
            self._kept -= len(block.transactions)

    def mine_empty_block(self) -> None:
        if self._open is None:
            self._open_block()

    def seconds_since_block(self) -> float:
        return time.monotonic() - self._last_block_at

    def _block_at(self, tag: str) -> Block | None:
        if tag in ("latest", "pending", "safe", "finalized"):
            return self._head
        if tag == "earliest":
            return self._blocks[0]
        return self._blocks.get(int(tag, 16))

    def header(self, block: Block) -> dict[str, Any]:
        """A block's header as newHeads sends it (ganache's fields; no base fee, as before london)."""
        return {"number": hex(block.number), "hash": block.hash, "parentHash": block.parent_hash,
                "nonce": "0x0000000000000000", "mixHash": ZERO_HASH, "sha3Uncles": EMPTY_UNCLES_HASH,
                "logsBloom": ZERO_BLOOM, "transactionsRoot": EMPTY_TRIE_ROOT, "stateRoot": EMPTY_TRIE_ROOT,
                "receiptsRoot": EMPTY_TRIE_ROOT, "miner": MINER, "difficulty": "0x0", "totalDifficulty": "0x0",
                "extraData": "0x", "gasLimit": hex(BLOCK_GAS_LIMIT),
                "gasUsed": hex(GAS_USED * len(block.transactions)), "timestamp": hex(block.timestamp)}

    def _block_json(self, block: Block | None, full: bool) -> str:
        if block is None:
            return "null"
        result = self.header(block)
        result["size"] = hex(540 + 120 * len(block.transactions))   # about what a real one weighs
        result["uncles"] = []
        result["transactions"] = ([self._transaction_object(h) for h in block.transactions] if full
                                  else block.transactions)
        return json.dumps(result)

    # Transactions -------------------------------------------------------------------------------

    def _recover(self, tx: Transaction) -> None:
        assert isinstance(tx.source, bytes)
        try:
            tx.sender = recover_sender(tx.source)
        except ValueError:
            return   # a signature that does not recover: accepted, but nobody's
        self._counts[tx.sender] = self._counts.get(tx.sender, 0) + 1

    def _recover_all(self) -> None:
        while self._unrecovered:
            self._recover(self._unrecovered.popleft())

    def _find(self, tx_hash: str) -> tuple[str, Transaction | None]:
        tx = self._transactions.get(tx_hash)
        if tx is None:
            tx_hash = tx_hash.lower()
            tx = self._transactions.get(tx_hash)
        return tx_hash, tx

    def _accept(self, tx_hash: str, to: str | None, sender: str | None, contract: str | None,
                source: bytes | dict[str, Any], price: int, kind: int) -> None:
        block = self._open or self._open_block()
        tx = Transaction(block.number, len(block.transactions), to, sender, contract, source, price, kind)
        block.transactions.append(tx_hash)
        self._transactions[tx_hash] = tx
        if sender is None:
            self._unrecovered.append(tx)
        else:
            self._counts[sender] = self._counts.get(sender, 0) + 1

    def eth_sendRawTransaction(self, params: list[Any]) -> str:
        raw = _unhex(params[0])
        tx_hash = "0x" + keccak256(raw).hex()
        if tx_hash in self._transactions:
            return '"' + tx_hash + '"'   # the same bytes again: already mined
        kind = _kind(raw)
        to_field = TO_FIELD[kind]
        _, fields = _transaction_fields(raw, to_field + 1)
        start, end = fields[to_field]
        # The effective gas price, with no base fee: the gas price, or for type 2 the tip (capped).
        price = int.from_bytes(raw[fields[1 + (kind > 0)][0]:fields[1 + (kind > 0)][1]], "big")
        if kind == 2:
            price = min(price, int.from_bytes(raw[fields[3][0]:fields[3][1]], "big"))
        if end - start == 20:
            to = "0x" + raw[start:end].hex()
            self._accept(tx_hash, self._interned.setdefault(to, to), None, None, raw, price, kind)
        elif start == end:
            # A creation: the one case that needs the sender at once, for the contract's address.
            sender = recover_sender(raw)
            fields_by_name = decode_transaction(raw)
            # keys.py checksums (EIP-55); the stub keeps every address lower-case (see _address).
            contract = contract_address(sender, int.from_bytes(fields_by_name["nonce"], "big")).lower()
            if fields_by_name["input"]:
                self._code[contract] = "0x" + fields_by_name["input"].hex()
            self._accept(tx_hash, None, sender, contract, raw, price, kind)
        else:
            raise ValueError("the transaction's `to` is neither empty nor 20 bytes")
        return '"' + tx_hash + '"'

    def eth_sendTransaction(self, params: list[Any]) -> str:
        """From an unlocked account (any is): the nonce is the sender's count, whatever is given."""
        request = params[0]
        sender = _address(request["from"])
        self._recover_all()   # the sender's raw transactions count too
        nonce = self._counts.get(sender, 0)
        to = _address(request["to"]) if request.get("to") else None
        data = _unhex(request.get("data") or request.get("input") or "0x")
        price = int(request.get("gasPrice", hex(GAS_PRICE)), 16)
        source = {"nonce": nonce, "gas": int(request.get("gas", hex(DEFAULT_TRANSACTION_GAS)), 16),
                  "value": int(request.get("value", "0x0"), 16), "input": data}
        tx_hash = "0x" + keccak256(b"eth_sendTransaction" + bytes.fromhex(sender[2:])
                                   + nonce.to_bytes(8, "big") + data).hex()
        contract = None
        if to is None:
            contract = contract_address(sender, nonce).lower()
            if data:
                self._code[contract] = "0x" + data.hex()
        self._accept(tx_hash, to, sender, contract, source, price, 0)
        return '"' + tx_hash + '"'

    def eth_getTransactionReceipt(self, params: list[Any]) -> str:
        tx_hash, tx = self._find(params[0])
        if tx is None:
            return "null"
        return RECEIPT % (tx_hash, tx.index, tx.block, self._blocks[tx.block].hash, _json_address(tx.sender),
                          _json_address(tx.to), GAS_USED * (tx.index + 1), GAS_USED,
                          _json_address(tx.contract), tx.price, tx.kind)

    def _transaction_object(self, tx_hash: str) -> dict[str, Any]:
        """A minimal transaction object: what web3's formatter reads, with the sender recovered."""
        tx = self._transactions[tx_hash]
        if tx.sender is None:
            self._recover_all()
        result: dict[str, Any] = {
            "hash": tx_hash, "type": hex(tx.kind), "blockHash": self._blocks[tx.block].hash,
            "blockNumber": hex(tx.block), "transactionIndex": hex(tx.index), "from": tx.sender, "to": tx.to,
            "gasPrice": hex(tx.price)}
        if isinstance(tx.source, dict):
            fields = {name: hex(value) if isinstance(value, int) else "0x" + value.hex()
                      for name, value in tx.source.items()}
        else:
            fields = {name: "0x" + value.hex() if name == "input" else hex(int.from_bytes(value, "big"))
                      for name, value in decode_transaction(tx.source).items()
                      if name not in ("to", "accessList", "gasPrice")}
            if tx.kind:
                fields["accessList"] = []   # not decoded: never read by a benchmark
        result.update(fields)
        return result

    def eth_getTransactionByHash(self, params: list[Any]) -> str:
        tx_hash, tx = self._find(params[0])
        return "null" if tx is None else json.dumps(self._transaction_object(tx_hash))

    def eth_getTransactionCount(self, params: list[Any]) -> str:
        """The transactions the address has had accepted, whatever the block asked ("earliest": 0)."""
        address = _address(params[0])
        if len(params) > 1 and params[1] == "earliest":
            return '"0x0"'
        self._recover_all()
        return '"0x%x"' % self._counts.get(address, 0)

    # Reads --------------------------------------------------------------------------------------

    def eth_chainId(self, params: Any = None) -> str:
        return '"0x%x"' % self.chain_id

    def net_version(self, params: Any = None) -> str:
        return '"%d"' % self.chain_id

    def net_listening(self, params: Any = None) -> str:
        return "true"

    def web3_clientVersion(self, params: Any = None) -> str:
        return '"' + CLIENT_VERSION + '"'

    def eth_syncing(self, params: Any = None) -> str:
        return "false"

    def eth_gasPrice(self, params: Any = None) -> str:
        return '"0x%x"' % GAS_PRICE

    def eth_blockNumber(self, params: Any = None) -> str:
        return '"0x%x"' % self._head.number

    def eth_getBlockByNumber(self, params: list[Any]) -> str:
        return self._block_json(self._block_at(params[0]), bool(params[1]) if len(params) > 1 else False)

    def eth_getBlockByHash(self, params: list[Any]) -> str:
        number = self._block_numbers.get(params[0].lower())
        block = None if number is None else self._blocks[number]
        return self._block_json(block, bool(params[1]) if len(params) > 1 else False)

    def eth_getBalance(self, params: list[Any]) -> str:
        _address(params[0])
        return '"0x%x"' % BALANCE

    def eth_getCode(self, params: list[Any]) -> str:
        return '"' + self._code.get(_address(params[0]), "0x") + '"'

    def eth_call(self, params: list[Any]) -> str:
        if not isinstance(params[0], dict):
            raise ValueError("eth_call takes a transaction object")
        return CALL_RESULT

    def eth_estimateGas(self, params: list[Any]) -> str:
        """The intrinsic gas (21,000, 32,000 more for a creation, 4 or 16 per data byte), and
        50,000 for running a call with data: enough for any transaction the stub takes."""
        request = params[0]
        data = _unhex(request.get("data") or request.get("input") or "0x")
        gas = GAS_USED + (0 if request.get("to") else 32_000) + sum(16 if byte else 4 for byte in data)
        return '"0x%x"' % (gas + (50_000 if data else 0))

    def eth_accounts(self, params: Any = None) -> str:
        return json.dumps(self.accounts)

    def personal_unlockAccount(self, params: Any = None) -> str:
        return "true"


# ---------------------------------------------------------------------------------------------
# The server: JSON-RPC framing over HTTP and WebSocket, and newHeads subscriptions.

class Connection:
    """One WebSocket client: its subscriptions go when it does."""

    def __init__(self, socket: web.WebSocketResponse) -> None:
        self.socket = socket
        self.subscriptions: set[str] = set()


def _error(ident: Any, code: int, message: str) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}})


class StubServer:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        chain.on_block = self._announce
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{path:.*}", self._route)
        self.app.on_shutdown.append(self._close_sockets)
        self._new_heads: dict[str, web.WebSocketResponse] = {}
        self._connections: set[Connection] = set()
        self._subscription_ids = itertools.count(1)
        self._pushes: set[asyncio.Task[None]] = set()

    # JSON-RPC -----------------------------------------------------------------------------------

    def answer(self, text: str | bytes, connection: Connection | None) -> str | None:
        """The reply to one body or frame (a request or a batch), or None for notifications only."""
        try:
            message = json.loads(text)
        except ValueError:
            return _error(None, PARSE_ERROR, "parse error")
        if type(message) is not list:
            return self._answer_one(message, connection)
        if not message:
            return _error(None, INVALID_REQUEST, "empty batch")
        replies = [reply for reply in [self._answer_one(request, connection) for request in message]
                   if reply is not None]
        return "[" + ",".join(replies) + "]" if replies else None

    def _answer_one(self, request: Any, connection: Connection | None) -> str | None:
        if type(request) is not dict or type(request.get("method")) is not str:
            return _error(request.get("id") if type(request) is dict else None, INVALID_REQUEST, "invalid request")
        method = request["method"]
        params = request.get("params", [])
        try:
            handler = self.chain.methods.get(method)
            if handler is not None:
                result = handler(params)
            elif method == "eth_subscribe":
                result = self._subscribe(params, connection)
            elif method == "eth_unsubscribe":
                result = self._unsubscribe(params, connection)
            else:
                raise RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")
        except RpcError as error:
            return _error(request["id"], error.code, str(error)) if "id" in request else None
        except (LookupError, ValueError, TypeError, AttributeError) as error:
            return _error(request["id"], INVALID_PARAMS, f"invalid params: {error}") if "id" in request else None
        except Exception as error:   # anything else is our bug: answer it rather than drop the connection
            return _error(request["id"], INTERNAL_ERROR, f"internal error: {error!r}") if "id" in request else None
        if "id" not in request:
            return None   # a notification: no answer, even to an error
        ident = request["id"]
        return ('{"jsonrpc":"2.0","id":' + (str(ident) if type(ident) is int else json.dumps(ident))
                + ',"result":' + result + "}")

    def _subscribe(self, params: list[Any], connection: Connection | None) -> str:
        if connection is None:
            raise RpcError(SERVER_ERROR, "notifications not supported: subscribe over a WebSocket")
        if params[0] not in ("newHeads", "logs"):
            raise RpcError(INVALID_PARAMS, f"subscriptions to {params[0]!r} are not supported")
        subscription = "0x%x" % next(self._subscription_ids)
        connection.subscriptions.add(subscription)
        if params[0] == "newHeads":
            self._new_heads[subscription] = connection.socket
        # A logs subscription never fires: there are no logs.
        return '"' + subscription + '"'

    def _unsubscribe(self, params: list[Any], connection: Connection | None) -> str:
        if connection is None or params[0] not in connection.subscriptions:
            return "false"
        connection.subscriptions.discard(params[0])
        self._new_heads.pop(params[0], None)
        return "true"

    def _announce(self, block: Block) -> None:
        if not self._new_heads:
            return
        header = json.dumps(self.chain.header(block))
        messages = [(socket, NOTIFICATION % (subscription, header))
                    for subscription, socket in self._new_heads.items()]
        task = asyncio.get_running_loop().create_task(self._push(messages))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    @staticmethod
    async def _push(messages: list[tuple[web.WebSocketResponse, str]]) -> None:
        for socket, text in messages:
            if not socket.closed:
                try:
                    await socket.send_str(text)   # text frames: web3's WebSocket provider drops binary ones
                except (ConnectionError, RuntimeError):
                    pass   # the client went while we wrote; its subscriptions go with its handler

    # HTTP and WebSocket --------------------------------------------------------------------------

    async def _route(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        if request.method != "POST":
            return web.Response(status=405, text="JSON-RPC: POST a request, or open a WebSocket\n")
        reply = self.answer(await request.read(), None)
        if reply is None:
            return web.Response(status=204)
        return web.Response(text=reply, content_type="application/json")

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(compress=False, max_msg_size=64 * 1024 * 1024)
        await socket.prepare(request)
        connection = Connection(socket)
        self._connections.add(connection)
        try:
            async for message in socket:
                if message.type is WSMsgType.TEXT:
                    reply = self.answer(message.data, connection)
                    if reply is not None:
                        await socket.send_str(reply)
                elif message.type is WSMsgType.BINARY:
                    reply = self.answer(message.data, connection)
                    if reply is not None:
                        await socket.send_bytes(reply.encode())
        except ConnectionError:
            pass   # the client went while we wrote
        finally:
            self._connections.discard(connection)
            for subscription in connection.subscriptions:
                self._new_heads.pop(subscription, None)
        return socket

    async def _close_sockets(self, app: web.Application) -> None:
        """At shutdown: a client still connected would otherwise hold the server open."""
        for connection in list(self._connections):
            await connection.socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    async def idle_blocks(self, interval_s: float) -> None:
        """An empty block whenever none came for ``interval_s``: web3 subscribes to newHeads only
        after its first receipt check and re-checks only on a new head."""
        while True:
            wait_s = interval_s - self.chain.seconds_since_block()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            else:
                self.chain.mine_empty_block()


async def serve(host: str, port: int, chain_id: int = DEFAULT_CHAIN_ID, idle_block_s: float = 1.0,
                keep_transactions: int = 1_000_000, accounts: list[str] | None = None) -> None:
    """Serves until SIGINT or SIGTERM; prints one "serving on" line once it listens."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = StubServer(Chain(chain_id, keep_transactions, accounts))
    # No access log: a line per request would cost more than the request.
    runner = web.AppRunner(server.app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"serving on http://{host}:{port} and ws://{host}:{port} (chain id {chain_id})", flush=True)
    idle = loop.create_task(server.idle_blocks(idle_block_s)) if idle_block_s > 0 else None
    try:
        await stop.wait()
    finally:
        if idle is not None:
            idle.cancel()
        await runner.cleanup()


# ---------------------------------------------------------------------------------------------
# For tests and benchmarks: the stub as a subprocess on a free port.

class EthereumStub:
    """The stub in its own process on 127.0.0.1, started by ``start()`` or ``with``, gone after
    ``stop()``. Its own process, so that its CPU is measured apart from the load generator's."""

    def __init__(self, *, chain_id: int = DEFAULT_CHAIN_ID, idle_block_s: float = 1.0,
                 keep_transactions: int = 1_000_000, port: int | None = None, start_timeout_s: float = 20.0) -> None:
        self.port = port or free_port()
        self.http_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.start_timeout_s = start_timeout_s
        self.command = [sys.executable, "-m", "harness.testing.ethereum_stub", "--host", "127.0.0.1",
                        "--port", str(self.port), "--chain-id", str(chain_id), "--idle-block-s", f"{idle_block_s:g}",
                        "--keep-transactions", str(keep_transactions)]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, cwd=ROOT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                raise TimeoutError(f"the Ethereum stub did not start on port {self.port} within"
                                   f" {self.start_timeout_s:g} s")
            readable, _, _ = select.select([self.process.stdout], [], [], remaining_s)
            if readable:
                line = self.process.stdout.readline()
                if line.startswith(b"serving on"):
                    return
                if not line:
                    raise StubFailed(f"the Ethereum stub exited with {self.process.wait()} while starting"
                                     " (its error is on stderr above)")

    def rpc(self, method: str, params: list[Any] | None = None, timeout_s: float = 10.0) -> Any:
        """One JSON-RPC call over HTTP: the ``result``, or RpcError for an ``error`` answer."""
        return rpc(self.http_url, method, params, timeout_s)

    def stop(self) -> None:
        """SIGTERM (it stops at once), then SIGKILL if it does not."""
        if self.process is not None:
            stop_process(self.process, 10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def __enter__(self) -> EthereumStub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.testing.ethereum_stub",
                                     description="An instant Ethereum JSON-RPC server"
                                                 " (HTTP and WebSocket on one port).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8545)
    parser.add_argument("--chain-id", type=int, default=DEFAULT_CHAIN_ID, help="default: %(default)s")
    parser.add_argument("--idle-block-s", type=float, default=1.0,
                        help="an empty block after this long without one; 0: never (default: %(default)s)")
    parser.add_argument("--keep-transactions", type=int, default=1_000_000,
                        help="receipts and blocks kept for the last N transactions (default: %(default)s)")
    parser.add_argument("--account", action="append", default=[], help="an address eth_accounts lists (repeat)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.host, args.port, args.chain_id, args.idle_block_s, args.keep_transactions, args.account))
    except OSError as error:
        print(f"ethereum_stub: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
