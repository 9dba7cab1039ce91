"""Consumers of the real brokers, written as a case system would, sharing no code with the hub:
they read a subscription's messages from NATS JetStream (a durable pull consumer) or RabbitMQ
(the subscription's queue), acknowledge them, and check each one's Standard Webhooks signature
with an HMAC computed here."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aio_pika
import nats


@dataclass(frozen=True)
class Message:
    event_id: str
    headers: dict[str, str]
    body: bytes

    @property
    def data(self) -> Any:
        return json.loads(self.body)["data"]


def verified(secret: str, message: Message) -> bool:
    """The Standard Webhooks signature over ``<id>.<timestamp>.<body>``, computed here."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    headers = message.headers
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + message.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split(" ")]
    return headers["webhook-id"] == message.event_id and any(
        hmac.compare_digest(expected, s) for s in offered
    )


T = TypeVar("T")


def apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """*coroutine* run to its end by ``asyncio.run`` on a thread of its own: the test's thread
    may already run an event loop (the browser tests' driver leaves one on a worker's main
    thread), where ``asyncio.run`` refuses to start."""
    found: dict[str, Any] = {}

    def target() -> None:
        try:
            found["result"] = asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - raised again on the test's thread
            found["error"] = exc

    thread = threading.Thread(target=target, name="test-broker-consumer")
    thread.start()
    thread.join()
    if "error" in found:
        raise found["error"]
    result: T = found["result"]
    return result


def kind_of(url: str) -> str:
    return "nats" if urlsplit(url).scheme in {"nats", "tls"} else "amqp"


def read(url: str, where: dict[str, str], *, wait_s: float = 2.0) -> list[Message]:
    """Every message waiting for the subscription *where* names, acknowledged, in order."""
    if where["kind"] == "nats":
        return apart(_read_nats(url, where["subject"], wait_s))
    return apart(_read_amqp(url, where["queue"], wait_s))


async def _read_nats(url: str, subject: str, wait_s: float) -> list[Message]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        durable = "consumer-" + subject.rsplit(".", 1)[1][-12:]
        sub = await js.pull_subscribe(subject, durable=durable)
        found: list[Message] = []
        while True:
            try:
                batch = await sub.fetch(100, timeout=wait_s)
            except TimeoutError:  # nats-py's own, or asyncio's when its first wait runs out
                return found
            for msg in batch:
                headers = dict(msg.headers or {})
                found.append(Message(headers["Nats-Msg-Id"], headers, msg.data))
                await msg.ack_sync()
    finally:
        await nc.close()


async def _read_amqp(url: str, queue_name: str, wait_s: float) -> list[Message]:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True, passive=True)
        found: list[Message] = []
        idle = 0.0
        while idle < wait_s:
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                await asyncio.sleep(0.1)
                idle += 0.1
                continue
            idle = 0.0
            headers = {k: str(v) for k, v in (message.headers or {}).items()}
            found.append(Message(str(message.message_id), headers, message.body))
            await message.ack()
        return found
    finally:
        await connection.close()


def stream_messages(url: str, stream: str) -> int:
    """How many messages the JetStream stream holds."""

    async def count() -> int:
        nc = await nats.connect(url)
        try:
            info = await nc.jetstream().stream_info(stream)
            return int(info.state.messages)
        finally:
            await nc.close()

    return apart(count())


def remove(url: str, topic: str, stream: str, queues: list[str]) -> None:
    """Delete what a test made on the shared server: its stream, or its exchange and queues."""

    async def nats_cleanup() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().delete_stream(stream)
        except Exception:  # noqa: BLE001, S110 - nothing to delete
            pass
        finally:
            await nc.close()

    async def amqp_cleanup() -> None:
        connection = await aio_pika.connect(url)
        try:
            channel = await connection.channel()
            for name in queues:
                await channel.queue_delete(name)
            await channel.exchange_delete(topic)
        finally:
            await connection.close()

    apart(nats_cleanup() if kind_of(url) == "nats" else amqp_cleanup())
