"""The pipeline's jobs, each a thin wiring of pure transforms: ingest (Kafka -> landing),
features (landing -> ``sensor_features``), training, prediction (one-off or continuous),
the SKAB evaluation, and the run record every job writes."""
