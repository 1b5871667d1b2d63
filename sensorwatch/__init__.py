"""sensorwatch: shared plumbing (config, Spark session, connectors, services, CLI)."""

__version__ = "0.1.0"
