"""The stages a consumed record can fail at, as written in the ``stage`` header of its DLQ copy.

Defined here, in one light module, so that the modules that raise ``PoisonRecordError`` and
the command line (``dlq replay --stage``, which must not import the runtime) name the same set.
"""

STAGE_DECODE = "decode"  # the value is not UTF-8 JSON (or is empty, or holds a NUL)
STAGE_VALIDATE = "validate"  # JSON that is not an ONEX envelope
STAGE_ROUTE = "route"  # no workflow consumes the record's topic
STAGE_STORE = "store"  # the event store's INSERT refused the row (SQLSTATE class 22/23)
STAGE_OPERATION = "operation"  # a command's operation is unknown or its SQL refused the parameters

DLQ_STAGES: tuple[str, ...] = (STAGE_DECODE, STAGE_VALIDATE, STAGE_ROUTE, STAGE_STORE, STAGE_OPERATION)

__all__ = [
    "DLQ_STAGES",
    "STAGE_DECODE",
    "STAGE_OPERATION",
    "STAGE_ROUTE",
    "STAGE_STORE",
    "STAGE_VALIDATE",
]
