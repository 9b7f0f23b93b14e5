"""Typed, validated experiment configs and how a run composes them from defaults, presets, files
and flags."""
