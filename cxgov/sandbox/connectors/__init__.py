"""The sandbox connectors: one per reference action, each a `cxgov.connectors.Connector`."""

from cxgov.sandbox.connectors.address import ChangeAddressConnector
from cxgov.sandbox.connectors.booking import BookAppointmentConnector
from cxgov.sandbox.connectors.cancellation import CancelOrderConnector
from cxgov.sandbox.connectors.refund import RefundConnector
from cxgov.sandbox.connectors.share import CUSTOMER_FIELDS, ShareCustomerDataConnector

__all__ = [
    "CUSTOMER_FIELDS",
    "BookAppointmentConnector",
    "CancelOrderConnector",
    "ChangeAddressConnector",
    "RefundConnector",
    "ShareCustomerDataConnector",
]
