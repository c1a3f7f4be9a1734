"""Which Python modules loading a model imports: the Python worker daemon imports them first.

Read from the model's ``MLmodel`` file: the pyfunc loader module, and the library of each
flavor this table knows. Libraries that start threads or accelerators when imported (PyTorch,
TensorFlow) are left to the workers: a process must not fork with those running.
"""

from __future__ import annotations

from pathlib import Path

import yaml

#: Always needed by a worker that predicts.
BASE_MODULES = ("pandas", "pyarrow", "mlflow.pyfunc")

#: Flavor name in MLmodel → modules its loader imports; fork-safe ones only.
FLAVOR_MODULES: dict[str, tuple[str, ...]] = {
    "sklearn": ("sklearn",),
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "catboost": ("catboost",),
    "statsmodels": ("statsmodels.api",),
}


def preload_modules(model_dir: Path) -> tuple[str, ...]:
    """The modules to import before forking workers for the model in ``model_dir``."""
    try:
        flavors = yaml.safe_load((model_dir / "MLmodel").read_text()).get("flavors") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return BASE_MODULES
    modules = list(BASE_MODULES)
    loader = (flavors.get("python_function") or {}).get("loader_module")
    if isinstance(loader, str):
        modules.append(loader)
    for flavor, settings in flavors.items():
        modules.extend(FLAVOR_MODULES.get(flavor, ()))
        if isinstance(settings, dict) and settings.get("serialization_format") == "skops":
            modules.append("skops.io")
    return tuple(dict.fromkeys(modules))
