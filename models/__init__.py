"""The detector: an LSTM forecaster, its residuals and thresholds per asset, MLflow's registry,
and what prediction and the operators' tools compute from its scores (events, alerts)."""
