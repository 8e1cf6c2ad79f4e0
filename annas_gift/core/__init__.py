"""The leaf package: one error hierarchy, the shared value types and the usage/decision events.

Everything in the gateway may import from here; this package imports nothing else of ours.
"""
