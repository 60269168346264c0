"""Exports of a finished run: a SavedModel that takes raw inputs, the .keras model, a model card."""
