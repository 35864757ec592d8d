"""What a SageMaker model's ``code/`` holds besides the user's files, so the inference image runs cloudml's serving
contract: ``cloudml_runtime/`` and ``cloudml_inference.py``, the ``SAGEMAKER_PROGRAM`` (see
``cloudml/runtime/sagemaker_shim.py`` for why). A user file of that name is refused, never overwritten."""

from __future__ import annotations

from pathlib import Path

from cloudml import packaging
from cloudml.errors import ValidationError

#: the model's SAGEMAKER_PROGRAM: cloudml's serving defaults around the user's handlers
SHIM_PROGRAM = "cloudml_inference.py"
SHIM_SOURCE = ("# Written by cloudml: the user's handlers with cloudml's serving defaults "
               "(cloudml_runtime/sagemaker_shim.py)\n"
               "from cloudml_runtime.sagemaker_shim import input_fn, model_fn, output_fn, predict_fn  # noqa: F401\n")


def add_serving_shim(code_dir: Path, *, user_code: bool) -> None:
    """Write ``cloudml_runtime/`` and the shim into ``code_dir`` (which holds the user's source when
    ``user_code``)."""
    if user_code and (code_dir / SHIM_PROGRAM).exists():
        raise ValidationError("source_dir", f"{SHIM_PROGRAM} is a name cloudml uses in the model's code/",
                              "rename that file")
    for name, data in packaging.runtime_files().items():
        (code_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (code_dir / name).write_bytes(data)
    (code_dir / SHIM_PROGRAM).write_text(SHIM_SOURCE)
