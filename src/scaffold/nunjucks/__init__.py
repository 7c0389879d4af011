"""A Nunjucks renderer that matches Backstage's (nunjitsu, as used by scaffolder 4.2.0)."""

from scaffold.nunjucks.renderer import Renderer, RenderError, is_undefined, prepare_context

__all__ = ["RenderError", "Renderer", "is_undefined", "prepare_context"]
