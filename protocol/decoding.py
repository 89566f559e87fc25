"""Requests that do not decode are the caller's mistake: INVALID_ARGUMENT, in plain words.

Left to itself, gRPC answers a request whose bytes are not the method's message with UNKNOWN
and the protobuf parser's internal error text, as if the server had failed. This interceptor
decodes requests itself and answers such a request with INVALID_ARGUMENT naming the message
it expected; a stream stops at the first message that does not decode.
"""
from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Callable

import grpc
from google.protobuf.message import DecodeError


def _message_name(decode: Callable[[bytes], Any]) -> str:
    owner = getattr(decode, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return descriptor.full_name if descriptor is not None else "message"


class DecodeRequests(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        decode = handler.request_deserializer
        refusal = f"the request is not a valid {_message_name(decode)}"

        async def decoded(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
            try:
                return decode(raw)
            except DecodeError:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, refusal)

        async def decoding(raw_iterator: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for raw in raw_iterator:
                try:
                    message = decode(raw)
                except DecodeError:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, refusal)
                yield message

        if handler.unary_unary is not None:
            unary_unary = handler.unary_unary

            async def unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
                return await unary_unary(await decoded(raw, context), context)
            return handler._replace(request_deserializer=None, unary_unary=unary)
        if handler.unary_stream is not None:
            unary_stream = handler.unary_stream

            async def unary_to_stream(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                async for response in unary_stream(await decoded(raw, context), context):
                    yield response
            return handler._replace(request_deserializer=None, unary_stream=unary_to_stream)
        if handler.stream_unary is not None:
            stream_unary = handler.stream_unary

            async def stream_to_unary(raw_iterator: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> Any:
                return await stream_unary(decoding(raw_iterator, context), context)
            return handler._replace(request_deserializer=None, stream_unary=stream_to_unary)
        stream_stream = handler.stream_stream

        async def streams(raw_iterator: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for response in stream_stream(decoding(raw_iterator, context), context):
                yield response
        return handler._replace(request_deserializer=None, stream_stream=streams)
