"""EventBridge Pipes: source -> filter -> enrichment -> target, on the clock."""

from ._pipe import Pipe
from ._template import PipeContext, PipeTemplate, compile_pipe_template

__all__ = ["Pipe", "PipeContext", "PipeTemplate", "compile_pipe_template"]
