"""Anna's Gift: a self-hosted LLM gateway for academic work."""

import os

# LiteLLM fetches its model cost map from the internet at import unless told otherwise.
# Nothing may fetch at import or start-up, so this must run before any `import litellm`.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"
