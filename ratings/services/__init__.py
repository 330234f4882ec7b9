"""Writes for the ratings app: studies.py (create, launch), judging.py (presentations, votes),
gold.py (gold pairs)."""
