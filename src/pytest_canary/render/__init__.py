"""Markdown, terminal text, the trend chart and GitHub outputs, rendered from models."""
