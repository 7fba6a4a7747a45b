"""The digital twin of water supply, drainage and gas: networks, telemetry, warnings, impact plans."""
