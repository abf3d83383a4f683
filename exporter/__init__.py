"""Container-health exporter: Docker state for Prometheus, kept current by the events stream."""
