"""Fault injection against the real servers and the real service (run by ``scripts/faults``).

A producer streams envelopes to the service while a scenario injects faults (kill -9 of
the service, PostgreSQL restarts, broker kill and freeze, an instance lost from a consumer
group, a hostile stream). Afterwards the event store is compared with what the broker
holds: every envelope in the log must be stored exactly once, at the coordinates of one
of its log records. ``scripts/faults`` starts a pair of servers of its own for this.
"""
