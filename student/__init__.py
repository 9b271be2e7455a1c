"""Radar student: frame encoders, Performer temporal model, heads, training and inference."""
