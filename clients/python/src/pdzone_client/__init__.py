"""pdzone-client: query a public data zone (公共数据专区) from Python and get pandas DataFrames.

Raw data never leaves the zone; what comes back is what the zone's policy releases (aggregates,
noise where the level asks for it), each answer with its receipt. See the README for a tour.
"""

from pdzone_client._version import __version__
from pdzone_client.client import Client
from pdzone_client.errors import (
    AuthenticationError,
    BudgetExhausted,
    ConnectionFailed,
    InvalidQuery,
    NotFound,
    PdzoneError,
    PendingApproval,
    PolicyRefused,
    ServerError,
    ValuesWithheld,
)

__all__ = [
    "AuthenticationError",
    "BudgetExhausted",
    "Client",
    "ConnectionFailed",
    "InvalidQuery",
    "NotFound",
    "PdzoneError",
    "PendingApproval",
    "PolicyRefused",
    "ServerError",
    "ValuesWithheld",
    "__version__",
]
