"""CloudFormation templates (``cdk synth``'s output included) as a ``World``.

``load_template`` creates a template's resources in a world by the AWS API
calls boto3 would make and reports what it made of each; ``mermaid_topology``
draws a template's topology without building anything.
"""

from ._intrinsics import Identity, Resolver, Unmodelled
from ._load import LoadedTemplate, load_template
from ._topology import mermaid_topology

__all__ = ["Identity", "LoadedTemplate", "Resolver", "Unmodelled", "load_template", "mermaid_topology"]
