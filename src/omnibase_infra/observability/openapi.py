"""The OpenAPI 3.1 document of the health/metrics/admin endpoints.

Component schemas of the nested health parts are generated from the pydantic models that
produce the responses, so the document cannot drift from what the handlers send. The admin
route is listed only when it is enabled (an admin and a token are configured).
"""

from __future__ import annotations

from pydantic.json_schema import models_json_schema

from omnibase_infra import __version__
from omnibase_infra.json_types import JsonObject
from omnibase_infra.models.model_health import (
    ModelCircuitBreakerMetrics,
    ModelKafkaHealth,
    ModelPostgresHealth,
)

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{model}"


def _ref(name: str) -> JsonObject:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: JsonObject, description: str) -> JsonObject:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _model_schemas() -> JsonObject:
    _, top = models_json_schema(
        [
            (ModelPostgresHealth, "serialization"),
            (ModelKafkaHealth, "serialization"),
            (ModelCircuitBreakerMetrics, "serialization"),
        ],
        ref_template=_REF,
    )
    defs: JsonObject = top.get("$defs", {})
    return defs


def _own_schemas() -> JsonObject:
    status: JsonObject = {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]}
    return {
        "HealthSummary": {
            "type": "object",
            "required": ["status", "timestamp", "environment", "components"],
            "properties": {
                "status": status,
                "timestamp": {"type": "string", "format": "date-time"},
                "environment": {"type": "string"},
                "components": {
                    "type": "object",
                    "required": ["postgres", "kafka", "circuit_breaker"],
                    "properties": {
                        "postgres": {"type": "boolean"},
                        "kafka": {"type": "boolean"},
                        "circuit_breaker": {"type": "boolean"},
                    },
                },
            },
        },
        "HealthDetailed": {
            "type": "object",
            "required": [
                "overall",
                "timestamp",
                "environment",
                "postgres_metrics",
                "kafka_metrics",
                "circuit_breaker_metrics",
                "performance",
            ],
            "properties": {
                "overall": status,
                "timestamp": {"type": "string", "format": "date-time"},
                "environment": {"type": "string"},
                "postgres_metrics": {"anyOf": [_ref("ModelPostgresHealth"), {"type": "null"}]},
                "kafka_metrics": {"anyOf": [_ref("ModelKafkaHealth"), {"type": "null"}]},
                "circuit_breaker_metrics": {"type": "array", "items": _ref("ModelCircuitBreakerMetrics")},
                "performance": {
                    "type": "object",
                    "required": ["total_connections", "total_messages_processed", "error_rate_percent"],
                    "properties": {
                        "total_connections": {"type": "integer", "minimum": 0},
                        "total_messages_processed": {"type": "integer", "minimum": 0},
                        "error_rate_percent": {"type": "number", "minimum": 0, "maximum": 100},
                    },
                },
            },
        },
        "Readiness": {
            "type": "object",
            "required": ["ready", "reasons"],
            "properties": {
                "ready": {"type": "boolean"},
                "reasons": {"type": "array", "items": {"type": "string"}},
            },
        },
        "BreakerReset": {
            "type": "object",
            "required": ["breaker", "state"],
            "properties": {"breaker": {"type": "string"}, "state": {"type": "string"}},
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string"},
                "error_id": {"type": "string", "description": "look this id up in the service log"},
            },
        },
    }


def build_openapi(*, include_admin: bool) -> JsonObject:
    """The OpenAPI 3.1 document; ``include_admin`` adds the breaker-reset route and its security."""
    error = _json(_ref("Error"), "error")
    paths: JsonObject = {
        "/health": {
            "get": {
                "summary": "Overall health: 200 when healthy or degraded, 503 when unhealthy",
                "operationId": "getHealth",
                "responses": {
                    "200": _json(_ref("HealthSummary"), "healthy or degraded"),
                    "503": _json(_ref("HealthSummary"), "unhealthy, or the health check failed"),
                },
            }
        },
        "/health/detailed": {
            "get": {
                "summary": "Per-component health, breaker metrics and performance figures",
                "operationId": "getHealthDetailed",
                "responses": {
                    "200": _json(_ref("HealthDetailed"), "healthy or degraded"),
                    "503": _json(_ref("HealthDetailed"), "unhealthy, or the health check failed"),
                },
            }
        },
        "/ready": {
            "get": {
                "summary": "200 only when the database pool and the consumer are up and no breaker is open",
                "operationId": "getReady",
                "responses": {
                    "200": _json(_ref("Readiness"), "ready"),
                    "503": _json(_ref("Readiness"), "not ready; reasons say why"),
                },
            }
        },
        "/live": {
            "get": {
                "summary": "200 while the process serves requests (liveness; independent of outages)",
                "operationId": "getLive",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["alive"],
                            "properties": {"alive": {"type": "boolean", "const": True}},
                            "additionalProperties": False,
                        },
                        "alive",
                    )
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format)",
                "operationId": "getMetrics",
                "responses": {
                    "200": {
                        "description": "metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "getOpenApi",
                "responses": {"200": _json({"type": "object"}, "the OpenAPI document")},
            }
        },
    }
    components: JsonObject = {"schemas": {**_model_schemas(), **_own_schemas()}}
    if include_admin:
        paths["/admin/breakers/{name}/reset"] = {
            "post": {
                "summary": "Reset a circuit breaker to closed (operator action)",
                "operationId": "resetBreaker",
                "security": [{"adminToken": []}],
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": _json(_ref("BreakerReset"), "the breaker was reset"),
                    "401": error,
                    "404": error,
                },
            }
        }
        components["securitySchemes"] = {
            "adminToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "the value of ONEX_ADMIN_TOKEN",
            }
        }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "omnibase_infra operations API", "version": __version__},
        "paths": paths,
        "components": components,
    }


__all__ = ["OPENAPI_VERSION", "build_openapi"]
