"""Stacked sequence models built from registered layers."""
