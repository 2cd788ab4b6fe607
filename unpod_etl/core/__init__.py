"""The shared vocabulary below every layer: errors (and their exit codes), run and agent outcomes.

Imports nothing from the rest of the package, so any layer may import it.
"""
