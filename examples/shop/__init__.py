"""The shop: a small standalone order service standing for a company's own system of record."""
