"""Resilience core: circuit breaker, event queue, PostgreSQL and Kafka pools, health monitor.

Nothing is re-exported here so that importing one piece (say, the error
classifier) never pulls in the others; import from the module that owns a name:

- ``infrastructure.error_classification``: ``classify_error``, ``is_outage``, ``is_poison``
- ``infrastructure.event_bus_circuit_breaker``: ``EventBusCircuitBreaker``
- ``infrastructure.resilient_publisher``: ``ResilientPublisher`` (the seed's event queue)
- ``infrastructure.outbox_spill``: ``ProtocolOutboxSpill``, ``PostgresOutboxSpill``
- ``infrastructure.postgres_connection_manager``: ``PostgresConnectionManager``
- ``infrastructure.kafka_producer_pool``: ``KafkaProducerPool``
- ``infrastructure.infrastructure_health_monitor``: ``InfrastructureHealthMonitor``
"""
