"""The LSTM anomaly model, thresholds and evaluation (issue: the LSTM model)."""
