"""Pydantic v2 models shared by the nodes: configurations, statistics, health."""
