"""Notifications: events people must hear about, sent through Apprise (email, Slack, Teams, webhooks).

The notification file (`CXGOV_NOTIFY`, `routes`) routes each person and role to Apprise URLs, with secrets
from `${ENV}` references. Activities build a `Notice` (models, free of side effects) and hand it to a
`Notifier`, which sends it once per key and target channel (the delivery ledger, in the audit archive's
database), never raises for a failed delivery, and lists who was not told (`failures`) for `gaps`.
"""

from cxgov.notify.channels import Channel
from cxgov.notify.ledger import NoticeDelivery
from cxgov.notify.models import Delivery, Event, Notice, NoticeFailure
from cxgov.notify.notifier import Notifier
from cxgov.notify.routes import NotifyError, NotifyRoutes, load_routes

__all__ = [
    "Channel",
    "Delivery",
    "Event",
    "Notice",
    "NoticeDelivery",
    "NoticeFailure",
    "Notifier",
    "NotifyError",
    "NotifyRoutes",
    "load_routes",
]
