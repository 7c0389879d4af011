"""The service's OpenAPI description, committed as ``openapi.json`` at the repository root:
``make openapi`` writes it, and a test fails when it differs from the code."""

import json
from pathlib import Path

from .core.config import Settings
from .main import create_app

DOCUMENT_PATH = Path("openapi.json")


def openapi_document() -> str:
    """The description of the code, whatever the environment: default settings, unvalidated,
    so that no variable or ``.env`` file changes it."""
    app = create_app(Settings.model_construct())
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    DOCUMENT_PATH.write_text(openapi_document(), encoding="utf-8")
