"""The Hugging Face Hub token: `HF_TOKEN`, else huggingface_hub's own lookup (the token file that
`hf auth login` writes under `HF_HOME`, or `HF_TOKEN_PATH`). Never logged: a token found in the
file is added to the tokens every log line masks."""

from __future__ import annotations

import logging
import os

from secai.log import register_token

log = logging.getLogger("secai")


def hub_token() -> str | None:
    token = os.environ.get("HF_TOKEN") or None
    if token is None:
        try:
            from huggingface_hub import get_token
        except ImportError:  # the light core: nothing to publish with anyway
            return None
        try:
            token = get_token() or None
        except Exception as e:  # noqa: BLE001 - a broken login (e.g. OIDC exchange) must not stop a run
            log.warning("Hugging Face token lookup failed (%s); publishing as without a token", type(e).__name__)
            return None
    if token:
        register_token(token)
    return token
