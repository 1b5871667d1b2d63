"""What operators act on after a prediction run: anomaly events, alerts on Kafka, labels
and maintenance windows, threshold versions, an asset's plot, retention, and the tools
they use (the Superset dashboard, the Crate console)."""
