"""cxgov: governance for the actions agents take on behalf of customers."""

__version__ = "0.1.0"
