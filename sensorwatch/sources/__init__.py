"""Event sources: the pump simulator and the SKAB replayer, and producing them to Kafka."""
