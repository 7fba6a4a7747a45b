"""The digital twin of water supply, drainage and gas: networks, telemetry, warnings, impact plans."""
"""The digital twin of the district's networks (water, drainage, gas)."""
