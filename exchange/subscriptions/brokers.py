"""Publishing subscription events to the deployment's broker: NATS JetStream or RabbitMQ.

A subscription made with ``"delivery": "broker"`` has its events published, instead of POSTed to
a webhook, to the broker ``TONGBAN_SUBSCRIPTION_BROKER_URL`` names. The message is the webhook's:
the same body bytes and the same Standard Webhooks headers (``webhook-id`` = the event id,
``webhook-timestamp``, ``webhook-signature`` with the subscription's secret), so a consumer
verifies it exactly as a webhook receiver does.

**NATS JetStream** (``nats://``, ``tls://``): subject ``<topic>.<subscription id>``, in the stream
that captures it (made on first use as ``TONGBAN_EVENTS``-style ``<TOPIC>`` over ``<topic>.>``,
file storage, a one-hour duplicate window, if no stream does). Each message carries
``Nats-Msg-Id`` = the event id, so a second publish of an event (a retry after a lost
acknowledgement, a worker that died before recording, a replay) within the stream's duplicate
window is dropped by the server and acknowledged as a duplicate. An event is published when the
server's PubAck for it arrived.

**RabbitMQ** (``amqp://``, ``amqps://``): the durable direct exchange ``<topic>``; routing key the
subscription id; each subscription's durable queue ``<topic>.<subscription id>`` is declared and
bound by the hub, so nothing is lost before its consumer first connects. Messages are persistent
(delivery mode 2), ``message_id`` = the event id (consumers deduplicate on it: RabbitMQ does not),
published ``mandatory`` on a channel with publisher confirms: an event is published when the broker
confirmed it; a nack or a returned (unroutable) message is a failed attempt.

**Cancelling** a broker subscription deletes what the hub made for it (:meth:`BrokerTransport.
retire`): its RabbitMQ queue, with the messages no consumer read; in JetStream, the messages of its
subject in the stream (the stream itself is shared). A broker that cannot be reached then refuses
the cancellation (``broker_unavailable``, 503): nothing changes, and the consumer asks again.

**Order**: a subscription's events are published one after another, each only after the previous
one was acknowledged, and a failure stops that subscription's batch (the rest wait, in order, for
the next attempt). **Failures** are attempt results like a webhook's (``broker_unavailable``,
``broker_timeout``, ``broker_refused``): retried with backoff and dead-lettered by the courier.

The clients are ``nats-py`` (the NATS maintainers' client, with JetStream) and ``aio-pika``
(RabbitMQ publisher confirms and returns as awaitable results); both are asyncio, so a delivery
run opens one event loop, on a thread of its own, and one connection for all its rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from exchange.subscriptions.delivery import Outgoing
from exchange.subscriptions.errors import BrokerUnavailable
from exchange.subscriptions.webhooks import AttemptResult

__all__ = [
    "DUPLICATE_WINDOW_S",
    "BrokerAddress",
    "BrokerRound",
    "BrokerTransport",
    "stream_name",
]

TIMEOUT_S = 5.0
"""Connecting, and waiting for one acknowledgement."""
DUPLICATE_WINDOW_S = 3600.0
"""The duplicate window of a stream the hub makes: longer than a claim's lease, so a worker
that died after publishing is deduplicated when the event goes out again."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where events are published: the broker's URL (it may hold a password: never shown) and
    the topic."""

    url: str
    topic: str

    @property
    def kind(self) -> str:
        return "nats" if urlsplit(self.url).scheme in {"nats", "tls"} else "amqp"

    def subject(self, subscription_id: str) -> str:
        """NATS subject, or RabbitMQ queue name, of a subscription."""
        return f"{self.topic}.{subscription_id}"

    def where(self, subscription_id: str) -> dict[str, str]:
        """What a consumer needs to find a subscription's events (no URL, no password)."""
        if self.kind == "nats":
            return {"kind": "nats", "subject": self.subject(subscription_id)}
        return {
            "kind": "amqp",
            "exchange": self.topic,
            "routing_key": subscription_id,
            "queue": self.subject(subscription_id),
        }


def stream_name(topic: str) -> str:
    """The JetStream stream the hub makes for *topic* when none captures it."""
    return topic.upper().replace(".", "_").replace("-", "_")


class _Link(Protocol):
    async def publish(self, event: Outgoing) -> None:
        """Publish *event* and wait for the broker's acknowledgement; raise on failure."""

    async def retire(self, subscription_id: str) -> None:
        """Delete what the broker keeps for a cancelled subscription."""

    async def close(self) -> None: ...


class _Refused(Exception):
    """The broker answered, and did not take the message."""


class _NatsLink:
    def __init__(self, address: BrokerAddress) -> None:
        self._address = address
        self._nc: Any = None
        self._js: Any = None
        self._streams: set[str] = set()

    async def open(self) -> None:
        import nats

        async def quiet(error: Exception) -> None:
            return None  # failures are attempt results; nothing about them goes to the log

        self._nc = await nats.connect(
            servers=[self._address.url],
            name="tongban-hub",
            connect_timeout=TIMEOUT_S,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            error_cb=quiet,
        )
        self._js = self._nc.jetstream(timeout=TIMEOUT_S)

    async def _stream_for(self, subject: str) -> None:
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        if self._address.topic in self._streams:
            return
        try:
            await self._js.find_stream_name_by_subject(subject)
        except NotFoundError:
            await self._js.add_stream(
                StreamConfig(
                    name=stream_name(self._address.topic),
                    subjects=[f"{self._address.topic}.>"],
                    storage=StorageType.FILE,
                    duplicate_window=DUPLICATE_WINDOW_S,
                )
            )
        self._streams.add(self._address.topic)

    async def publish(self, event: Outgoing) -> None:
        from nats.js.errors import APIError

        subject = self._address.subject(event.subscription_id)
        await self._stream_for(subject)
        headers = {**event.headers, "Nats-Msg-Id": event.event_id, "tongban-seq": str(event.seq)}
        try:
            await self._js.publish(subject, event.body, headers=headers)
        except APIError as exc:
            raise _Refused from exc

    async def retire(self, subscription_id: str) -> None:
        from nats.js.errors import NotFoundError

        subject = self._address.subject(subscription_id)
        try:
            stream = await self._js.find_stream_name_by_subject(subject)
        except NotFoundError:
            return  # nothing was ever published for it
        await self._js.purge_stream(stream, subject=subject)

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()


class _AmqpLink:
    def __init__(self, address: BrokerAddress) -> None:
        self._address = address
        self._connection: Any = None
        self._exchange: Any = None
        self._bound: set[str] = set()

    async def open(self) -> None:
        import aio_pika

        self._connection = await aio_pika.connect(self._address.url, timeout=TIMEOUT_S)
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._channel = channel
        self._exchange = await channel.declare_exchange(
            self._address.topic, aio_pika.ExchangeType.DIRECT, durable=True
        )

    async def _queue_for(self, subscription_id: str) -> None:
        if subscription_id in self._bound:
            return
        queue = await self._channel.declare_queue(
            self._address.subject(subscription_id), durable=True
        )
        await queue.bind(self._exchange, routing_key=subscription_id)
        self._bound.add(subscription_id)

    async def publish(self, event: Outgoing) -> None:
        import aio_pika
        from aio_pika.exceptions import DeliveryError

        await self._queue_for(event.subscription_id)
        message = aio_pika.Message(
            event.body,
            headers={**event.headers, "tongban-seq": event.seq},
            content_type="application/json",
            message_id=event.event_id,
            type="tongban.attributes.changed",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            confirmed = await self._exchange.publish(
                message, routing_key=event.subscription_id, mandatory=True, timeout=TIMEOUT_S
            )
        except DeliveryError as exc:
            raise _Refused from exc
        if not _acked(confirmed):
            raise _Refused

    async def retire(self, subscription_id: str) -> None:
        """Delete the subscription's queue (RabbitMQ answers a queue that is not there with
        delete-ok too)."""
        await self._channel.queue_delete(self._address.subject(subscription_id))
        self._bound.discard(subscription_id)

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed:
            await self._connection.close()


def _acked(confirmed: object) -> bool:
    from pamqp.commands import Basic

    return isinstance(confirmed, Basic.Ack)


def _error(exc: BaseException) -> str:
    if isinstance(exc, _Refused):
        return "broker_refused"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError) or "Timeout" in type(exc).__name__:
        return "broker_timeout"
    return "broker_unavailable"


T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


@contextmanager
def _own_loop() -> Iterator[Run[Any]]:
    """An event loop of the round's own, on a thread of its own, and a function that runs a
    coroutine on it and waits for its result. Not ``asyncio.Runner`` on the calling thread:
    that refuses to run where the thread already runs a loop (another library's, such as a
    browser driver's in the tests), whereas the delivery job may be called from any thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="broker-round", daemon=True)
    thread.start()

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    try:
        yield run
    finally:
        with contextlib.suppress(Exception):  # nothing left to finish is not a failure
            run(loop.shutdown_asyncgens())
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


class BrokerRound:
    """One delivery run's connection to the broker, on its own event loop."""

    def __init__(self, run: Run[Any], address: BrokerAddress) -> None:
        self._run = run
        self._address = address
        self._link: _NatsLink | _AmqpLink | None = None

    def send(self, batches: Sequence[Sequence[Outgoing]]) -> list[list[AttemptResult]]:
        """Each batch (one subscription's events, in order) published one by one; a batch stops
        at its first failure, whose result is its last."""
        found: list[list[AttemptResult]] = self._run(self._send(batches))
        return found

    async def _send(self, batches: Sequence[Sequence[Outgoing]]) -> list[list[AttemptResult]]:
        try:
            link = await self._connected()
        except Exception as exc:  # noqa: BLE001 - any failure to connect is an attempt result
            failed = AttemptResult(False, _error(exc))
            return [[failed] if batch else [] for batch in batches]
        results = await asyncio.gather(*(self._publish(link, batch) for batch in batches))
        if any(r and not r[-1].delivered and r[-1].error != "broker_refused" for r in results):
            await self.close()  # the connection may be broken: the next round connects again
        return list(results)

    async def _publish(
        self, link: _NatsLink | _AmqpLink, batch: Sequence[Outgoing]
    ) -> list[AttemptResult]:
        done: list[AttemptResult] = []
        for event in batch:
            try:
                await link.publish(event)
            except Exception as exc:  # noqa: BLE001 - any failure is this attempt's result
                done.append(AttemptResult(False, _error(exc)))
                return done
            done.append(AttemptResult(True))
        return done

    async def _connected(self) -> _NatsLink | _AmqpLink:
        if self._link is None:
            link = (
                _NatsLink(self._address)
                if self._address.kind == "nats"
                else _AmqpLink(self._address)
            )
            try:
                await asyncio.wait_for(link.open(), TIMEOUT_S * 2)
            except BaseException:
                await _closed_quietly(link)
                raise
            self._link = link
        return self._link

    async def close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await _closed_quietly(link)


async def _closed_quietly(link: _NatsLink | _AmqpLink) -> None:
    with contextlib.suppress(Exception):  # a broken connection is dropped either way
        await asyncio.wait_for(link.close(), TIMEOUT_S)


class BrokerTransport:
    """The courier's transport to the broker: up to :attr:`per_subscription` events of one
    subscription per round, published in order."""

    per_subscription = 64

    def __init__(self, address: BrokerAddress) -> None:
        self.address = address

    def retire(self, subscription_id: str) -> None:
        """Delete what the broker keeps for a cancelled subscription (module docstring);
        :class:`BrokerUnavailable` when the broker cannot be reached or refuses."""
        with _own_loop() as run:
            run(self._retire(subscription_id))

    async def _retire(self, subscription_id: str) -> None:
        link = _NatsLink(self.address) if self.address.kind == "nats" else _AmqpLink(self.address)
        try:
            await asyncio.wait_for(link.open(), TIMEOUT_S * 2)
            await asyncio.wait_for(link.retire(subscription_id), TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the subscription active
            raise BrokerUnavailable(
                f"the broker did not delete the subscription's messages ({_error(exc)}); "
                "the subscription is unchanged, ask again"
            ) from None
        finally:
            await _closed_quietly(link)

    @contextmanager
    def opened(self) -> Iterator[BrokerRound]:
        with _own_loop() as run:
            sender = BrokerRound(run, self.address)
            try:
                yield sender
            finally:
                run(sender.close())
