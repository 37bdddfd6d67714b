"""Observability: tracing, structured logs, Prometheus metrics, audit trail and HTTP health endpoints.

Importing this package imports nothing heavy. Each concern lives in its own module and
is imported explicitly by the runtime's composition root:

- ``tracing``        TracingConfiguration and configure_tracing (OpenTelemetry SDK, OTLP over gRPC or HTTP)
- ``otlp_endpoint``  the traces endpoint and headers the exporter and ``env check`` both use
- ``tracing_manager`` TracingManager: the original guide's tracing calls bound to one provider
- ``propagation``    W3C trace context into and out of envelope metadata and Kafka record headers
- ``spans``          trace_kafka_operation / trace_database_operation (OTel semantic conventions)
- ``span_metrics``   a span processor that feeds span durations into InfraMetrics
- ``redaction``      the registry of secret values and DSN-password masking
- ``logging``        structured JSON logging with trace_id, span_id and correlation_id
- ``metrics``        InfraMetrics: every Prometheus metric the service exports
- ``process_metrics`` process_* / python_* collectors and omnibase_build_info
- ``audit``          AuditEvent, AuditLogger, ProtocolAuditSink, InMemoryAuditSink
- ``audit_postgres`` PostgresAuditSink writing to the ``onex_audit`` table
- ``health``         ProtocolHealthProvider, ProtocolBreakerAdmin, evaluate_readiness
- ``openapi``        the OpenAPI 3.1 document of the HTTP endpoints
- ``http_handlers``  the endpoint handlers and the error middleware
- ``http_server``    build_health_app, build_metrics_app and HealthServer (aiohttp.web)
"""
