"""Errors of subscriptions. Messages name subscriptions, events, attributes, agreements and
networks, never a person, an ID number or a value; another system's subscription is "not
found", exactly like one that does not exist."""

from __future__ import annotations

from schemas import TongbanError

__all__ = [
    "BrokerUnavailable",
    "NotAPeerHub",
    "SubscriptionDeliveryInvalid",
    "SubscriptionEventNotFound",
    "SubscriptionEventPending",
    "SubscriptionNotFound",
    "SubscriptionNotPermitted",
    "SubscriptionPopulationInvalid",
    "SubscriptionTooWide",
    "WebhookUrlRefused",
]


class SubscriptionNotFound(TongbanError):
    code = "subscription_not_found"
    status = 404
    title = "No such subscription"


class SubscriptionNotPermitted(TongbanError):
    """The policy engine would not release an attribute asked for to this system for this
    purpose (and agreement): a subscription may carry only what a query could."""

    code = "subscription_not_permitted"
    status = 403
    title = "An attribute of the subscription may not be released to this system"


class SubscriptionTooWide(TongbanError):
    """The population is wider than the agreement allows: a division prefix needs an agreement
    with a row condition that the prefix lies inside."""

    code = "subscription_too_wide"
    status = 403
    title = "The subscription's population is wider than its agreement"


class SubscriptionPopulationInvalid(TongbanError):
    """The population is not exactly one of a list of subjects (1 to the limit) or a division
    prefix."""

    code = "invalid_subscription_population"
    status = 422
    title = "The subscription's population is not valid"


class WebhookUrlRefused(TongbanError):
    """The webhook URL is not one the hub will call: not HTTPS in prod, the hub itself, or an
    address in a loopback, link-local, private or reserved range the deployment did not allow
    (TONGBAN_WEBHOOK_ALLOWED_CIDRS)."""

    code = "webhook_url_refused"
    status = 422
    title = "The webhook URL is refused"


class SubscriptionDeliveryInvalid(TongbanError):
    """The delivery asked for does not fit: ``webhook`` without a URL, a URL with ``broker`` or
    ``pull``, or ``broker`` on a hub with no broker configured
    (TONGBAN_SUBSCRIPTION_BROKER_URL)."""

    code = "invalid_subscription_delivery"
    status = 422
    title = "The subscription's delivery is not valid"


class SubscriptionEventNotFound(TongbanError):
    code = "subscription_event_not_found"
    status = 404
    title = "No such event in this subscription"


class SubscriptionEventPending(TongbanError):
    """Only a dead-lettered or delivered event can be replayed; a pending one is still on its
    way."""

    code = "subscription_event_pending"
    status = 409
    title = "The event is still pending delivery"


class BrokerUnavailable(TongbanError):
    """The deployment's broker could not be reached (or refused) while a broker subscription
    was cancelled, so what it keeps for the subscription (its RabbitMQ queue, its JetStream
    messages) could not be deleted: nothing changed, the caller asks again."""

    code = "broker_unavailable"
    status = 503
    title = "The event broker cannot be reached"


class NotAPeerHub(TongbanError):
    """A query names an original caller (``on_behalf_of``) but its caller is not a hub this
    hub registered as a consumer peer. Raised by federation's relay and by subscriptions held
    for another hub; it lives here so that neither room imports the other both ways."""

    code = "not_a_peer_hub"
    status = 403
    title = "Only a registered peer hub may relay a query"
