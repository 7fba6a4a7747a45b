"""The digital twin of the district's networks (water, drainage, gas)."""
