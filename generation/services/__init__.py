"""Writes for the generation app: configs.py (prompts, adapters, configs), rendering.py (images)."""
