"""conductor: live, steerable sequence generation with ensembles of character-level LSTMs."""

from conductor.errors import ConductorError

__all__ = ["ConductorError", "__version__"]
__version__ = "0.1.0"
