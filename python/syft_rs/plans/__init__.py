"""Plan authoring without PySyft: training Plans for MLPs and the federated-averaging Plan.

Plans are emitted as PySyft-compatible ``Plan`` protobuf (through ``_core.encode_plan``) with
``base_framework "torch"``, the torch-dialect role as ``Plan.role`` and both a torch and a
TF.js role in ``Plan.roles``, so that this package's interpreter, a PyGrid-compatible node and
syft.js clients can all run them.

Example:
    >>> from syft_rs.plans import MLP, averaging_plan
    >>> mlp = MLP((784, 392, 10), activation="relu", loss="softmax_ce")
    >>> plan = mlp.training_plan()          # (X, y, batch_size, lr, *params) -> (loss, acc, *params')
    >>> model = mlp.init_state(seed=1)      # State bytes, torch nn.Linear-style init
    >>> avg = averaging_plan(mlp.param_shapes)
"""

from __future__ import annotations

from syft_rs.plans.averaging import averaging_plan, averaging_plan_spec
from syft_rs.plans.mlp import ACTIVATIONS, LOSSES, MLP, parse_mlp

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "MLP",
    "averaging_plan",
    "averaging_plan_spec",
    "parse_mlp",
]
