"""The web UI: Gradio Blocks, one module per tab, thin adapters over the core.

This package is the only place that imports gradio. Handlers read widgets into
a request dataclass, call the core, and map the result (or a domain error) back.
"""
