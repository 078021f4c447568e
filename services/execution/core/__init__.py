"""The pure execution core: netting book, order state machine, risk gate. No I/O, no clock."""

from services.execution.core.book import NettingBook
from services.execution.core.decision import Decision, NewOrder
from services.execution.core.netting import NET, UNATTRIBUTED
from services.execution.core.orders import LEGAL, IllegalTransition, OrderRecord, check_transition
from services.execution.core.risk import RiskContext, RiskGate, RiskKind, RiskLimits

__all__ = [
    "LEGAL",
    "NET",
    "UNATTRIBUTED",
    "Decision",
    "IllegalTransition",
    "NettingBook",
    "NewOrder",
    "OrderRecord",
    "RiskContext",
    "RiskGate",
    "RiskKind",
    "RiskLimits",
    "check_transition",
]
