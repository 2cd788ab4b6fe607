"""The shared vocabulary below every layer: errors (and their exit codes).

Imports nothing from the rest of the package, so any layer may import it.
"""
