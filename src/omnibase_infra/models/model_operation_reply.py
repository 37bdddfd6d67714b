"""The wire shapes of workflow 2: a command's payload, its reply, and the typed errors of a failed reply.

A reply's ``envelope_id`` is derived from the request's (``reply_id_for``, uuid5), so
every delivery of one command is answered with the same id, completed or failed.

Failed replies carry one ``ErrorKind``:

- ``invalid_command``, ``unknown_operation``, ``invalid_parameters``: refused before any SQL;
- ``topic_not_allowed``: a relay-topic parameter names a topic the topic ACL refuses for the
  relay (the service's own command or reply topics, or one no contract declares); no SQL ran;
- ``sql_error``: PostgreSQL rejected the statement (SQLSTATE class 22 or 23, given);
- ``timeout``: the statement ran past its statement timeout and the server cancelled it
  (SQLSTATE 57014); the server answered, so this is the command's failure, not an outage;
- ``result_not_serialisable``: the result holds a value that has no JSON form (e.g. a
  ``bytea`` that is not UTF-8);
- ``reply_too_large``: the reply is larger than a Kafka record may be;
- ``reply_rejected``: the broker refused the reply record for another reason it gives
  for a record it will never take (corrupt, invalid timestamp);
- ``inbox_write_failed``: the reply of a write could not be kept in ``onex_inbox``
  (SQLSTATE class 22, 23 or 54, given); the write was rolled back.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, JsonValue

REPLY_NAMESPACE = uuid.UUID("6f1d1c1e-7c38-4d67-9a55-0d5a3c0b9e11")
COMPLETED_EVENT_TYPE = "onex.postgres.operation.completed"
FAILED_EVENT_TYPE = "onex.postgres.operation.failed"

ErrorKind = Literal[
    "invalid_command",
    "unknown_operation",
    "invalid_parameters",
    "topic_not_allowed",
    "sql_error",
    "timeout",
    "result_not_serialisable",
    "reply_too_large",
    "reply_rejected",
    "inbox_write_failed",
]


class ModelOperationCommand(BaseModel):
    """Payload of a command envelope on ``onex.cmd.postgres.operation.v1``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str
    parameters: dict[str, JsonValue] = {}


class ModelOperationError(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ErrorKind
    message: str
    sqlstate: str | None = None


class ModelOperationReply(BaseModel):
    """Payload of a reply envelope (completed or failed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str
    status: Literal["completed", "failed"]
    row_count: int = 0
    rows: list[dict[str, JsonValue]] = []
    error: ModelOperationError | None = None


def reply_id_for(request_id: uuid.UUID) -> uuid.UUID:
    """The reply's envelope id: the same for every delivery of one request."""
    return uuid.uuid5(REPLY_NAMESPACE, str(request_id))


__all__ = [
    "COMPLETED_EVENT_TYPE",
    "FAILED_EVENT_TYPE",
    "ErrorKind",
    "ModelOperationCommand",
    "ModelOperationError",
    "ModelOperationReply",
    "reply_id_for",
]
