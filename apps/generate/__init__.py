"""Character-level language models that sample names and folk tunes (a GRU/LSTM over our cells)."""

from apps.generate.config import PRESETS, Config

NAME = "generate"
DESCRIPTION = "character-level language models: sample names and ABC folk tunes"

__all__ = ["Config", "DESCRIPTION", "NAME", "PRESETS"]
