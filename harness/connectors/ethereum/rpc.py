"""A lean JSON-RPC 2.0 client for Ethereum nodes, over WebSocket or HTTP, with batches.

What a load generator needs and no more: requests matched to answers by id, batch arrays (one
frame or one POST for everything due together: the per-message cost is most of a client's CPU,
``benchmarks/ethereum_client_cost.py``), and ``eth_subscribe`` notifications on WebSocket.
aiohttp carries both transports; orjson encodes and decodes. web3.py was measured at about 40
times the CPU per request (its WebSocket provider polls for answers) and is not used.

Errors: a JSON-RPC error answer is an :class:`RpcError` (its code, message and data, as the node
gave them); a connection that breaks fails every request in flight with :class:`ConnectionLost`.
"""
from __future__ import annotations

import asyncio
import itertools
from typing import Any, Awaitable, Callable

import aiohttp
import orjson


class RpcError(Exception):
    """The node answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(code, message, data)
        self.code, self.message, self.data = code, message, data

    def __str__(self) -> str:
        return f"{self.message} (JSON-RPC error {self.code})"


class ConnectionLost(Exception):
    """The connection broke before the answer came; ``sent``: after the request left (the node
    may have acted on it) or before."""

    def __init__(self, message: str, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


CLOSE_WAIT_S = 5.0
Call = tuple[str, list[Any]]
Notification = Callable[[Any], None]


def accepted(receipt: dict[str, Any]) -> bool:
    """Whether a receipt says its transaction took effect (status 1; receipts from before
    Byzantium carry no status and took effect if mined)."""
    status = receipt.get("status")
    return status is None or int(status, 16) == 1


class JsonRpc:
    """One connection to ``url`` (``ws://``, ``wss://``, ``http://`` or ``https://``);
    ``timeout_s``: how long a request may wait for its answer (None: as long as it takes, for a
    load generator whose engine times transactions out itself) before :class:`ConnectionLost`."""

    def __init__(self, url: str, timeout_s: float | None = None) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.websocket = url.lower().startswith(("ws://", "wss://"))
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._subscriptions: dict[str, Notification] = {}
        self._early: dict[str, list[Any]] = {}
        """Notifications that came before their subscription's id was known."""
        self._lost: BaseException | None = None

    async def connect(self) -> None:
        """Raises :class:`ConnectionLost` (not sent) when the node cannot be reached."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10))
        if self.websocket:
            try:
                # No size limit: a block with thousands of transactions is one message.
                self._ws = await self._session.ws_connect(self.url, max_msg_size=0, autoping=True, heartbeat=None)
            except (aiohttp.ClientError, OSError) as error:
                await self._session.close()
                raise ConnectionLost(f"{self.url}: {error}", sent=False) from error
            self._reader = asyncio.create_task(self._read(), name="json-rpc-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._ws is not None:
            try:
                # A node that stopped answering does not answer the close either.
                await asyncio.wait_for(self._ws.close(), CLOSE_WAIT_S)
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                pass
        if self._session is not None:
            await self._session.close()
        self._fail_all(ConnectionLost("the connection was closed"))

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        """One request's result, or its error raised."""
        (answer,) = await self.batch([(method, params or [])])
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def batch(self, calls: list[Call]) -> list[Any]:
        """Every call's result or :class:`RpcError`, in order; one message each way."""
        ids = [next(self._ids) for _ in calls]
        body = orjson.dumps([{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, calls)]
                           if len(calls) > 1 else
                           {"jsonrpc": "2.0", "id": ids[0], "method": calls[0][0], "params": calls[0][1]})
        if not self.websocket:
            return await self._answered(self._post(ids, body))
        if self._lost is not None:
            raise ConnectionLost(str(self._lost), sent=False)
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in ids]
        self._waiting.update(zip(ids, futures))
        assert self._ws is not None, "connect() first"
        try:
            await self._ws.send_str(body.decode())
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as error:
            for i in ids:
                self._waiting.pop(i, None)
            raise ConnectionLost(f"{self.url}: {error}", sent=False) from error
        return list(await self._answered(asyncio.gather(*futures, return_exceptions=True)))

    async def _answered(self, answers: Awaitable[Any]) -> Any:
        if self.timeout_s is None:
            return await answers
        try:
            return await asyncio.wait_for(answers, self.timeout_s)
        except TimeoutError as error:
            raise ConnectionLost(f"{self.url}: no answer within {self.timeout_s:g} s") from error

    async def subscribe(self, kind: str, on_notification: Notification) -> str:
        """``eth_subscribe`` (WebSocket only): ``on_notification`` gets each ``result``."""
        if not self.websocket:
            raise RpcError(-32601, f"{self.url}: subscriptions need a WebSocket URL")
        subscription = str(await self.call("eth_subscribe", [kind]))
        self._subscriptions[subscription] = on_notification
        for result in self._early.pop(subscription, []):
            on_notification(result)
        return subscription

    async def _post(self, ids: list[int], body: bytes) -> list[Any]:
        assert self._session is not None, "connect() first"
        try:
            async with self._session.post(self.url, data=body, headers={"Content-Type": "application/json"}) as reply:
                payload = orjson.loads(await reply.read())
        except aiohttp.ClientConnectorError as error:
            raise ConnectionLost(f"{self.url}: {error}", sent=False) from error
        except (aiohttp.ClientError, ConnectionError, orjson.JSONDecodeError) as error:
            raise ConnectionLost(f"{self.url}: {error}") from error
        answers = {message.get("id"): message for message in (payload if isinstance(payload, list) else [payload])}
        return [_result(answers.get(i, {"error": {"code": -32603, "message": "no answer to this request"}}))
                for i in ids]

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    payload = orjson.loads(message.data)
                    for item in payload if isinstance(payload, list) else [payload]:
                        self._dispatch(item)
                elif message.type == aiohttp.WSMsgType.ERROR:
                    break
            self._fail_all(ConnectionLost(f"{self.url}: the node closed the connection"))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - whatever stopped the reading, nothing more comes
            # A subscriber's own error too: every request waiting would otherwise wait forever.
            self._fail_all(ConnectionLost(f"{self.url}: {type(error).__name__}: {error}"))

    def _dispatch(self, item: dict[str, Any]) -> None:
        if "id" in item and item["id"] is not None:
            future = self._waiting.pop(item["id"], None)
            if future is not None and not future.done():
                result = _result(item)
                if isinstance(result, RpcError):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            return
        if item.get("method") == "eth_subscription":
            params = item.get("params") or {}
            handler = self._subscriptions.get(params.get("subscription"))
            if handler is not None:
                handler(params.get("result"))
            else:
                self._early.setdefault(params.get("subscription"), []).append(params.get("result"))

    def _fail_all(self, error: BaseException) -> None:
        self._lost = self._lost or error
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(ConnectionLost(str(error)))


def _result(message: dict[str, Any]) -> Any:
    error = message.get("error")
    if error is not None:
        return RpcError(int(error.get("code", -32603)), str(error.get("message", "")), error.get("data"))
    return message.get("result")
