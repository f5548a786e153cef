"""EventBridge Pipes: source -> filter -> enrichment -> target, on the clock."""

from ._pipe import Pipe
from ._stream import Stream, StreamRecord
from ._template import PipeContext, PipeTemplate, compile_pipe_template

__all__ = ["Pipe", "PipeContext", "PipeTemplate", "Stream", "StreamRecord", "compile_pipe_template"]
