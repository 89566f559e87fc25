"""CPU per transaction of the Ethereum client stacks a load-generator worker could use: the
harness's own (``harness/connectors/ethereum/``: keys.py, abi.py, rpc.py) against web3.py.

Goal (issue 20): one worker offers >= 7,450 tx/s to an instant JSON-RPC stub with generator lag
p99 <= 2 ms, so everything it does for one transaction must cost at most about 140 us of CPU (a
fifth of Hyperledger Caliper's ~0.7 ms). This script prices the pieces, each as process CPU time
(time.process_time) divided by the count, the median of 3 runs:

A. Encode a contract call and sign a legacy EIP-155 transaction (chain id 1337), no network:
   web3.py (contract.functions.f(...).build_transaction, every field given, a provider that fails
   on any RPC) + eth-account signing; eth-account alone over eth_abi.encode; the harness's
   keys.Signer over eth_abi.encode; and the harness as its connector runs it, keys.Signer over
   abi's call_data (Signer.sign also hashes the raw transaction, as the connector keeps the hash).
   The raw transactions of all four are asserted byte-identical. Also: the floors (coincurve
   signing, keccak) and decoding an eth_call uint256 result.
B. Client CPU per JSON-RPC request against a stub server this script starts as a subprocess
   (aiohttp, WebSocket and HTTP POST on one port, answering every request or batch at once with a
   fixed 32-byte hash): web3.py's AsyncWeb3 with WebSocketProvider (64 or 1 in flight) and with
   AsyncHTTPProvider; the harness's rpc.JsonRpc (aiohttp, orjson) over WebSocket and over HTTP
   POST, one request per frame (64 in flight) or batch arrays of 100 (4 in flight); for
   comparison, our own id matching over the websockets client, stdlib json and orjson; and
   one request per frame paced at 7,450/s, each sent when due, as the load generator does (then
   each frame costs its own wake-ups and system calls, so it costs more than with many in
   flight). Last, eth_getTransactionReceipt in batches of 100 answered with a real-sized receipt
   (one log, ~1.4 kB), reading status and block number: web3.py's batch_requests against
   JsonRpc.batch on its cheaper transport.
C. (unless --no-imports) the time and RSS that importing each stack adds to a fresh interpreter
   that has harness.connectors loaded, as a worker has.

The harness uses the cheapest stack for what costs most, signing and encoding: keys.py + abi.py
(coincurve over pycryptodome keccak and a few lines of RLP; its own ABI codec, as cheap as
eth_abi for numbers and cheaper for strings and decoding, without the pydantic and half a dozen
packages eth_abi brings to every client node). rpc.py carries the requests in batches over
aiohttp + orjson, one library for WebSocket and HTTP (web3.py's WebSocket provider polls for
answers, spinning the CPU while it waits). On 2026-12-07 that stack cost 44 us per transaction
(83 us sending one request per frame when due), web3.py's 1,318 us. The websockets client with our
own id matching was cheaper still: batched 0.8 us a request against JsonRpc's 1.6 (HTTP) and 2.7
(WebSocket), and 29 against 39 paced one per frame (JsonRpc's row includes the task per send that
the connector makes): a few percent of the budget, not yet worth a second transport library.
Ratios are against the first web3.py row of the same table, measured in the same run.
Measured 2026-12-07, Python 3.11.7, 2 shared cores: web3 8.0.0, eth-account 0.14.0,
eth-abi 6.0.0, eth-keys 0.8.0 (its coincurve backend), coincurve 21.0.0, pycryptodome 3.24.1,
aiohttp 3.14.5, websockets 17.4, orjson 3.13.0.

    .venv/bin/python benchmarks/ethereum_client_cost.py [--seconds S] [--no-imports]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from harness.connectors.ethereum import abi
from harness.connectors.ethereum.keys import Signer, keccak256
from harness.connectors.ethereum.rpc import JsonRpc
from harness.provision.local_copy import free_port

from _local import positive_float

BUDGET_US = 140.0
REQUESTS_PER_TX = 2  # eth_sendRawTransaction + eth_getTransactionReceipt
CHAIN_ID = 1337
KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
GAS_PRICE = 1_000_000_000
GAS = 300_000
RESERVE = ("reserve", ("uint256", "uint256"))
ADD_PROVIDER = ("addNetworkProvider", ("string", "uint8", "uint256", "uint256", "string", "uint8"))
ABI = [{"type": "function", "name": name, "stateMutability": "nonpayable", "outputs": [],
        "inputs": [{"name": f"a{k}", "type": t} for k, t in enumerate(types)]}
       for name, types in (RESERVE, ADD_PROVIDER)]
HASH = "0x" + "ab" * 32
BATCH = 100
PACED_RATE = 7_450
HARNESS_SIGNING = "harness (keys.Signer + abi.encode)"


def reserve_args(i: int) -> tuple:
    return (i, 3600)


def provider_args(i: int) -> tuple:
    return ("provider-7", 2, i, 1000, "wss://provider-7.example.org:8546/rpc", 1)


# ---------------------------------------------------------------------------------------------
# Measuring.

@dataclass
class Row:
    name: str
    runs: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    """Process CPU time over wall time, in B: 100 % means the client never let the CPU idle."""

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def cpu_per_call(work: Callable[[int], Any], seconds: float) -> float:
    """CPU us per call of ``work(n)`` (which does n calls), run for about ``seconds`` of CPU."""
    chunk = 1
    while True:  # a chunk of about 5 ms, so the clock is read rarely
        start = time.process_time()
        work(chunk)
        if time.process_time() - start >= 0.005 or chunk >= 1 << 20:
            break
        chunk *= 2
    count, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        work(chunk)
        count += chunk
    return (time.process_time() - start) / count * 1e6


def measure(name: str, work: Callable[[int], Any], seconds: float, repeats: int = 3) -> Row:
    return Row(name, [cpu_per_call(work, seconds) for _ in range(repeats)])


def section_a(seconds: float) -> tuple[list[Row], list[Row]]:
    import coincurve
    import eth_abi
    from eth_account import Account
    from eth_keys.backends import get_backend
    from web3 import Web3
    from web3.providers.base import BaseProvider

    class NoRpc(BaseProvider):
        def make_request(self, method: Any, params: Any) -> Any:
            raise AssertionError(f"build_transaction asked the node for {method}")

        def is_connected(self, show_traceback: bool = False) -> bool:
            return True

    assert type(get_backend()).__name__ == "CoinCurveECCBackend", "eth-keys would sign in pure Python"
    account = Account.from_key(KEY)
    contract = Web3(NoRpc()).eth.contract(address=CONTRACT, abi=ABI)
    to = bytes.fromhex(CONTRACT[2:])
    signer = Signer(KEY, CHAIN_ID)
    assert signer.address == account.address
    harness_abi = abi.ContractAbi(ABI)
    rows_by_fn: dict[str, list[Row]] = {}
    for (name, types), args in ((RESERVE, reserve_args), (ADD_PROVIDER, provider_args)):
        function = getattr(contract.functions, name)
        harness_function = harness_abi.function(name)
        selector = harness_function.selector
        fields = {"chainId": CHAIN_ID, "gasPrice": GAS_PRICE, "gas": GAS, "value": 0,
                  "from": account.address}

        def web3_way(i: int) -> bytes:
            tx = function(*args(i)).build_transaction({**fields, "nonce": i})
            return bytes(account.sign_transaction(tx).raw_transaction)

        def eth_account_way(i: int) -> bytes:
            tx = {"chainId": CHAIN_ID, "nonce": i, "gasPrice": GAS_PRICE, "gas": GAS, "to": CONTRACT,
                  "value": 0, "data": selector + eth_abi.encode(types, args(i))}
            return bytes(account.sign_transaction(tx).raw_transaction)

        def signer_eth_abi(i: int) -> bytes:
            return signer.sign(i, GAS_PRICE, GAS, to, 0, selector + eth_abi.encode(types, args(i)))[0]

        def harness_way(i: int) -> bytes:
            return signer.sign(i, GAS_PRICE, GAS, to, 0, harness_function.call_data(args(i)))[0]

        ways = {"web3.py build_transaction + sign": web3_way,
                "eth-account sign over eth_abi.encode": eth_account_way,
                "keys.Signer over eth_abi.encode": signer_eth_abi,
                HARNESS_SIGNING: harness_way}
        for i in (0, 1, 127, 128, 70_000, 2**40):
            raws = {label: way(i) for label, way in ways.items()}
            assert len(set(raws.values())) == 1, f"{name}: raw transactions differ for nonce {i}"
            assert Account.recover_transaction(raws[HARNESS_SIGNING]) == account.address
        rows = []
        for label, way in ways.items():
            rows.append(measure(label, lambda n, way=way: [way(i) for i in range(n)], seconds))
        rows_by_fn[name] = rows

    digest = bytes(32)
    private = coincurve.PrivateKey(KEY)
    floors = [measure("floor: coincurve sign_recoverable alone",
                      lambda n: [private.sign_recoverable(digest, hasher=None) for _ in range(n)], seconds),
              measure("floor: keys.keccak256 of 150 bytes (pycryptodome)",
                      lambda n, b=bytes(150): [keccak256(b) for _ in range(n)], seconds)]
    answer = "0x" + (123_456_789).to_bytes(32, "big").hex()
    assert eth_abi.decode(["uint256"], bytes.fromhex(answer[2:]))[0] == abi.decode(
        ["uint256"], bytes.fromhex(answer[2:]))[0] == int(answer, 16) == 123_456_789
    decode = [measure("eth_abi.decode(['uint256'], bytes.fromhex(...))",
                      lambda n: [eth_abi.decode(["uint256"], bytes.fromhex(answer[2:])) for _ in range(n)], seconds),
              measure("abi.decode(['uint256'], bytes.fromhex(...))",
                      lambda n: [abi.decode(["uint256"], bytes.fromhex(answer[2:])) for _ in range(n)], seconds),
              measure("int(result, 16)", lambda n: [int(answer, 16) for _ in range(n)], seconds)]
    return rows_by_fn[RESERVE[0]] + rows_by_fn[ADD_PROVIDER[0]], floors + decode


# ---------------------------------------------------------------------------------------------
# The stub server (a subprocess: this script with --serve PORT).

RECEIPT = {
    "blockHash": "0x" + "1c" * 32, "blockNumber": "0x1b4", "contractAddress": None,
    "cumulativeGasUsed": "0x1a2f3", "effectiveGasPrice": "0x3b9aca00", "from": "0x" + "2c" * 20,
    "gasUsed": "0xb4e1", "logsBloom": "0x" + "00" * 256, "status": "0x1", "to": CONTRACT.lower(),
    "transactionHash": HASH, "transactionIndex": "0x3", "type": "0x0",
    "logs": [{"address": CONTRACT.lower(), "topics": ["0x" + "d1" * 32, "0x" + "00" * 31 + "07"],
              "data": "0x" + "00" * 63 + "01", "blockNumber": "0x1b4", "blockHash": "0x" + "1c" * 32,
              "transactionHash": HASH, "transactionIndex": "0x3", "logIndex": "0x0", "removed": False}],
}


def serve(port: int) -> None:
    import orjson
    from aiohttp import WSMsgType, web

    def answer(request: dict) -> dict:
        result = RECEIPT if request.get("method") == "eth_getTransactionReceipt" else HASH
        return {"jsonrpc": "2.0", "id": request.get("id"), "result": result}

    def respond(body: bytes | str) -> bytes:
        message = orjson.loads(body)
        if type(message) is list:
            return orjson.dumps([answer(request) for request in message])
        return orjson.dumps(answer(message))

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            return web.Response(body=respond(await request.read()), content_type="application/json")
        ws = web.WebSocketResponse(max_msg_size=0, compress=False)
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str(respond(message.data).decode())
            elif message.type == WSMsgType.BINARY:
                await ws.send_bytes(respond(message.data))
        return ws

    app = web.Application(client_max_size=1 << 26)
    app.router.add_route("*", "/", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, handle_signals=True)


# ---------------------------------------------------------------------------------------------
# For the websockets comparison: our own JSON-RPC id matching (rpc.JsonRpc is aiohttp's).

class _Batch:
    __slots__ = ("future", "results", "left", "first")

    def __init__(self, future: asyncio.Future, size: int, first: int) -> None:
        self.future, self.results, self.left, self.first = future, [None] * size, size, first


class RpcCore:
    def __init__(self, dumps: Callable[[Any], bytes | str], loads: Callable[[Any], Any]) -> None:
        self.dumps, self.loads = dumps, loads
        self.pending: dict[int, Any] = {}
        self.next_id = 0
        self.loop = asyncio.get_running_loop()

    def one(self, method: str, params: list) -> tuple[bytes | str, asyncio.Future]:
        key = self.next_id
        self.next_id = key + 1
        future = self.pending[key] = self.loop.create_future()
        return self.dumps({"jsonrpc": "2.0", "id": key, "method": method, "params": params}), future

    def batch(self, method: str, params: list[list]) -> tuple[bytes | str, asyncio.Future]:
        first = self.next_id
        self.next_id = first + len(params)
        batch = _Batch(self.loop.create_future(), len(params), first)
        pending, requests = self.pending, []
        for key, p in enumerate(params, first):
            pending[key] = batch
            requests.append({"jsonrpc": "2.0", "id": key, "method": method, "params": p})
        return self.dumps(requests), batch.future

    def received(self, data: bytes | str) -> None:
        message = self.loads(data)
        for item in message if type(message) is list else (message,):
            target = self.pending.pop(item["id"])
            if "error" in item:
                raise RuntimeError(f"JSON-RPC error {item['error']}")
            if type(target) is _Batch:
                target.results[item["id"] - target.first] = item["result"]
                target.left -= 1
                if not target.left:
                    target.future.set_result(target.results)
            else:
                target.set_result(item["result"])


def codecs() -> dict[str, tuple[Callable, Callable]]:
    import orjson

    return {"json": (lambda o: json.dumps(o, separators=(",", ":")), json.loads),
            "orjson": (orjson.dumps, orjson.loads)}


Call = Callable[[], Awaitable[int]]  # one call; returns how many requests it carried


async def drive(call: Call, in_flight: int, seconds: float) -> tuple[float, float]:
    """CPU us per request while ``in_flight`` coroutines call ``call`` over and over, and the
    process CPU time over the wall time."""
    for _ in range(3):
        await call()
    count, stop = 0, False

    async def worker() -> None:
        nonlocal count
        while not stop:
            done = await call()  # not count += await call(): that reads count before awaiting
            count += done

    start, wall = time.process_time(), time.perf_counter()
    tasks = [asyncio.create_task(worker()) for _ in range(in_flight)]
    await asyncio.sleep(seconds)
    stop = True
    await asyncio.gather(*tasks)
    cpu = time.process_time() - start
    return cpu / count * 1e6, cpu / (time.perf_counter() - wall)


async def drive_paced(fire: Callable[[], Awaitable[asyncio.Future]], rate: float,
                      seconds: float) -> tuple[float, float]:
    """As :func:`drive`, but the requests go one per frame at ``rate`` per second, each sent when
    due as a load generator would (``fire`` sends one and returns the future of its answer)."""
    loop = asyncio.get_running_loop()
    for _ in range(3):
        await (await fire())
    futures, interval = [], 1 / rate
    start, wall = time.process_time(), time.perf_counter()
    due = loop.time()
    end = due + seconds
    while due < end:
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        futures.append(await fire())
        due += interval
    await futures[-1]  # one connection answers in order
    assert all(future.done() for future in futures)
    cpu = time.process_time() - start
    return cpu / len(futures) * 1e6, cpu / (time.perf_counter() - wall)


async def section_b(port: int, seconds: float, raw: bytes) -> list[Row]:
    from websockets.asyncio.client import connect
    from web3 import AsyncHTTPProvider, AsyncWeb3, WebSocketProvider

    ws_url, http_url = f"ws://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/"
    raw_hex = "0x" + raw.hex()
    one_params, batch_params = [raw_hex], [[raw_hex]] * BATCH
    rows: list[Row] = []

    async def repeated(name: str, open_call: Callable[[], Awaitable[tuple[Call, Callable]]],
                       in_flight: int, rate: float = 0) -> None:
        row = Row(name)
        for _ in range(3):
            call, close = await open_call()
            try:
                if rate:
                    cost, busy = await drive_paced(call, rate, seconds)
                else:
                    cost, busy = await drive(call, in_flight, seconds)
            finally:
                await close()
            row.runs.append(cost)
            row.busy.append(busy)
        rows.append(row)
        print(f"  {name:<50} {row.median:>8.1f}", file=sys.stderr, flush=True)

    async def web3_one() -> tuple[Call, Callable]:
        w3 = await AsyncWeb3(WebSocketProvider(ws_url))

        async def call() -> int:
            assert (await w3.eth.send_raw_transaction(raw)).to_0x_hex() == HASH
            return 1
        return call, w3.provider.disconnect

    async def web3_http() -> tuple[Call, Callable]:
        w3 = AsyncWeb3(AsyncHTTPProvider(http_url))

        async def call() -> int:
            assert (await w3.eth.send_raw_transaction(raw)).to_0x_hex() == HASH
            return 1
        return call, w3.provider.disconnect

    async def web3_receipts() -> tuple[Call, Callable]:
        # web3.py 8 refuses eth_sendRawTransaction inside batch_requests: receipts only
        w3 = await AsyncWeb3(WebSocketProvider(ws_url))

        async def call() -> int:
            async with w3.batch_requests() as batch:
                for _ in range(BATCH):
                    batch.add(w3.eth.get_transaction_receipt(HASH))
                receipts = await batch.async_execute()
            assert len(receipts) == BATCH and (receipts[0]["status"], receipts[0]["blockNumber"]) == (1, 0x1B4)
            return BATCH
        return call, w3.provider.disconnect

    def harness(url: str, batched: bool, method: str = "eth_sendRawTransaction", receipts: bool = False,
                paced: bool = False) -> Callable[[], Awaitable[tuple[Call, Callable]]]:
        async def open_call() -> tuple[Call, Callable]:
            rpc = JsonRpc(url)
            await rpc.connect()
            if batched and receipts:
                receipt_calls = [(method, [HASH])] * BATCH

                async def call() -> int:
                    for receipt in await rpc.batch(receipt_calls):
                        outcome = (int(receipt["status"], 16), int(receipt["blockNumber"], 16))
                    assert outcome == (1, 0x1B4)
                    return BATCH
            elif paced:
                loop = asyncio.get_running_loop()

                async def call() -> asyncio.Future:  # type: ignore[misc]
                    # as the connector sends: a task per batch (here of one), answers awaited there
                    return loop.create_task(rpc.batch([(method, one_params)]))
            elif batched:
                calls = [(method, one_params)] * BATCH

                async def call() -> int:
                    assert (await rpc.batch(calls))[0] == HASH
                    return BATCH
            else:
                async def call() -> int:
                    assert await rpc.call(method, one_params) == HASH
                    return 1
            return call, rpc.close
        return open_call

    def own(codec: str, batched: bool, paced: bool = False) -> Callable[[], Awaitable[tuple[Call, Callable]]]:
        """Id matching written here, over the websockets client."""
        dumps, loads = codecs()[codec]
        method = "eth_sendRawTransaction"

        async def open_call() -> tuple[Call, Callable]:
            core = RpcCore(dumps, loads)
            ws = await connect(ws_url, max_size=None, compression=None)
            send = ws.send

            async def read() -> None:
                async for message in ws:
                    core.received(message)
            reader = asyncio.create_task(read())

            async def close() -> None:
                await ws.close()
                await reader

            if paced:
                async def call() -> asyncio.Future:  # type: ignore[misc]
                    body, future = core.one(method, one_params)
                    await send(body)
                    return future
            elif batched:
                async def call() -> int:
                    body, future = core.batch(method, batch_params)
                    await send(body)
                    assert (await future)[0] == HASH
                    return BATCH
            else:
                async def call() -> int:
                    body, future = core.one(method, one_params)
                    await send(body)
                    assert await future == HASH
                    return 1
            return call, close
        return open_call

    # web3.py's WebSocketProvider waits for each answer polling with asyncio.sleep(0): the
    # process spins while a request waits
    await repeated("web3.py AsyncWeb3 WebSocketProvider, 64 in flight", web3_one, 64)
    await repeated("web3.py AsyncWeb3 WebSocketProvider, 1 in flight", web3_one, 1)
    await repeated("web3.py AsyncWeb3 AsyncHTTPProvider, 16 in flight", web3_http, 16)
    await repeated("harness JsonRpc, aiohttp ws, 1/frame", harness(ws_url, False), 64)
    await repeated(f"harness JsonRpc, aiohttp ws, batch {BATCH}", harness(ws_url, True), 4)
    await repeated(f"harness JsonRpc, aiohttp ws, 1/frame paced {PACED_RATE:,}/s",
                   harness(ws_url, False, paced=True), 0, PACED_RATE)
    await repeated(f"harness JsonRpc, aiohttp HTTP POST, batch {BATCH}", harness(http_url, True), 4)
    await repeated("harness JsonRpc, aiohttp HTTP POST, 1/POST", harness(http_url, False), 16)
    for batched in (False, True):
        for codec in ("json", "orjson"):
            shape = f"batch {BATCH}" if batched else "1/frame"
            await repeated(f"own ids, websockets, {shape}, {codec}", own(codec, batched), 4 if batched else 64)
    await repeated(f"own ids, websockets, 1/frame paced {PACED_RATE:,}/s, orjson",
                   own("orjson", False, paced=True), 0, PACED_RATE)
    best = min((row for row in rows if row.name.startswith("harness") and "batch" in row.name),
               key=lambda row: row.median)
    label, url = ("aiohttp HTTP POST", http_url) if "HTTP" in best.name else ("aiohttp ws", ws_url)
    await repeated(f"web3.py batch_requests {BATCH}, WebSocketProvider", web3_receipts, 1)
    await repeated(f"harness JsonRpc, {label}, batch {BATCH}",
                   harness(url, True, "eth_getTransactionReceipt", receipts=True), 4)
    return rows


def run_section_b(seconds: float, raw: bytes) -> list[Row]:
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        import socket

        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the stub server did not start")
                time.sleep(0.05)
        return asyncio.run(section_b(port, seconds, raw))
    finally:
        server.terminate()
        server.wait()


# ---------------------------------------------------------------------------------------------
# Import cost (--imports).

IMPORTS = {
    "python + harness.connectors (baseline)": "pass",
    "web3 (Web3, AsyncWeb3, WebSocketProvider)": "from web3 import Web3, AsyncWeb3, WebSocketProvider",
    "eth_account + eth_abi": "from eth_account import Account; import eth_abi",
    "eth_abi alone": "import eth_abi",
    "harness keys + abi (coincurve, pycryptodome)": "from harness.connectors.ethereum import keys, abi",
    "harness keys + abi + rpc (aiohttp, orjson)": "from harness.connectors.ethereum import keys, abi, rpc",
    "harness keys + abi + websockets + orjson": ("from harness.connectors.ethereum import keys, abi; "
                                                 "import orjson, websockets.asyncio.client"),
}


def import_costs() -> None:
    # harness.connectors is loaded before the clock starts: a worker has it whatever the chain.
    # RSS from /proc (ru_maxrss would carry this parent's peak over fork and exec)
    probe = ("import os, time, harness.connectors; t = time.perf_counter(); {}; t = time.perf_counter() - t; "
             "print(t, int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE'))")
    print(f"\nC. Importing each stack in a fresh interpreter with harness.connectors loaded (median of 3)\n"
          f"{'':<50} {'seconds':>8} {'RSS MB':>8} {'+MB':>6}")
    base = None
    for label, statement in IMPORTS.items():
        runs = [subprocess.run([sys.executable, "-c", probe.format(statement)], check=True,
                               capture_output=True, text=True).stdout.split() for _ in range(3)]
        seconds = statistics.median(float(run[0]) for run in runs)
        rss = statistics.median(int(run[1]) for run in runs) / 2**20
        base = rss if base is None else base
        print(f"{label:<50} {seconds:>8.3f} {rss:>8.1f} {rss - base:>6.1f}")


# ---------------------------------------------------------------------------------------------

def table(title: str, rows: list[Row], baseline: Row | None, unit: str) -> None:
    print(f"\n{title}")
    print(f"{'':<50} {unit:>8} {'min-max':>13} {'vs web3':>8} {'of 140us':>9} {'busy':>6}")
    for row in rows:
        ratio = f"{baseline.median / row.median:.1f}x" if baseline else ""
        spread = f"{min(row.runs):.1f}-{max(row.runs):.1f}"
        busy = f"{statistics.median(row.busy):.0%}" if row.busy else ""
        print(f"{row.name[:50]:<50} {row.median:>8.1f} {spread:>13} {ratio:>8} "
              f"{row.median / BUDGET_US:>9.0%} {busy:>6}")


def main(seconds: float, with_imports: bool) -> int:
    signing, other = section_a(seconds)
    print("A. Encode a contract call + sign a legacy EIP-155 tx, no network "
          "(CPU us per tx, median of 3)")
    table(f"{RESERVE[0]}(uint256,uint256)", signing[:4], signing[0], "us/tx")
    table(f"{ADD_PROVIDER[0]}(string,uint8,uint256,uint256,string,uint8)", signing[4:], signing[4], "us/tx")
    table("pieces, and decoding an eth_call uint256 result", other, None, "us/op")
    raw, _ = Signer(KEY, CHAIN_ID).sign(7, GAS_PRICE, GAS, bytes.fromhex(CONTRACT[2:]), 0,
                                        abi.ContractAbi(ABI).function(RESERVE[0]).call_data(reserve_args(7)))
    print("\nB. JSON-RPC client CPU per request against a stub answering at once, median of 3; "
          "busy:\n   process CPU / wall time (progress on stderr)", flush=True)
    transport = run_section_b(seconds, raw)
    sends, receipts = transport[:-2], transport[-2:]
    table(f"eth_sendRawTransaction of a {len(raw)}-byte tx, answer a 32-byte hash", sends, sends[0], "us/req")
    table("eth_getTransactionReceipt, answer a real-sized receipt (1 log), read status + block",
          receipts, receipts[0], "us/req")
    if with_imports:
        import_costs()

    harness_a = next(row for row in signing[:4] if row.name == HARNESS_SIGNING)
    harness_b = [row for row in sends if row.name.startswith("harness")]
    best_b = min(harness_b, key=lambda row: row.median)
    paced = next(row for row in harness_b if "paced" in row.name)
    total = harness_a.median + REQUESTS_PER_TX * best_b.median
    total_paced = harness_a.median + paced.median + receipts[1].median
    web3_total = signing[0].median + min(row.median for row in sends[:2]) + receipts[0].median
    print(f"\nthe harness's stack: {harness_a.name}\n  + {best_b.name}:\n"
          f"  A {harness_a.median:.1f} + {REQUESTS_PER_TX} requests x B {best_b.median:.1f} = {total:.1f} us per tx, "
          f"{total / BUDGET_US:.0%} of the {BUDGET_US:.0f} us budget\n"
          f"  paced 1/frame + receipts batched: {harness_a.median:.1f} + {paced.median:.1f} + "
          f"{receipts[1].median:.1f} = {total_paced:.1f} us ({total_paced / BUDGET_US:.0%})\n"
          f"  web3.py the same way: {signing[0].median:.0f} + {min(row.median for row in sends[:2]):.0f} + "
          f"{receipts[0].median:.0f} = {web3_total:.0f} us ({web3_total / BUDGET_US:.0%})")
    cheapest_a = min(signing[:4], key=lambda row: row.median)
    cheapest_b = min(sends, key=lambda row: row.median)
    for cheapest, ours in ((cheapest_a, harness_a), (cheapest_b, best_b)):
        if cheapest is not ours:
            print(f"  cheaper here: {cheapest.name} ({cheapest.median:.1f} vs {ours.median:.1f} us)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=positive_float, default=0.3,
                        help="CPU seconds (A) or wall seconds (B) per run (default: %(default)s)")
    parser.add_argument("--no-imports", action="store_true",
                        help="skip timing the imports of each stack (saves about 10 s)")
    arguments = parser.parse_args()
    sys.exit(main(arguments.seconds, not arguments.no_imports))
