"""cityloop — closed-loop urban governance platform for a city district."""

__version__ = "0.1.0"
